"""The benchmark's table and its targets (issue 12), from the report ``tools.bench`` builds."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

MIB: Final = 1 << 20
RATIO_TARGET: Final = 1.6
LARGE_CONTEXT_RSS_MIB: Final = 150
CACHED_FILES_SECONDS: Final = 0.050
HELPER_SECONDS: Final = 0.150
QUICK_SECONDS: Final = 30


def _size(row: dict[str, Any]) -> str:
    if row["unit"] == "bytes":
        return f"{row['n'] / MIB:g} MiB" if row["n"] < 1024 * MIB else f"{row['n'] / (1024 * MIB):g} GiB"
    return f"{row['n']:,}" if row["n"] else ""


def _rows(report: dict[str, Any], case: str) -> list[dict[str, Any]]:
    return [row for row in report["scaling"] if row["case"] == case]


def targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target with its measured value and whether this run met it."""
    found: list[dict[str, Any]] = []

    def check(name: str, value: float | None, limit: float, unit: str) -> None:
        if value is not None:
            found.append({"target": name, "value": value, "limit": limit, "unit": unit, "met": value <= limit})

    check(f"{report['stack']} evaluation / bare SDK import (paired median)", report["ratio"]["ratio"], RATIO_TARGET, "x")
    largest = max(_rows(report, "context cold"), key=lambda row: row["n"], default=None)
    if largest is not None:
        check(f"peak RSS, plan with a {_size(largest)} context", largest["peak_rss_mib"], LARGE_CONTEXT_RSS_MIB, "MiB")
    cached = _rows(report, "files cached")
    if cached:
        check(f"rehash of an unchanged {cached[0]['n']:,}-file context", cached[0]["seconds"], CACHED_FILES_SECONDS, "s")
    for helper in report["helpers"]:
        check(f"start-up of {helper['case']}", helper["seconds"], HELPER_SECONDS, "s")
    if report["quick"]:
        check("make bench QUICK=1, whole run", report["seconds"], QUICK_SECONDS, "s")
    return found


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(header, widths)).rstrip()]
    lines.append("  ".join("-" * width for width in widths))
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    return lines


def render(report: dict[str, Any]) -> str:
    ratio = report["ratio"]
    load = ", ".join(f"{value:.2f}" for value in report["load_average"])
    lines = [
        f"egoengine benchmark: stack {report['stack']}{' (quick)' if report['quick'] else ''}, "
        f"{report['cpus']} CPUs, load average {load} at the end; medians of fresh interpreters",
        "",
    ]
    rows = [
        (case["case"], "", f"{case['seconds']:.3f} s", "", f"{case['peak_rss_mib']:.0f} MiB")
        for case in (ratio["import"], ratio["plan"])
    ]
    rows.append((f"ratio ({ratio['runs']} pairs, median of pairs)", "", f"{ratio['ratio']:.2f}x", "wall time", ""))
    if "cpu_ratio" in ratio:
        rows.append(("ratio of CPU time (same pairs)", "", f"{ratio['cpu_ratio']:.2f}x", "process time", ""))
    for row in report["scaling"]:
        per = ""
        if row["case"] in ("templates", "children") and row["n"]:
            per = f"{row['seconds'] / row['n'] * 1000:.2f} ms each"
        rows.append((row["case"], _size(row), f"{row['seconds']:.3f} s", per, f"{row['peak_rss_mib']:.0f} MiB"))
    for helper in report["helpers"]:
        rows.append((helper["case"], "", f"{helper['seconds']:.3f} s", "wall, start-up included", ""))
    lines += _table(("case", "size", "median", "", "peak RSS"), rows)
    lines.append("")
    for case, fitted in report["fits"].items():
        if fitted:
            lines.append(
                f"slope per {'child' if case == 'children' else 'template'}: {fitted['slope_seconds'] * 1000:.2f} ms "
                f"(intercept {fitted['intercept_seconds']:.3f} s, r² {fitted['r_squared']:.3f})"
            )
    lines.append("")
    lines += _table(
        ("target", "measured", "limit", "met"),
        [
            (t["target"], f"{t['value']:.3f} {t['unit']}", f"{t['limit']:g} {t['unit']}", "yes" if t["met"] else "NO")
            for t in report["targets"]
        ],
    )
    lines.append(f"\nwhole run: {report['seconds']:.1f} s")
    return "\n".join(lines) + "\n"
