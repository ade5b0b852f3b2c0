"""Offline plan: a stack's resource tree, dependencies and policy findings, without the Pulumi CLI.

    python -m tools.plan <stack> [--preview] [--markdown] [--all-inputs] [--mermaid FILE]
                             [--policy-config FILE]

Runs the real program with ``Pulumi.<stack>.yaml`` on the engine-like mocked engine
(``tools.mock_engine``) with the outside world stubbed (``tools.plan_stubs``): ``secure:`` values and
the 1Password token are placeholders, every 1Password reference reads a placeholder, registry
look-ups and the engine socket's group id are stubbed. No engine socket, credentials or CLI needed.

It prints the resource tree (by parent, with each resource's key inputs and options; every input
with ``--all-inputs``), the dependencies, the stack outputs, the read-only look-ups the program made,
the findings of the CrossGuard pack (``policy/policies.py``) and a summary line. ``--markdown``
prints the same for ``$GITHUB_STEP_SUMMARY``; ``--mermaid FILE`` writes the graph as a Mermaid
flowchart. The tool walks whatever the program registers: no resource list is hard-coded.

Exit status: 0 clean, 1 when a mandatory policy is violated, 2 on a configuration error, a failed
program or an unknown stack (one message on stderr, no traceback; only a bug in this tool itself
prints one, still with exit 2, so 1 always means a policy violation).

Secrets never reach the output: every value is rendered by ``show``, which prints a secret wrapper
as ``[secret]`` without looking inside; all text, including what the tool did not render itself
(policy messages, program logs, error messages), then passes through ``Redactor.scrub``, which
blanks every secret string of the run (8+ characters) that is not also public.

What-if options (for tests and experiments; the stack file is not changed):
``--config-override KEY=VALUE`` replaces one config key (objects as JSON), ``--secret-from-env
KEY=ENVVAR`` sets a config key as a secret from an environment variable (never on the command line).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import traceback
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Final

import pulumi
import yaml
from pulumi.output import Unknown
from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
)
from pulumi_policy.proxy import unknown_checking_proxy

from policy import policies
from tools import mock_engine, plan_hosts

EXIT_OK: Final = 0
EXIT_VIOLATION: Final = 1
EXIT_ERROR: Final = 2

SECRET_TEXT: Final = "[secret]"
COMPUTED_TEXT: Final = "<computed>"

KEY_INPUTS: Final = (
    "name", "image", "ports", "networkMode", "volumes", "host", "port", "owner", "login",
    "superuser", "length", "create", "update", "delete", "triggers", "url", "email", "username",
    "directory", "content_hash", "contentHash", "variables",
)
"""Inputs worth reading in a review, in display order (others show only when they hold a secret)."""
FALLBACK_INPUTS: Final = 6
"""A resource with none of ``KEY_INPUTS`` shows up to this many of its scalar inputs."""
MIN_SCRUBBED_LENGTH: Final = 8
"""Secret strings shorter than this are not blanked in free text (they would blank common words);
the structured output never shows any secret, whatever its length."""

_STACK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_ENFORCEMENT_LEVELS: Final = {level.value: level for level in EnforcementLevel}


class PlanError(Exception):
    """Bad use of the tool (unknown stack, malformed option, unreadable file): exit 2."""


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


def secret_strings(value: Any, inside: bool = False) -> Iterator[str]:
    """Every string that sits inside a secret wrapper somewhere in ``value``."""
    if mock_engine.is_secret_value(value):
        yield from secret_strings(value["value"], True)
    elif isinstance(value, str):
        if inside:
            yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from secret_strings(item, inside)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from secret_strings(item, inside)


@dataclass
class Redactor:
    """Blanks known secret strings in free text the tool did not render itself."""

    secrets: set[str] = field(default_factory=set)

    @classmethod
    def for_config(cls, config: Mapping[str, str], secret_keys: Iterable[str]) -> Redactor:
        return cls({config[key] for key in secret_keys if key in config})

    def learn(self, run: mock_engine.EngineRun) -> None:
        """Add the run's secret strings, except those the graph also shows in plain text."""
        plain: set[str] = set()
        found: set[str] = set()
        for registration in run.registrations.values():
            for value in (registration.inputs, registration.outputs):
                plain.update(mock_engine.plaintext_strings(value))
                found.update(secret_strings(value))
        for output in run.outputs.values():
            strings = set(mock_engine.plaintext_strings(output.value))
            (found if output.secret else plain).update(strings)
        self.secrets |= found - plain

    def scrub(self, text: str) -> str:
        for secret in sorted(self.secrets, key=len, reverse=True):
            if len(secret) >= MIN_SCRUBBED_LENGTH:
                text = text.replace(secret, SECRET_TEXT)
        return text


# --- the graph as the engine saw it --------------------------------------------------------------


def _provider_urn(reference: str) -> str:
    """A provider reference is ``<urn>::<id>``; the URN itself contains ``::``."""
    return reference.rsplit("::", 1)[0] if reference else ""


def _short_type(token: str) -> str:
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

    @classmethod
    def from_run(cls, run: mock_engine.EngineRun) -> Graph:
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
        return cls(run.stack, run.preview, nodes, children, dependencies, providers, roots)

    def label(self, urn: str) -> str:
        """The resource's name; with its type when another resource has the same name."""
        node = self.nodes[urn]
        same = sum(1 for other in self.nodes.values() if other.name == node.name)
        return node.name if same == 1 else f"{node.name} ({_short_type(node.type)})"

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


def key_inputs(reg: mock_engine.Registration, all_inputs: bool = False) -> list[tuple[str, str]]:
    """(input name, rendered value) worth showing; other secret-bearing inputs listed by name.

    ``all_inputs``: every input, in name order (``__``-prefixed SDK internals aside).
    """
    inputs = {key: value for key, value in reg.inputs.items() if not key.startswith("__")}
    if all_inputs:
        return [(key, show(inputs[key])) for key in sorted(inputs)]
    chosen = [key for key in KEY_INPUTS if key in inputs]
    if not chosen and reg.custom:
        scalars = [k for k, v in sorted(inputs.items()) if isinstance(v, (str, int, float, bool))]
        chosen = scalars[:FALLBACK_INPUTS]
    shown = [(key, show(inputs[key])) for key in chosen]
    secret_names = sorted(key for key, value in inputs.items() if key not in chosen and holds_secret(value))
    if secret_names:
        shown.append(("secret inputs", ", ".join(secret_names)))
    return shown


# --- policies ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicySettings:
    """A policy-pack config file: per-policy enforcement level and settings (``allowPublicBind``)."""

    config: dict[str, dict[str, Any]] = field(default_factory=dict)
    enforcement: dict[str, EnforcementLevel] = field(default_factory=dict)
    default: EnforcementLevel = policies.DEFAULT_ENFORCEMENT

    def level(self, policy: str) -> EnforcementLevel:
        return self.enforcement.get(policy, self.default)

    @classmethod
    def load(cls, path: Path) -> PolicySettings:
        """The format of ``pulumi preview --policy-config``: ``{policy: level | {enforcementLevel, ...}}``
        plus an optional ``all: level``."""
        try:
            document = yaml.safe_load(path.read_text())
        except OSError as exc:
            raise PlanError(f"--policy-config {path}: cannot be read ({exc.strerror})") from None
        except yaml.YAMLError:
            raise PlanError(f"--policy-config {path}: is not valid JSON or YAML") from None
        if not isinstance(document, dict):
            raise PlanError(f"--policy-config {path}: expected an object of policy name -> settings")
        known = {policy.name for policy in policies.ALL_POLICIES}
        config: dict[str, dict[str, Any]] = {}
        enforcement: dict[str, EnforcementLevel] = {}
        default = policies.DEFAULT_ENFORCEMENT
        for name, value in document.items():
            if name == "all":
                default = _level(path, name, value)
            elif name not in known:
                raise PlanError(
                    f"--policy-config {path}: '{name}' is not a policy of the pack; expected one of "
                    + ", ".join(sorted(known))
                )
            elif isinstance(value, str):
                enforcement[name] = _level(path, name, value)
            elif isinstance(value, dict):
                values = dict(value)
                if "enforcementLevel" in values:
                    enforcement[name] = _level(path, name, values.pop("enforcementLevel"))
                config[name] = values
            else:
                raise PlanError(f"--policy-config {path}: '{name}' must be an enforcement level or an object")
        return cls(config, enforcement, default)


def _level(path: Path, name: str, value: Any) -> EnforcementLevel:
    if value not in _ENFORCEMENT_LEVELS:
        raise PlanError(
            f"--policy-config {path}: '{name}' has an unknown enforcement level; expected one of "
            + ", ".join(_ENFORCEMENT_LEVELS)
        )
    return _ENFORCEMENT_LEVELS[value]


@dataclass(frozen=True)
class Finding:
    policy: str
    severity: str
    enforcement: str
    resource: str
    message: str

    @property
    def mandatory(self) -> bool:
        return self.enforcement == EnforcementLevel.MANDATORY.value


def _policy_options(reg: mock_engine.Registration) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=reg.protect,
        ignore_changes=list(reg.ignore_changes),
        delete_before_replace=reg.delete_before_replace,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=list(reg.additional_secret_outputs),
        parent=reg.parent or None,
    )


def _props(values: Mapping[str, Any]) -> Mapping[str, Any]:
    # As the pack's analyzer hands them to validators: secrets as pulumi_policy.Secret (the pack keeps
    # the engine's secret marker, see policies.from_wire), behind pulumi_policy's unknown-checking
    # proxy; mock unknowns read as UNKNOWN.
    return unknown_checking_proxy(policies.from_wire(dict(values)))


def stack_resources(graph: Graph) -> list[PolicyResource]:
    """Every registered resource as the stack policies see it (props: its outputs)."""
    built: dict[str, PolicyResource] = {}
    for node in graph.resources:
        reg = node.registration
        assert reg is not None
        built[node.urn] = PolicyResource(
            reg.type, _props(reg.outputs), reg.urn, reg.name, _policy_options(reg), None, None, [], {}
        )
    for urn, resource in built.items():
        reg = graph.nodes[urn].registration
        assert reg is not None
        resource.parent = built.get(reg.parent)
        resource.dependencies = [built[d] for d in graph.dependencies.get(urn, []) if d in built]
        resource.property_dependencies = {
            key: [built[d] for d in deps if d in built] for key, deps in reg.property_dependencies.items()
        }
        provider = built.get(graph.providers.get(urn, ""))
        if provider is not None:
            resource.provider = PolicyProviderResource(provider.resource_type, provider.props, provider.urn, provider.name)
    return list(built.values())


def check_policies(graph: Graph, settings: PolicySettings) -> list[Finding]:
    """Every resource policy on every custom resource (props: its inputs), then the stack policies."""
    severities = {policy.name: policy.severity for policy in policies.ALL_POLICIES}
    violations: list[policies.Violation] = []
    for node in graph.resources:
        reg = node.registration
        assert reg is not None
        if reg.custom:
            violations += policies.check_resource(
                reg.type, _props(reg.inputs), reg.urn, reg.name, _policy_options(reg), settings.config
            )
    violations += policies.check_stack(stack_resources(graph), settings.config)
    findings = []
    for violation in violations:
        level = settings.level(violation.policy)
        if level == EnforcementLevel.DISABLED:
            continue
        severity = severities.get(violation.policy)
        findings.append(
            Finding(
                policy=violation.policy,
                severity=severity.value if severity is not None else "",
                enforcement=level.value,
                resource=graph.label(violation.urn) if violation.urn in graph.nodes else "(stack)",
                message=violation.message,
            )
        )
    return sorted(findings, key=lambda f: (not f.mandatory, f.policy, f.resource, f.message))


# --- the plan ------------------------------------------------------------------------------------


def _count(number: int, singular: str, plural: str | None = None) -> str:
    return f"{number} {singular if number == 1 else (plural or singular + 's')}"


@dataclass(frozen=True)
class Plan:
    graph: Graph
    outputs: dict[str, mock_engine.OutputValue]
    findings: list[Finding]
    logs: list[tuple[str, str]]
    lookups: list[str]
    """Read-only invokes the program made (1Password, registry), rendered, without their results."""

    @property
    def failed(self) -> bool:
        return any(finding.mandatory for finding in self.findings)

    def summary(self) -> str:
        resources = self.graph.resources
        custom = sum(1 for node in resources if node.registration and node.registration.custom)
        edges = sum(len(deps) for deps in self.graph.dependencies.values())
        mandatory = sum(1 for finding in self.findings if finding.mandatory)
        verdict = "FAIL" if self.failed else "OK"
        return (
            f"{verdict}: stack {self.graph.stack} ({self.mode}): {_count(len(resources), 'resource')} "
            f"({custom} custom, {len(resources) - custom} components), {_count(edges, 'dependency', 'dependencies')}, "
            f"{_count(len(self.findings), 'policy finding')} ({mandatory} mandatory)"
        )

    @property
    def mode(self) -> str:
        return "preview" if self.graph.preview else "up, computed outputs stubbed"


def tree_lines(graph: Graph, all_inputs: bool = False) -> list[str]:
    """``type  name  [options]`` per resource, indented by parent, its key inputs below it."""
    lines: list[str] = []
    for urn, depth, last, trail in graph.walk():
        node = graph.nodes[urn]
        indent = "".join("   " if was_last else "│  " for was_last in trail[1:])
        branch = "" if depth == 0 else ("└─ " if last else "├─ ")
        # Input lines keep the tree's vertical lines going: the siblings' and the children's.
        under = indent + ("" if depth == 0 else ("   " if last else "│  "))
        detail = under + ("│ " if graph.children.get(urn) else "  ") + " "
        reg = node.registration
        flags = options_of(reg) if reg else []
        suffix = f"  [{', '.join(flags)}]" if flags else ""
        lines.append(f"{indent}{branch}{node.type}  {node.name}{suffix}")
        lines += [f"{detail}{key}: {text}" for key, text in (key_inputs(reg, all_inputs) if reg else [])]
    return lines


def dependency_lines(graph: Graph) -> list[str]:
    lines = []
    for node in sorted(graph.resources, key=lambda n: (n.name, n.urn)):
        deps = [graph.label(d) for d in graph.dependencies.get(node.urn, [])]
        provider = graph.providers.get(node.urn)
        if provider:
            deps.append(f"provider {graph.label(provider)}")
        if deps:
            lines.append(f"{graph.label(node.urn)} -> {', '.join(deps)}")
    return lines


def output_lines(outputs: Mapping[str, mock_engine.OutputValue]) -> list[tuple[str, str]]:
    rendered = []
    for name in sorted(outputs):
        output = outputs[name]
        value = SECRET_TEXT if output.secret else (show(output.value) if output.known else COMPUTED_TEXT)
        rendered.append((name, value))
    return rendered


def _registrations(graph: Graph) -> dict[str, mock_engine.Registration]:
    return {node.urn: node.registration for node in graph.resources if node.registration is not None}


def render_text(plan: Plan, all_inputs: bool = False) -> str:
    graph = plan.graph
    parts = [f"Offline plan of stack {graph.stack} ({plan.mode})", "", "Resources:"]
    parts += ["  " + line for line in tree_lines(graph, all_inputs)]
    parts += ["", "Dependencies:"]
    parts += ["  " + line for line in dependency_lines(graph)] or ["  (none)"]
    parts += ["", "Stack outputs:"]
    parts += [f"  {name}: {value}" for name, value in output_lines(plan.outputs)] or ["  (none)"]
    parts += ["", "Workspace hosts:"] + ["  " + line for line in plan_hosts.host_lines(_registrations(graph))]
    parts += ["", "Look-ups (read-only invokes):"]
    parts += ["  " + lookup for lookup in plan.lookups] or ["  (none)"]
    if plan.logs:
        parts += ["", "Program log:"] + [f"  {level}: {message}" for level, message in plan.logs]
    parts += ["", "Policy findings:"]
    parts += [
        f"  [{f.enforcement}/{f.severity}] {f.policy} on {f.resource}: {f.message}" for f in plan.findings
    ] or ["  none"]
    parts += ["", plan.summary()]
    return "\n".join(parts) + "\n"


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def render_markdown(plan: Plan, all_inputs: bool = False) -> str:
    graph = plan.graph
    parts = [f"## Offline plan: `{graph.stack}`", "", f"Mode: {plan.mode}.", "", "### Resources", "", "```text"]
    parts += tree_lines(graph, all_inputs) + ["```", "", "### Dependencies", "", "```text"]
    parts += dependency_lines(graph) or ["(none)"]
    parts += ["```", "", "### Stack outputs", ""]
    outputs = output_lines(plan.outputs)
    if outputs:
        parts += ["| Output | Value |", "|---|---|"]
        parts += [f"| `{name}` | `{_cell(value)}` |" for name, value in outputs]
    else:
        parts.append("_No outputs._")
    parts += ["", "### Workspace hosts", "", "```text", *plan_hosts.host_lines(_registrations(graph)), "```"]
    parts += ["", "### Look-ups (read-only invokes)", "", "```text"]
    parts += plan.lookups or ["(none)"]
    parts.append("```")
    if plan.logs:
        parts += ["", "### Program log", "", "```text"]
        parts += [f"{level}: {message}" for level, message in plan.logs] + ["```"]
    parts += ["", "### Policy findings", ""]
    if plan.findings:
        parts += ["| Policy | Severity | Enforcement | Resource | Message |", "|---|---|---|---|---|"]
        parts += [
            f"| {f.policy} | {f.severity} | {f.enforcement} | `{_cell(f.resource)}` | {_cell(f.message)} |"
            for f in plan.findings
        ]
    else:
        parts.append("_No policy findings._")
    parts += ["", "<details><summary>Graph</summary>", "", "```mermaid", render_mermaid(graph).rstrip("\n"), "```", "", "</details>"]
    parts += ["", f"**{plan.summary()}**", ""]
    return "\n".join(parts) + "\n"


def _mermaid_text(text: str) -> str:
    return text.replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")


def render_mermaid(graph: Graph) -> str:
    """``graph TD``: parent -> child solid, dependency -.-> dependant dashed (provider edges too)."""
    ids = {urn: f"r{index}" for index, (urn, *_rest) in enumerate(graph.walk())}
    lines = ["graph TD"]
    for urn, node_id in ids.items():
        node = graph.nodes[urn]
        lines.append(f'  {node_id}["{_mermaid_text(_short_type(node.type))}<br/>{_mermaid_text(node.name)}"]')
    for urn, node_id in ids.items():  # walk order: the same graph always gives the same text
        lines += [f"  {node_id} --> {ids[kid]}" for kid in graph.children.get(urn, [])]
    for urn, node_id in ids.items():
        lines += [f"  {ids[dep]} -.-> {node_id}" for dep in graph.dependencies.get(urn, [])]
        if urn in graph.providers:
            lines.append(f"  {ids[graph.providers[urn]]} -. provider .-> {node_id}")
    return "\n".join(lines) + "\n"


# --- command line --------------------------------------------------------------------------------


def _pair(option: str, text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise PlanError(f"{option} {key or text!r}: expected KEY=VALUE")
    if ":" not in key:
        key = f"{mock_engine.PROJECT}:{key}"
    return key, value


def _stacks() -> list[str]:
    return sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in mock_engine.PROJECT_DIR.glob("Pulumi.*.yaml"))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tools.plan",
        description="Resource tree, dependencies and policy findings of a stack, on a mocked engine.",
    )
    parser.add_argument("stack", help="stack name: reads Pulumi.<stack>.yaml")
    parser.add_argument("--preview", action="store_true", help="as pulumi preview: computed outputs unknown")
    parser.add_argument("--markdown", action="store_true", help="print Markdown (for $GITHUB_STEP_SUMMARY)")
    parser.add_argument(
        "--all-inputs", action="store_true", help="show every input of every resource, not only the key ones"
    )
    parser.add_argument("--mermaid", type=Path, metavar="FILE", help="write the graph as Mermaid to FILE")
    parser.add_argument(
        "--policy-config", type=Path, metavar="FILE",
        help="policy pack config (JSON/YAML, as pulumi preview --policy-config)",
    )
    whatif = parser.add_argument_group("what-if (tests and experiments; the stack file is not changed)")
    whatif.add_argument(
        "--config-override", action="append", default=[], metavar="KEY=VALUE",
        help="replace one config key; objects as JSON (repeatable)",
    )
    whatif.add_argument(
        "--secret-from-env", action="append", default=[], metavar="KEY=ENVVAR",
        help="set a config key as a secret, read from an environment variable (repeatable)",
    )
    return parser.parse_args(argv)


def _offline_world() -> ModuleType:
    """``tools.plan_stubs``, which imports the program: a program that cannot even be imported is a
    failed program (exit 2), not a crash of this tool (exit 1 would read as a policy violation)."""
    try:
        from tools import plan_stubs
    except Exception as exc:  # noqa: BLE001 - any import-time failure of the program
        raise PlanError(f"the program could not be loaded: {type(exc).__name__}: {exc}") from None
    return plan_stubs


def build_plan(args: argparse.Namespace, redactor: Redactor) -> Plan:
    """Evaluate the stack; raises PlanError, pulumi.RunError or ProgramFailed."""
    plan_stubs = _offline_world()
    if not _STACK_NAME.match(args.stack):
        raise PlanError(f"stack {args.stack!r}: expected a stack name such as {', '.join(_stacks())}")
    overrides = dict(_pair("--config-override", text) for text in args.config_override)
    secret_overrides = {}
    for text in args.secret_from_env:
        key, variable = _pair("--secret-from-env", text)
        if variable not in os.environ:
            raise PlanError(f"--secret-from-env {key}: environment variable {variable!r} is not set")
        secret_overrides[key] = os.environ[variable]
    policy_settings = PolicySettings.load(args.policy_config) if args.policy_config else PolicySettings()
    try:
        config, secret_keys = plan_stubs.stack_config(args.stack, overrides, secret_overrides=secret_overrides)
    except FileNotFoundError:
        raise PlanError(
            f"stack {args.stack!r}: no Pulumi.{args.stack}.yaml in {mock_engine.PROJECT_DIR}; "
            f"expected one of: {', '.join(_stacks())}"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise PlanError(f"Pulumi.{args.stack}.yaml: is not valid YAML{where}") from None
    redactor.secrets |= Redactor.for_config(config, secret_keys).secrets
    run = plan_stubs.run_with_config(args.stack, config, secret_keys, preview=args.preview)
    redactor.learn(run)
    graph = Graph.from_run(run)
    logs = [(level, message) for level, message in run.logs if level in ("warning", "error")]
    lookups = sorted({f"{_short_type(token)} {show(invoke_args)}" for token, invoke_args in run.invokes})
    return Plan(graph, run.outputs, check_policies(graph, policy_settings), logs, lookups)


def write_outputs(args: argparse.Namespace, plan: Plan, redactor: Redactor) -> None:
    if args.mermaid:
        try:
            args.mermaid.write_text(render_mermaid(plan.graph))
        except OSError as exc:
            raise PlanError(f"--mermaid {args.mermaid}: cannot be written ({exc.strerror})") from None
    render = render_markdown if args.markdown else render_text
    report = render(plan, args.all_inputs)
    sys.stdout.write(redactor.scrub(report))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    redactor = Redactor()
    try:
        plan = build_plan(args, redactor)
        write_outputs(args, plan, redactor)
    except (PlanError, pulumi.RunError, mock_engine.ProgramFailed) as exc:
        # ConfigError is a RunError: its message names the key and never carries a value.
        print(redactor.scrub(str(exc)), file=sys.stderr)
        return EXIT_ERROR
    except Exception:  # noqa: BLE001 - a bug in this tool: the traceback helps, scrubbed as all output
        print(redactor.scrub(traceback.format_exc()), file=sys.stderr)
        return EXIT_ERROR
    return EXIT_VIOLATION if plan.failed else EXIT_OK


if __name__ == "__main__":
    try:
        status = main()
    finally:
        # Only here: in-process callers of main() may run the engine again.
        if (loaded := sys.modules.get("tools.plan_stubs")) is not None:
            loaded.close_event_loops()
    sys.exit(status)
