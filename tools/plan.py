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
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, Final

import pulumi

from tools import mock_engine, plan_changes, plan_overrides, plan_values
from tools.plan_graph import COMPUTED_TEXT, SECRET_TEXT, Graph, Redactor, short_type, secret_strings, show
from tools.plan_policies import PolicyConfigError, PolicySettings, check_policies
from tools.plan_render import Plan, render_changes, render_markdown, render_mermaid, render_text

__all__ = [
    "COMPUTED_TEXT", "SECRET_TEXT", "PlanError", "Redactor", "main", "plan_document", "secret_strings", "show",
]

EXIT_OK: Final = 0
EXIT_VIOLATION: Final = 1
EXIT_ERROR: Final = 2

_STACK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class PlanError(Exception):
    """Bad use of the tool (unknown stack, malformed option, unreadable file): exit 2."""


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
    lookups = sorted({f"{short_type(token)} {show(invoke_args)}" for token, invoke_args in run.invokes})
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
