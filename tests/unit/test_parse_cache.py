"""The on-disk template parse cache: never changes a result, costs almost nothing when warm."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from components import parse_cache
from components.errors import ConfigError
from tests.unit.conftest import run_stack
from tools.mock_engine import EngineRun

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = sorted(p for p in (REPO_ROOT / "coder-templates").iterdir() if p.is_dir())
# Overrides make the check parse for the override's variables too (docker-envbuilder's cache_repo).
OVERRIDES = {
    "egoengine:templates": {
        "overrides": {"docker-envbuilder": {"variables": {"cache_repo": "ghcr.io/joshsymonds/envbuilder-cache"}}}
    }
}


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(parse_cache.CACHE_DIR_ENV, str(tmp_path / "cache"))
    return parse_cache.cache_dir()


def declared_all() -> dict[str, dict[str, bool]]:
    return {t.name: parse_cache.declared_variables(t, config_key=f"k ({t.name})") for t in TEMPLATES}


def corrupt(cache: Path, how: str) -> None:
    entries = sorted(cache.glob("*.json"))
    assert len(entries) == len(TEMPLATES)
    for entry in entries:
        if how == "garbage":
            entry.write_bytes(b"\x00\xff not json")
        elif how == "wrong-shape":
            entry.write_text(json.dumps({"variables": {"workspace_image": "yes"}}))
        elif how == "truncated":
            entry.write_text(entry.read_text()[:7])
        elif how == "unreadable":  # root reads any mode, so a directory stands in for it
            entry.unlink()
            entry.mkdir()


def test_cold_warm_and_corrupt_caches_give_the_same_variables(cache: Path) -> None:
    cold = declared_all()
    assert cold["docker-shell"]["op_service_account_token"] is True
    assert cold["docker-shell"]["coder_agent_url"] is False
    assert declared_all() == cold
    for how in ("garbage", "wrong-shape", "truncated", "unreadable"):
        corrupt(cache, how)
        assert declared_all() == cold, how
        if how == "unreadable":
            for entry in cache.glob("*.json"):
                entry.rmdir()
        assert declared_all() == cold


def _inputs(run: EngineRun) -> dict[str, object]:
    return {urn: (reg.type, reg.inputs, reg.dependencies) for urn, reg in run.registrations.items()}


def test_cold_warm_and_corrupt_caches_register_identical_inputs(cache: Path) -> None:
    cold = run_stack("dev", overrides=OVERRIDES)
    assert list(cache.glob("*.json")), "the run did not use the cache"
    warm = run_stack("dev", overrides=OVERRIDES)
    corrupt(cache, "garbage")
    broken = run_stack("dev", overrides=OVERRIDES)
    assert _inputs(cold) == _inputs(warm) == _inputs(broken)
    assert cold.outputs == warm.outputs == broken.outputs


def test_a_cache_that_cannot_be_written_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache directory would go")
    monkeypatch.setenv(parse_cache.CACHE_DIR_ENV, str(blocker))
    assert declared_all()["docker-shell"]["workspace_image"] is False


def test_writes_are_atomic_and_leave_no_temp_file(cache: Path) -> None:
    declared_all()
    assert sorted(p.suffix for p in cache.iterdir()) == [".json"] * len(TEMPLATES)
    assert not [p for p in cache.iterdir() if p.name.startswith(".tmp-")]


def test_a_changed_template_is_parsed_again(cache: Path, tmp_path: Path) -> None:
    template = tmp_path / "tpl"
    template.mkdir()
    (template / "main.tf").write_text('variable "a" {\n  type = string\n}\n')
    assert parse_cache.declared_variables(template, config_key="k") == {"a": False}
    (template / "main.tf").write_text('variable "a" {\n  type      = string\n  sensitive = true\n}\n')
    assert parse_cache.declared_variables(template, config_key="k") == {"a": True}


def test_a_parse_failure_is_never_cached(cache: Path, tmp_path: Path) -> None:
    template = tmp_path / "tpl"
    template.mkdir()
    (template / "main.tf").write_text("variable {\n")
    for _ in range(2):
        with pytest.raises(ConfigError, match="does not parse as HCL"):
            parse_cache.declared_variables(template, config_key="k")
    assert not list(cache.glob("*.json"))


def _hcl2_imported(cache_dir: Path) -> bool:
    code = (
        "import sys; from pathlib import Path; from components import parse_cache\n"
        f"for t in {[str(t) for t in TEMPLATES]!r}:\n"
        "    parse_cache.declared_variables(Path(t), config_key='k')\n"
        "print('hcl2' in sys.modules)\n"
    )
    env = {**os.environ, parse_cache.CACHE_DIR_ENV: str(cache_dir)}
    completed = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60, check=True
    )
    return completed.stdout.strip() == "True"


def test_hcl2_is_imported_only_on_a_miss(tmp_path: Path) -> None:
    assert _hcl2_imported(tmp_path / "cache") is True
    assert _hcl2_imported(tmp_path / "cache") is False


def test_an_unchanged_template_costs_at_most_a_millisecond(cache: Path) -> None:
    declared_all()
    template = next(t for t in TEMPLATES if t.name == "docker-envbuilder")
    samples = []
    for _ in range(50):
        start = time.perf_counter()
        parse_cache.declared_variables(template, config_key="k")
        samples.append(time.perf_counter() - start)
    assert statistics.median(samples) <= 0.001, f"median {statistics.median(samples) * 1000:.3f} ms"


def test_the_default_cache_is_ignored_by_git(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(parse_cache.CACHE_DIR_ENV, raising=False)
    entry = parse_cache.cache_dir() / ("0" * 64 + ".json")
    completed = subprocess.run(
        ["git", "check-ignore", "-q", str(entry.relative_to(REPO_ROOT))], cwd=REPO_ROOT, check=False
    )
    assert completed.returncode == 0, f"{entry} is not ignored by git"
