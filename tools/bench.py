"""How fast the stack evaluates, how that grows with its size, and what the helpers cost to start.

    python -m tools.bench [--quick] [--runs N] [--stack vermissian] [--out DIR]

Every sample runs in a FRESH interpreter (``python -m tools.bench_child``), so nothing is imported
or cached in memory; samples of the kinds compared alternate, so background noise hits them alike.
Bytecode is cached as Python does by default (in the benchmark's own temp dir, never in the
project), and one warm-up run precedes each case, so what is timed is a steady-state preview, as
on a deploy machine: caches warm and files older than the racy window, except where a row says
``cold``. Measured:

- the ratio: importing the SDKs alone vs importing them and evaluating the stack's graph on the
  mocked engine (every check preview runs), in pairs; the median of the per-pair ratios;
- scaling: templates N = 1, 10, 100, 1000 and children N = 1, 10, 50 (evaluation time after the SDK
  imports; a least-squares line gives the slope per template and per child), a child context of
  1 MB, 100 MB and 1 GB (cold and cached), 10,000 small files (cold, cached, and the bare
  scandir+lstat floor);
- start-up of ``python -m tools.build_image --help`` and ``python -m tools.pg_backup --help``.

Each row has the peak RSS of its process. It prints a table and writes ``results.json`` and
``curves.png`` to ``--out`` (``quick.json`` / ``quick.png`` with ``--quick``, a subset that runs in
well under 30 s). Generated inputs live in a hidden temp dir in the project, removed afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from tools import bench_inputs
from tools.bench_report import render, targets
PROJECT_DIR = Path(__file__).resolve().parent.parent

MIB: Final = 1 << 20
FULL: Final = {"templates": (1, 10, 100, 1000), "children": (1, 10, 50), "contexts": (MIB, 100 * MIB, 1024 * MIB)}
QUICK: Final = {"templates": (1, 10, 50), "children": (1, 5), "contexts": (MIB, 100 * MIB)}
SMALL_FILES: Final = 10_000
HELPERS: Final = ("tools.build_image", "tools.pg_backup")
RACY_SECONDS: Final = 2.1


class BenchError(Exception):
    """A child run failed; carries its stderr."""


class Runner:
    """Starts the fresh interpreters, with a private bytecode cache and egoengine cache."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self.env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        self.env["PYTHONPYCACHEPREFIX"] = str(scratch / "pycache")
        self.env["EGOENGINE_CACHE_DIR"] = str(scratch / "cache")
        self._specs = 0

    def forget_context_digests(self) -> None:
        """Make the context cache cold, and only it (the template parse cache stays warm)."""
        shutil.rmtree(Path(self.env["EGOENGINE_CACHE_DIR"]) / "context-digests", ignore_errors=True)

    def child(self, kind: str, spec: dict[str, Any] | None = None) -> dict[str, float]:
        command = [sys.executable, "-m", "tools.bench_child", kind]
        if spec is not None:
            self._specs += 1
            path = self.scratch / f"spec-{self._specs}.json"
            path.write_text(json.dumps(spec))
            command.append(str(path))
        result = subprocess.run(command, cwd=PROJECT_DIR, env=self.env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise BenchError(f"{kind} run failed (exit {result.returncode}): {result.stderr.strip()[-2000:]}")
        return dict(json.loads(result.stdout))

    def wall(self, arguments: Sequence[str]) -> float:
        started = time.perf_counter()
        subprocess.run([sys.executable, *arguments], cwd=PROJECT_DIR, env=self.env, capture_output=True, check=True)
        return time.perf_counter() - started


def _row(case: str, n: int, unit: str, samples: list[dict[str, float]], field: str) -> dict[str, Any]:
    return {
        "case": case,
        "n": n,
        "unit": unit,
        "seconds": statistics.median(sample[field] for sample in samples),
        "peak_rss_mib": max(sample["peak_rss_bytes"] for sample in samples) / MIB,
        "samples": [sample[field] for sample in samples],
    }


def measure_ratio(runner: Runner, stack: str, runs: int) -> dict[str, Any]:
    spec = {"stack": stack}
    runner.child("import-only"), runner.child("plan", spec)  # warm-up: bytecode and caches
    pairs = []
    for index in range(runs):
        order = ("import-only", "plan") if index % 2 == 0 else ("plan", "import-only")
        got = {kind: runner.child(kind, spec if kind == "plan" else None) for kind in order}
        pairs.append((got["import-only"], got["plan"]))
    return {
        "stack": stack,
        "runs": runs,
        "import": _row("import SDKs", 0, "", [p[0] for p in pairs], "total_seconds"),
        "plan": _row("import + evaluate", 0, "", [p[1] for p in pairs], "total_seconds"),
        "ratio": statistics.median(p[1]["total_seconds"] / p[0]["total_seconds"] for p in pairs),
        "cpu_ratio": statistics.median(p[1]["cpu_seconds"] / p[0]["cpu_seconds"] for p in pairs),
    }


def _settle(since: float) -> None:
    """Wait until generated files are older than the racy window (as in a checkout)."""
    time.sleep(max(0.0, since + RACY_SECONDS - time.time()))


def measure_scaling(
    runner: Runner, root: Path, stack: str, sizes: dict[str, tuple[int, ...]], runs: int, quick: bool
) -> list[dict[str, Any]]:
    """Generate every input first, let them settle once, then measure each."""
    plans: list[tuple[str, int, dict[str, Any]]] = []
    for case, generate in (("templates", bench_inputs.templates), ("children", bench_inputs.children)):
        plans += [(case, count, generate(root, count, stack)) for count in sizes[case]]
    if not quick:  # the scale, in one process: the largest of both at once
        both = {**bench_inputs.templates(root, 1000, stack), **bench_inputs.children(root, 50, stack)}
        plans.append(("1,000 templates + 50 children", 1050, both))
    contexts = [(size, bench_inputs.large_context(root, size, stack)) for size in sizes["contexts"]]
    files = {"directory": str(bench_inputs.many_files(root, SMALL_FILES))}
    os.sync()  # write the generated gigabyte back now, not during the first measurements
    _settle(time.time())

    rows: list[dict[str, Any]] = []
    for case, count, overrides in plans:
        spec = {"stack": stack, "overrides": overrides}
        if not quick:
            runner.child("plan", spec)  # caches, as at a second preview (quick: copies of cached files)
        rows.append(_row(case, count, "", [runner.child("plan", spec) for _ in range(runs)], "eval_seconds"))
    for size, overrides in contexts:
        spec = {"stack": stack, "overrides": overrides}
        runner.forget_context_digests()
        rows.append(_row("context cold", size, "bytes", [runner.child("plan", spec)], "eval_seconds"))
        rows.append(_row("context cached", size, "bytes", [runner.child("plan", spec)], "eval_seconds"))
    runner.forget_context_digests()
    rows.append(_row("files cold", SMALL_FILES, "files", [runner.child("digest", files)], "total_seconds"))
    repeats = max(runs, 3)
    rows.append(_row("files cached", SMALL_FILES, "files", [runner.child("digest", files) for _ in range(repeats)], "total_seconds"))
    rows.append(_row("files scan floor", SMALL_FILES, "files", [runner.child("scan-floor", files) for _ in range(repeats)], "total_seconds"))
    return rows


def measure_helpers(runner: Runner, runs: int) -> list[dict[str, Any]]:
    rows = []
    for module in HELPERS:
        runner.wall(["-m", module, "--help"])  # warm-up
        samples = [runner.wall(["-m", module, "--help"]) for _ in range(runs)]
        rows.append({"case": f"{module} --help", "n": 0, "unit": "", "seconds": statistics.median(samples),
                     "peak_rss_mib": None, "samples": samples})
    return rows


def fit(rows: list[dict[str, Any]], case: str) -> dict[str, float] | None:
    points = [(row["n"], row["seconds"]) for row in rows if row["case"] == case]
    if len(points) < 2:
        return None
    slope, intercept = statistics.linear_regression(*zip(*points))
    correlation = statistics.correlation(*zip(*points)) if len(points) > 2 else 1.0
    return {"slope_seconds": slope, "intercept_seconds": intercept, "r_squared": correlation**2}


def bench(stack: str, runs: int, quick: bool) -> dict[str, Any]:
    started = time.perf_counter()
    scale_runs = 1 if quick else 3
    with tempfile.TemporaryDirectory(prefix="egoengine-bench-") as scratch, bench_inputs.workspace() as root:
        runner = Runner(Path(scratch))
        ratio = measure_ratio(runner, stack, runs)
        rows = measure_scaling(runner, root, stack, QUICK if quick else FULL, scale_runs, quick)
        helpers = measure_helpers(runner, max(runs, 3))
    report: dict[str, Any] = {
        "stack": stack,
        "quick": quick,
        "cpus": os.cpu_count(),
        "load_average": list(os.getloadavg()),
        "ratio": ratio,
        "scaling": rows,
        "fits": {case: fit(rows, case) for case in ("templates", "children")},
        "helpers": helpers,
        "seconds": time.perf_counter() - started,
    }
    report["targets"] = targets(report)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small subset (well under 30 s)")
    parser.add_argument("--runs", type=int, help="pairs for the ratio (default 15, quick 3)")
    parser.add_argument("--stack", default="vermissian", help="stack to evaluate (default vermissian)")
    parser.add_argument("--out", type=Path, default=PROJECT_DIR / "bench", help="where the JSON and PNG go")
    args = parser.parse_args(argv)
    runs = args.runs if args.runs is not None else (3 if args.quick else 15)
    if runs < 1:
        parser.error("--runs: expected a positive number of runs")
    try:
        report = bench(args.stack, runs, args.quick)
    except (BenchError, subprocess.CalledProcessError) as error:
        print(f"bench: {error}", file=sys.stderr)
        return 2
    name = "quick" if args.quick else "results"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")
    from tools.bench_plot import draw  # matplotlib only here: the measurements never load it

    draw(report, args.out / ("quick.png" if args.quick else "curves.png"))
    sys.stdout.write(render(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
