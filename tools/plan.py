"""Offline plan: a stack's resource tree, dependencies and policy findings, without the Pulumi CLI.

    python -m tools.plan <stack> [--preview] [--markdown | --json] [--against OLD.json]
                             [--all-inputs] [--mermaid FILE] [--policy-config FILE]

Runs the real program with ``Pulumi.<stack>.yaml`` on the engine-like mocked engine
(``tools.mock_engine``) with the outside world stubbed (``tools.plan_stubs``): ``secure:`` values and
the 1Password token are placeholders, every 1Password reference reads a placeholder, registry
look-ups and the engine socket's group id are stubbed. No engine socket, credentials or CLI needed.

It prints the resource tree (by parent, with each resource's key inputs and options; every input
with ``--all-inputs``), the dependencies, the stack outputs, the read-only look-ups the program made,
the findings of the CrossGuard pack (``tools.plan_policies``) and a summary line. ``--markdown``
prints the same for ``$GITHUB_STEP_SUMMARY``; ``--mermaid FILE`` writes the graph as a Mermaid
flowchart; ``--json`` prints one document (``Plan.document``, also ``plan_document()``);
``--against OLD.json`` compares with an earlier document (``tools.plan_changes``). Values the stubs
made up are marked as such everywhere (``tools.plan_values``). The tool walks whatever the program
registers: no resource list is hard-coded.

Exit status: 0 clean, 1 when a mandatory policy is violated, 2 on a configuration error, a failed
program or an unknown stack (one message on stderr, no traceback; only a bug in this tool itself
prints one, still with exit 2, so 1 always means a policy violation).

Secrets never reach the output: every value is rendered by ``show``, which prints a secret wrapper
as ``[secret]`` without looking inside (a container environment shows its names, and each value
that holds no secret of the run); all text, including what the tool did not render itself
(policy messages, program logs, error messages), then passes through ``Redactor.scrub``, which
blanks every secret string of the run (8+ characters) that is not also public.

What-if options (for tests and experiments; the stack file is not changed):
``--config-override KEY=VALUE`` merges into one config key (an object as JSON, or a path such as
``egoengine:coder.version=v2.26.0``, see ``tools.plan_overrides``), ``--secret-from-env
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
from pulumi.output import Unknown

from tools import mock_engine, plan_changes, plan_hosts, plan_overrides, plan_values
from tools.plan_policies import Finding, PolicyConfigError, PolicySettings, check_policies

EXIT_OK: Final = 0
EXIT_VIOLATION: Final = 1
EXIT_ERROR: Final = 2

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

_STACK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


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
    run: mock_engine.EngineRun
    stubs: plan_values.StubMarker
    """What the stubs made up, to be marked wherever it shows."""

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

    def document(self) -> dict[str, Any]:
        """The plan as one JSON document (``--json``; what ``--against`` compares)."""
        masker = plan_values.Masker(self.graph.secret_atoms, self.stubs)
        order = [urn for urn, *_rest in self.graph.walk()]
        outputs, stubbed_outputs = plan_values.output_entries(self.run, masker)
        return {
            "format": plan_values.FORMAT,
            "stack": self.graph.stack,
            "mode": "preview" if self.graph.preview else "up",
            "resources": plan_values.resource_entries(self.run, masker, order),
            "outputs": outputs,
            "stubbedOutputs": stubbed_outputs,
            "policyFindings": [
                {
                    "policy": f.policy, "severity": f.severity, "enforcement": f.enforcement,
                    "resource": f.resource, "message": self.stubs.free_text(f.message),
                }
                for f in self.findings
            ],
            "summary": self.summary(),
        }


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
        lines += [f"{detail}{key}: {text}" for key, text in (key_inputs(reg, all_inputs, graph.secret_atoms) if reg else [])]
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


def _stacks() -> list[str]:
    return sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in mock_engine.PROJECT_DIR.glob("Pulumi.*.yaml"))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tools.plan",
        description="Resource tree, dependencies and policy findings of a stack, on a mocked engine.",
    )
    parser.add_argument("stack", help="stack name: reads Pulumi.<stack>.yaml")
    parser.add_argument("--preview", action="store_true", help="as pulumi preview: computed outputs unknown")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--markdown", action="store_true", help="print Markdown (for $GITHUB_STEP_SUMMARY)")
    output.add_argument(
        "--json", action="store_true", help="print one JSON document: resources, outputs, findings"
    )
    parser.add_argument(
        "--against", type=Path, metavar="OLD.json",
        help="print what changes against an earlier --json document (create/update/replace/delete)",
    )
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
        help="merge into one config key: an object as JSON, or a path such as "
        "egoengine:coder.version=v2.26.0 (repeatable)",
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


def _stack_config(plan_stubs: ModuleType, args: argparse.Namespace) -> tuple[dict[str, str], list[str]]:
    """The stack file's config with ``--config-override`` merged in and ``--secret-from-env`` set."""
    secret_overrides = {}
    try:
        for text in args.secret_from_env:
            key, variable = plan_overrides.split(text, "--secret-from-env")
            if variable not in os.environ:
                raise PlanError(f"--secret-from-env {key}: environment variable {variable!r} is not set")
            secret_overrides[key] = os.environ[variable]
        config, secret_keys = plan_stubs.stack_config(args.stack, secret_overrides=secret_overrides)
        overrides = plan_overrides.merged_overrides(args.config_override, config)
    except plan_overrides.OverrideError as exc:
        raise PlanError(str(exc)) from None
    except FileNotFoundError:
        raise PlanError(
            f"stack {args.stack!r}: no Pulumi.{args.stack}.yaml in {mock_engine.PROJECT_DIR}; "
            f"expected one of: {', '.join(_stacks())}"
        ) from None
    config.update({key: plan_stubs.config_string(value) for key, value in overrides.items()})
    return config, secret_keys


def build_plan(args: argparse.Namespace, redactor: Redactor) -> Plan:
    """Evaluate the stack; raises PlanError, pulumi.RunError or ProgramFailed."""
    plan_stubs = _offline_world()
    if not _STACK_NAME.match(args.stack):
        raise PlanError(f"stack {args.stack!r}: expected a stack name such as {', '.join(_stacks())}")
    try:
        policy_settings = PolicySettings.load(args.policy_config) if args.policy_config else PolicySettings()
    except PolicyConfigError as exc:
        raise PlanError(str(exc)) from None
    config, secret_keys = _stack_config(plan_stubs, args)
    redactor.secrets |= Redactor.for_config(config, secret_keys).secrets
    stubs = plan_stubs.stubs_for(config)
    run = plan_stubs.run_with_config(args.stack, config, secret_keys, preview=args.preview, stubs=stubs)
    handed_out = [value for value, kind in stubs.ledger.items() if kind in plan_values.SECRET_STUBS]
    graph = Graph.from_run(run, also=[*redactor.secrets, *handed_out])
    redactor.learn(graph.secret_atoms)
    logs = [(level, message) for level, message in run.logs if level in ("warning", "error")]
    lookups = sorted({f"{_short_type(token)} {show(invoke_args)}" for token, invoke_args in run.invokes})
    findings = check_policies(graph, policy_settings)
    return Plan(graph, run.outputs, findings, logs, lookups, run, plan_values.StubMarker(stubs.ledger))


def plan_document(stack: str, *, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """The document ``python -m tools.plan STACK --json`` prints, for callers in Python.

    ``overrides``: ``KEY=VALUE`` texts as ``--config-override`` takes them (merged into the stack's
    objects; ``egoengine:images.base.tag=abc1234`` sets one nested value). Raises ``PlanError``
    (bad override, unknown stack), ``components.errors.ConfigError`` (a ``pulumi.RunError``: bad
    config, one line naming the key) or ``mock_engine.ProgramFailed``.
    """
    args = parse_args([stack, "--json", *(f"--config-override={text}" for text in overrides)])
    return build_plan(args, Redactor()).document()


def _read_document(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PlanError(f"--against {path}: cannot be read ({exc.strerror})") from None
    except (UnicodeDecodeError, ValueError):
        raise PlanError(f"--against {path}: is not JSON; expected the output of --json") from None
    if not isinstance(document, dict) or document.get("format") != plan_values.FORMAT:
        raise PlanError(f"--against {path}: is not a plan document; expected the output of --json")
    return document


def render_changes(plan: Plan, changes: plan_changes.ChangeSet, against: Path, markdown: bool) -> str:
    title = f"Changes to stack {plan.graph.stack} against {against} ({plan.mode})"
    lines = changes.lines() or ["(no changes)"]
    if markdown:
        return "\n".join([f"## {title}", "", "```text", *lines, "```", "", f"**{changes.summary()}**", ""])
    return "\n".join([title, "", *("  " + line for line in lines), "", changes.summary(), ""])


def write_outputs(args: argparse.Namespace, plan: Plan, redactor: Redactor) -> None:
    if args.mermaid:
        try:
            args.mermaid.write_text(render_mermaid(plan.graph))
        except OSError as exc:
            raise PlanError(f"--mermaid {args.mermaid}: cannot be written ({exc.strerror})") from None
    document = plan.document() if args.json or args.against else None
    changes = plan_changes.compare(_read_document(args.against), document or {}) if args.against else None
    if args.json:
        assert document is not None
        if changes is not None:
            document["changes"] = {"lines": changes.lines(), "summary": changes.summary()}
        report = json.dumps(document, indent=2, sort_keys=False) + "\n"
    elif changes is not None:
        report = render_changes(plan, changes, args.against, args.markdown)
    else:
        report = plan.stubs.free_text((render_markdown if args.markdown else render_text)(plan, args.all_inputs))
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
