"""How long evaluating the full stack graph takes, beside merely importing the SDKs it uses.

    python -m tools.bench [--runs N] [--stack vermissian] [--json]

Each sample runs in a FRESH interpreter (``sys.executable -m tools.bench --child ...``), so no
module is already imported or cached in memory; the two kinds of samples alternate so background
noise hits both alike. What is measured, with ``time.perf_counter`` inside the child and reported
back as JSON on stdout:

- ``import-only``: importing the SDKs (``SDK_MODULES``) and nothing else;
- ``import+plan``: the same imports, then the program's own modules, then one evaluation of the
  stack's graph on the mocked engine (``tools.plan_stubs.run_stack_offline``; nothing printed, no
  policy checks).

Both start their clock after interpreter start-up (identical for the two, and not the program's
cost); the wall time around each subprocess, start-up included, is reported beside it. The ratio is
median(import+plan) / median(import-only), in-process times. This module imports only the standard
library at top level, so the child's clock starts before any SDK is loaded.
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

PROJECT_DIR: Final = Path(__file__).resolve().parent.parent
SDK_MODULES: Final = (
    "pulumi",
    "pulumi_docker",
    "pulumi_postgresql",
    "pulumi_command",
    "pulumi_onepassword",
    "pulumi_random",
    "pydantic",
)
DEFAULT_RUNS: Final = 7
DEFAULT_STACK: Final = "vermissian"
KINDS: Final = ("import-only", "import+plan")


class BenchError(Exception):
    """A child run failed; carries its stderr."""


def child(kind: str, stack: str) -> dict[str, float]:
    """One measurement, inside a fresh interpreter."""
    start = time.perf_counter()
    for module in SDK_MODULES:
        importlib.import_module(module)
    imported = time.perf_counter()
    if kind == "import+plan":
        from tools.plan_stubs import close_event_loops, run_stack_offline

        run_stack_offline(stack)
        end = time.perf_counter()
        close_event_loops()  # after the clock: shutdown hygiene, not evaluation
    else:
        end = time.perf_counter()
    return {"import_seconds": imported - start, "total_seconds": end - start}


@dataclass(frozen=True)
class Sample:
    import_seconds: float
    total_seconds: float
    wall_seconds: float


def measure(kind: str, stack: str) -> Sample:
    command = [sys.executable, "-m", "tools.bench", "--child", kind, "--stack", stack]
    started = time.perf_counter()
    result = subprocess.run(command, cwd=PROJECT_DIR, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise BenchError(f"{kind} run failed (exit {result.returncode}): {result.stderr.strip()}")
    reported = json.loads(result.stdout)
    return Sample(reported["import_seconds"], reported["total_seconds"], wall)


@dataclass(frozen=True)
class Summary:
    median_seconds: float
    """In-process time (after interpreter start-up)."""
    median_import_seconds: float
    median_wall_seconds: float
    """Around the subprocess, interpreter start-up included."""
    samples: list[Sample]

    @classmethod
    def of(cls, samples: list[Sample]) -> Summary:
        return cls(
            statistics.median(s.total_seconds for s in samples),
            statistics.median(s.import_seconds for s in samples),
            statistics.median(s.wall_seconds for s in samples),
            samples,
        )


def bench(runs: int, stack: str) -> dict:
    samples: dict[str, list[Sample]] = {kind: [] for kind in KINDS}
    for _ in range(runs):
        for kind in KINDS:
            samples[kind].append(measure(kind, stack))
    summaries = {kind: Summary.of(found) for kind, found in samples.items()}
    ratio = summaries["import+plan"].median_seconds / summaries["import-only"].median_seconds
    return {
        "stack": stack,
        "runs": runs,
        "sdk_modules": list(SDK_MODULES),
        "results": {kind: asdict(summary) for kind, summary in summaries.items()},
        "ratio": ratio,
    }


def render(report: dict) -> str:
    rows = [("", "in-process (median)", "wall incl. start-up (median)")]
    for kind in KINDS:
        result = report["results"][kind]
        rows.append((kind, f"{result['median_seconds']:.3f} s", f"{result['median_wall_seconds']:.3f} s"))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [
        f"Offline evaluation of stack {report['stack']}: {report['runs']} fresh interpreter(s) per row",
        "",
    ]
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    graph = report["results"]["import+plan"]
    beyond = graph["median_seconds"] - graph["median_import_seconds"]
    lines += [
        "",
        f"graph evaluation beyond the imports: {beyond:.3f} s",
        f"ratio import+plan / import-only: {report['ratio']:.2f}x",
    ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS, help=f"fresh runs per row (default {DEFAULT_RUNS})")
    parser.add_argument("--stack", default=DEFAULT_STACK, help=f"stack to evaluate (default {DEFAULT_STACK})")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--child", choices=KINDS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.stack)))
        return 0
    if args.runs < 1:
        parser.error("--runs: expected a positive number of runs")
    try:
        report = bench(args.runs, args.stack)
    except BenchError as exc:
        print(exc, file=sys.stderr)
        return 2
    sys.stdout.write(json.dumps(report, indent=2) + "\n" if args.json else render(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
