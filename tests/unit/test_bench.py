"""The benchmark's arithmetic, targets, table and picture, on a made-up report (no timing here)."""

from __future__ import annotations

from pathlib import Path

from tools import bench_inputs
from tools.bench import fit
from tools.bench_report import render, targets


def row(case: str, n: int, seconds: float, unit: str = "", rss: float = 80.0) -> dict:
    return {"case": case, "n": n, "unit": unit, "seconds": seconds, "peak_rss_mib": rss, "samples": [seconds]}


def report() -> dict:
    scaling = [row("templates", n, 0.2 + 0.001 * n) for n in (1, 10, 100, 1000)]
    scaling += [row("children", n, 0.3 + 0.01 * n) for n in (1, 10, 50)]
    scaling += [row("context cold", 1 << 30, 1.5, "bytes", 140.0), row("context cached", 1 << 30, 0.4, "bytes")]
    scaling += [row("files cached", 10_000, 0.06, "files"), row("files scan floor", 10_000, 0.03, "files")]
    made = {
        "stack": "vermissian", "quick": False, "cpus": 2, "load_average": [1.0, 1.0, 1.0], "seconds": 100.0,
        "ratio": {"runs": 3, "ratio": 1.5, "import": row("import SDKs", 0, 0.2), "plan": row("import + evaluate", 0, 0.3)},
        "scaling": scaling,
        "helpers": [row("tools.build_image --help", 0, 0.08), row("tools.pg_backup --help", 0, 0.2)],
    }
    made["fits"] = {case: fit(scaling, case) for case in ("templates", "children")}
    made["targets"] = targets(made)
    return made


def test_the_fit_finds_the_slope_per_item() -> None:
    fitted = report()["fits"]
    assert abs(fitted["templates"]["slope_seconds"] - 0.001) < 1e-12
    assert abs(fitted["children"]["slope_seconds"] - 0.01) < 1e-12
    assert fitted["templates"]["r_squared"] > 0.999


def test_targets_say_which_were_met() -> None:
    met = {t["target"]: t["met"] for t in report()["targets"]}
    assert met["vermissian evaluation / bare SDK import (paired median)"] is True
    assert met["peak RSS, plan with a 1 GiB context"] is True
    assert met["rehash of an unchanged 10,000-file context"] is False
    assert met["start-up of tools.pg_backup --help"] is False


def test_the_table_shows_every_row_and_slope() -> None:
    text = render(report())
    assert "slope per template: 1.00 ms" in text and "slope per child: 10.00 ms" in text
    assert any(line.startswith("context cold") and "1 GiB" in line for line in text.splitlines())
    assert text.count("NO") == 2


def test_the_picture_is_a_png(tmp_path: Path) -> None:
    from tools.bench_plot import draw

    draw(report(), tmp_path / "curves.png")
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_generated_inputs_are_removed_and_hidden_inside_the_project() -> None:
    with bench_inputs.workspace() as root:
        overrides = bench_inputs.templates(root, 3, "vermissian")
        assert root.parent == bench_inputs.PROJECT_DIR and root.name.startswith(".")
        assert sorted(overrides["egoengine:templates"]["overrides"]) == ["t0000", "t0001", "t0002"]
        assert len(list((root / "templates-3").glob("*/main.tf"))) == 3
    assert not root.exists()


def test_each_measurement_reports_its_time_and_peak_rss(tmp_path: Path) -> None:
    """In this process: the child's fresh interpreter adds nothing to what is checked here."""
    from tools.bench_child import measure

    files = bench_inputs.many_files(tmp_path, 150)
    plan = measure("plan", {"stack": "vermissian"})
    assert plan["total_seconds"] >= plan["eval_seconds"] > 0
    for kind in ("digest", "scan-floor"):
        assert measure(kind, {"directory": str(files)})["total_seconds"] > 0
    assert plan["peak_rss_bytes"] > 10 * 2**20
