"""One benchmark measurement, in a fresh interpreter started by ``tools.bench``.

    python -m tools.bench_child KIND [SPEC.json]

It prints one JSON object on stdout. Only the standard library is imported at top level, so the
clock starts before any SDK is loaded. Kinds:

- ``import-only``: import the SDKs (``SDK_MODULES``) and nothing else;
- ``plan``: the same imports, then the program's modules and one evaluation of the stack's graph on
  the mocked engine (``tools.plan_stubs.run_stack_offline``, every check that preview runs), with
  the spec's config ``overrides``;
- ``digest``: ``context_digest`` of the spec's ``directory`` (the cache directory comes from the
  environment, as in the program);
- ``scan-floor``: only ``os.scandir`` and ``lstat`` of every entry under ``directory``: the least any
  rehash of that directory costs, for comparison.

Every kind reports ``peak_rss_bytes``, the process's maximum resident set size; the first two also
``cpu_seconds`` (process CPU time, less disturbed than wall time by other work on the machine).
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import sys
import time
from typing import Any, Final

SDK_MODULES: Final = (
    "pulumi",
    "pulumi_docker",
    "pulumi_postgresql",
    "pulumi_command",
    "pulumi_onepassword",
    "pulumi_random",
    "pydantic",
)
KINDS: Final = ("import-only", "plan", "digest", "scan-floor")


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def _scan_floor(directory: str) -> int:
    count, pending = 0, [directory]
    while pending:
        with os.scandir(pending.pop()) as scan:
            for item in scan:
                item.stat(follow_symlinks=False)
                count += 1
                if item.is_dir(follow_symlinks=False):
                    pending.append(item.path)
    return count


def measure(kind: str, spec: dict[str, Any]) -> dict[str, float]:
    start, cpu_start = time.perf_counter(), time.process_time()
    if kind in ("import-only", "plan"):
        for module in SDK_MODULES:
            importlib.import_module(module)
        imported = time.perf_counter()
        result = {"import_seconds": imported - start}
        if kind == "plan":
            from tools.plan_stubs import run_stack_offline

            run_stack_offline(spec.get("stack", "vermissian"), overrides=spec.get("overrides"))
            end, cpu_end = time.perf_counter(), time.process_time()
            result["eval_seconds"] = end - imported
        else:
            end, cpu_end = imported, time.process_time()
        result["total_seconds"] = end - start
        result["cpu_seconds"] = cpu_end - cpu_start
    elif kind == "digest":
        from components.context_digest import context_digest

        begun = time.perf_counter()
        context_digest(spec["directory"])
        end = time.perf_counter()
        result = {"total_seconds": end - begun}
    elif kind == "scan-floor":
        begun = time.perf_counter()
        _scan_floor(spec["directory"])
        result = {"total_seconds": time.perf_counter() - begun}
    else:
        raise SystemExit(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    result["peak_rss_bytes"] = _peak_rss_bytes()
    return result


def main() -> int:
    kind = sys.argv[1]
    spec: dict[str, Any] = {}
    if len(sys.argv) > 2:
        with open(sys.argv[2], encoding="utf-8") as handle:
            spec = json.load(handle)
    print(json.dumps(measure(kind, spec)))
    if kind == "plan":
        from tools.plan_stubs import close_event_loops

        close_event_loops()  # after the clock, and only in the child: it ends the process's loops
    return 0


if __name__ == "__main__":
    sys.exit(main())
