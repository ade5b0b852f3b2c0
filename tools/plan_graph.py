"""The offline plan's graph: what the mocked engine registered, as the plan renders it.

``show`` is the only place a value becomes text (a secret wrapper prints ``[secret]`` unopened);
``Redactor`` blanks the run's secret strings in any other text; ``Graph`` is the resource tree
with dependencies and providers; ``key_inputs`` picks what a review needs to read.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from pulumi.output import Unknown

from tools import mock_engine, plan_values

SECRET_TEXT: Final = plan_values.SECRET_TEXT
COMPUTED_TEXT: Final = plan_values.COMPUTED_TEXT

KEY_INPUTS: Final = (
    "name", "image", "ports", "networkMode", "volumes", "host", "port", "owner", "login",
    "superuser", "length", "create", "update", "delete", "triggers", "url", "email", "username",
    "directory", "content_hash", "contentHash", "variables", "envs",
)
"""Inputs worth reading in a review, in display order (others show only when they hold a secret)."""
FALLBACK_INPUTS: Final = 6
"""A resource with none of ``KEY_INPUTS`` shows up to this many of its scalar inputs."""
MIN_SCRUBBED_LENGTH: Final = 8
"""Secret strings shorter than this are not blanked in free text (they would blank common words);
the structured output never shows any secret, whatever its length."""


# --- rendering values: the only place a value becomes text ---------------------------------------


def show(value: Any) -> str:
    """A compact, deterministic rendering; secret wrappers become ``[secret]`` unopened."""
    if mock_engine.is_secret_value(value):
        return SECRET_TEXT
    if isinstance(value, Unknown) or value is None:
        return COMPUTED_TEXT
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, Mapping):
        inner = ", ".join(f"{key}: {show(item)}" for key, item in sorted(value.items()))
        return "{" + inner + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(show(item) for item in value) + "]"
    return f"<{type(value).__name__}>"


def holds_secret(value: Any) -> bool:
    if mock_engine.is_secret_value(value):
        return True
    if isinstance(value, Mapping):
        return any(holds_secret(item) for item in value.values())
    if isinstance(value, (list, tuple)):
        return any(holds_secret(item) for item in value)
    return False


def secret_strings(value: Any) -> Iterator[str]:
    """Every string that sits inside a secret wrapper somewhere in ``value``."""
    return plan_values.secret_strings(value, env_entries=True)


@dataclass
class Redactor:
    """Blanks known secret strings in free text the tool did not render itself."""

    secrets: set[str] = field(default_factory=set)

    @classmethod
    def for_config(cls, config: Mapping[str, str], secret_keys: Iterable[str]) -> Redactor:
        return cls({config[key] for key in secret_keys if key in config})

    def learn(self, atoms: Iterable[str]) -> None:
        """Add the run's secret strings (``plan_values.secret_atoms``: not those the graph also
        shows in plain text, nor whole ``NAME=value`` entries of an environment, whose names are
        shown and whose secret parts are atoms themselves)."""
        self.secrets |= set(atoms)

    def scrub(self, text: str) -> str:
        for secret in sorted(self.secrets, key=len, reverse=True):
            if len(secret) >= MIN_SCRUBBED_LENGTH:
                text = text.replace(secret, SECRET_TEXT)
        return text


# --- the graph as the engine saw it --------------------------------------------------------------


def _provider_urn(reference: str) -> str:
    """A provider reference is ``<urn>::<id>``; the URN itself contains ``::``."""
    return reference.rsplit("::", 1)[0] if reference else ""


def short_type(token: str) -> str:
    """``docker:index/container:Container`` -> ``docker:Container``."""
    parts = token.split(":")
    if token.startswith("pulumi:providers:"):
        return f"provider:{parts[-1]}"
    return f"{parts[0]}:{parts[-1]}" if len(parts) > 1 else token


@dataclass(frozen=True)
class Node:
    urn: str
    type: str
    name: str
    registration: mock_engine.Registration | None
    """None for the stack itself (the mocked engine does not record it)."""


@dataclass
class Graph:
    stack: str
    preview: bool
    nodes: dict[str, Node]
    children: dict[str, list[str]]
    dependencies: dict[str, list[str]]
    """urn -> urns it depends on (explicit and through inputs), sorted by name."""
    providers: dict[str, str]
    """urn of a custom resource -> urn of its explicit provider."""
    roots: list[str]
    secret_atoms: frozenset[str] = frozenset()
    """Every secret string of the run (``plan_values.secret_atoms``): an environment variable
    whose value holds one is shown as ``NAME=[secret]``."""

    @classmethod
    def from_run(cls, run: mock_engine.EngineRun, also: Iterable[str] = ()) -> Graph:
        """``also``: secret strings the run alone does not reveal (``plan_values.secret_atoms``)."""
        nodes = {
            urn: Node(urn, reg.type, reg.name, reg) for urn, reg in run.registrations.items()
        }
        for reg in run.registrations.values():
            # Top-level resources hang off the stack, which the mocked engine does not record.
            if reg.parent and reg.parent not in nodes:
                nodes[reg.parent] = Node(reg.parent, "pulumi:pulumi:Stack", reg.parent.split("::")[-1], None)

        def by_name(urns: Iterable[str]) -> list[str]:
            return sorted(set(urns), key=lambda u: (not nodes[u].type.startswith("pulumi:providers:"), nodes[u].name, u))

        children: dict[str, list[str]] = {}
        for reg in run.registrations.values():
            if reg.parent:
                children.setdefault(reg.parent, []).append(reg.urn)
        children = {parent: by_name(kids) for parent, kids in children.items()}
        dependencies = {
            reg.urn: by_name(d for d in reg.dependencies if d in nodes)
            for reg in run.registrations.values()
            if reg.dependencies
        }
        providers = {
            reg.urn: _provider_urn(reg.provider)
            for reg in run.registrations.values()
            if reg.provider and _provider_urn(reg.provider) in nodes
        }
        roots = by_name(urn for urn, node in nodes.items() if node.registration is None or not node.registration.parent)
        return cls(
            run.stack, run.preview, nodes, children, dependencies, providers, roots,
            plan_values.secret_atoms(run, also),
        )

    def label(self, urn: str) -> str:
        """The resource's name; with its type when another resource has the same name."""
        node = self.nodes[urn]
        same = sum(1 for other in self.nodes.values() if other.name == node.name)
        return node.name if same == 1 else f"{node.name} ({short_type(node.type)})"

    def walk(self) -> Iterator[tuple[str, int, bool, list[bool]]]:
        """(urn, depth, is last child, for each ancestor level: was that ancestor the last child)."""

        def visit(urn: str, depth: int, last: bool, trail: list[bool]) -> Iterator[tuple[str, int, bool, list[bool]]]:
            yield urn, depth, last, trail
            kids = self.children.get(urn, [])
            for index, kid in enumerate(kids):
                yield from visit(kid, depth + 1, index == len(kids) - 1, [*trail, last])

        for index, root in enumerate(self.roots):
            yield from visit(root, 0, index == len(self.roots) - 1, [])

    @property
    def resources(self) -> list[Node]:
        return [node for node in self.nodes.values() if node.registration is not None]


def options_of(reg: mock_engine.Registration) -> list[str]:
    flags = []
    if reg.protect:
        flags.append("protect")
    if reg.retain_on_delete:
        flags.append("retain-on-delete")
    if reg.delete_before_replace:
        flags.append("delete-before-replace")
    if reg.ignore_changes:
        flags.append("ignore-changes=" + ",".join(reg.ignore_changes))
    if reg.replace_on_changes:
        flags.append("replace-on-changes=" + ",".join(reg.replace_on_changes))
    if reg.additional_secret_outputs:
        flags.append("secret-outputs=" + ",".join(reg.additional_secret_outputs))
    return flags


def _show_input(value: Any, atoms: frozenset[str]) -> str:
    """``show``, except that a secret environment list shows each name (``plan_values``)."""
    if mock_engine.is_secret_value(value) and plan_values.is_env_list(value["value"]):
        masker = plan_values.Masker(atoms, plan_values.StubMarker({}))
        return show(masker.value(value, {}, ""))
    return show(value)


def key_inputs(
    reg: mock_engine.Registration, all_inputs: bool = False, atoms: frozenset[str] = frozenset()
) -> list[tuple[str, str]]:
    """(input name, rendered value) worth showing; other secret-bearing inputs listed by name.

    ``all_inputs``: every input, in name order (``__``-prefixed SDK internals aside). ``atoms``:
    the run's secret strings, for environment lists.
    """
    inputs = {key: value for key, value in reg.inputs.items() if not key.startswith("__")}
    if all_inputs:
        return [(key, _show_input(inputs[key], atoms)) for key in sorted(inputs)]
    chosen: list[str] = [key for key in KEY_INPUTS if key in inputs]
    if not chosen and reg.custom:
        scalars = [k for k, v in sorted(inputs.items()) if isinstance(v, (str, int, float, bool))]
        chosen = scalars[:FALLBACK_INPUTS]
    shown: list[tuple[str, str]] = [(key, _show_input(inputs[key], atoms)) for key in chosen]
    secret_names = sorted(key for key, value in inputs.items() if key not in chosen and holds_secret(value))
    if secret_names:
        shown.append(("secret inputs", ", ".join(secret_names)))
    return shown
