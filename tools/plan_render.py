"""The offline plan and its renderings: text, Markdown (``$GITHUB_STEP_SUMMARY``), Mermaid, the
JSON document (``Plan.document``) and the change view of ``--against``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools import mock_engine, plan_changes, plan_hosts, plan_values
from tools.plan_graph import COMPUTED_TEXT, SECRET_TEXT, Graph, short_type, key_inputs, options_of, show
from tools.plan_policies import Finding

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


def render_text(plan: Plan, all_inputs: bool = False) -> str:
    graph = plan.graph
    parts = [f"Offline plan of stack {graph.stack} ({plan.mode})", "", "Resources:"]
    parts += ["  " + line for line in tree_lines(graph, all_inputs)]
    parts += ["", "Dependencies:"]
    parts += ["  " + line for line in dependency_lines(graph)] or ["  (none)"]
    parts += ["", "Stack outputs:"]
    parts += [f"  {name}: {value}" for name, value in output_lines(plan.outputs)] or ["  (none)"]
    parts += ["", "Workspace hosts:"] + ["  " + line for line in plan_hosts.host_lines(plan.run.registrations)]
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
    parts += ["", "### Workspace hosts", "", "```text", *plan_hosts.host_lines(plan.run.registrations), "```"]
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
        lines.append(f'  {node_id}["{_mermaid_text(short_type(node.type))}<br/>{_mermaid_text(node.name)}"]')
    for urn, node_id in ids.items():  # walk order: the same graph always gives the same text
        lines += [f"  {node_id} --> {ids[kid]}" for kid in graph.children.get(urn, [])]
    for urn, node_id in ids.items():
        lines += [f"  {ids[dep]} -.-> {node_id}" for dep in graph.dependencies.get(urn, [])]
        if urn in graph.providers:
            lines.append(f"  {ids[graph.providers[urn]]} -. provider .-> {node_id}")
    return "\n".join(lines) + "\n"


def render_changes(plan: Plan, changes: plan_changes.ChangeSet, against: Path, markdown: bool) -> str:
    title = f"Changes to stack {plan.graph.stack} against {against} ({plan.mode})"
    lines = changes.lines() or ["(no changes)"]
    if markdown:
        return "\n".join([f"## {title}", "", "```text", *lines, "```", "", f"**{changes.summary()}**", ""])
    return "\n".join([title, "", *("  " + line for line in lines), "", changes.summary(), ""])
