"""The benchmark's curves as one small PNG (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: CI and the deploy host have none

import matplotlib.pyplot as plt  # noqa: E402  (the backend is chosen first)

MIB = 1 << 20


def _rss_axis(axes: Any, xs: list[float], rss: list[float], label: str) -> None:
    twin = axes.twinx()
    twin.plot(xs, rss, "s:", color="tab:gray")
    twin.set_ylim(0, max([*rss, 160.0]) * 1.1)
    twin.set_ylabel(label, color="tab:gray")


def _scaling(axes: Any, report: dict[str, Any], case: str, label: str) -> None:
    rows = [row for row in report["scaling"] if row["case"] == case]
    counts = [row["n"] for row in rows]
    axes.plot(counts, [row["seconds"] for row in rows], "o-", label="measured")
    fitted = report["fits"].get(case)
    if fitted and counts:
        line = [fitted["intercept_seconds"] + fitted["slope_seconds"] * n for n in counts]
        axes.plot(counts, line, "--", label=f"fit: {fitted['slope_seconds'] * 1000:.2f} ms per {label}")
    axes.set_xscale("log")
    axes.set_xlabel(case)
    axes.set_ylabel("evaluation (s)")
    axes.set_title(f"{case} in one evaluation (dotted: peak RSS)")
    axes.legend(fontsize=8, loc="upper left")
    _rss_axis(axes, counts, [row["peak_rss_mib"] for row in rows], "peak RSS (MiB)")


def _contexts(axes: Any, report: dict[str, Any]) -> None:
    for case, style in (("context cold", "o-"), ("context cached", "s-")):
        rows = [row for row in report["scaling"] if row["case"] == case]
        axes.plot([row["n"] / MIB for row in rows], [row["seconds"] for row in rows], style, label=case)
    axes.set_xscale("log")
    axes.set_xlabel("child context (MiB)")
    axes.set_ylabel("evaluation (s)")
    axes.set_title("one child, its context's size (dotted: peak RSS, cold)")
    axes.legend(fontsize=8, loc="upper left")
    rows = [row for row in report["scaling"] if row["case"] == "context cold"]
    _rss_axis(axes, [row["n"] / MIB for row in rows], [row["peak_rss_mib"] for row in rows], "peak RSS (MiB)")


def _bars(axes: Any, report: dict[str, Any]) -> None:
    ratio = report["ratio"]
    labels = ["import SDKs", "import + evaluate"]
    values = [ratio["import"]["seconds"], ratio["plan"]["seconds"]]
    for row in report["scaling"]:
        if row["case"].startswith("files"):
            labels.append(f"{row['n']:,} files: {row['case'][6:]}")
            values.append(row["seconds"])
    for helper in report["helpers"]:
        labels.append(helper["case"].replace("tools.", "").replace(" --help", " start"))
        values.append(helper["seconds"])
    axes.barh(labels, [value * 1000 for value in values], color="tab:blue")
    axes.invert_yaxis()
    axes.set_xlabel("milliseconds (median)")
    axes.set_title(f"ratio {ratio['ratio']:.2f}x; context rehash; helpers")
    axes.tick_params(axis="y", labelsize=8)


def draw(report: dict[str, Any], path: Path) -> None:
    figure, grid = plt.subplots(2, 2, figsize=(11, 7.5), dpi=64)
    _scaling(grid[0][0], report, "templates", "template")
    _scaling(grid[0][1], report, "children", "child")
    _contexts(grid[1][0], report)
    _bars(grid[1][1], report)
    figure.suptitle(f"egoengine benchmark, stack {report['stack']} ({report['cpus']} shared CPUs)")
    figure.subplots_adjust(left=0.07, right=0.93, bottom=0.08, top=0.9, wspace=0.62, hspace=0.4)
    figure.savefig(path)
    plt.close(figure)
