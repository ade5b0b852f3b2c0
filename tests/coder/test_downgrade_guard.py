"""``python -m tools.downgrade_guard`` against the fake Coder's ``/api/v2/buildinfo``, run the way
the Command runs it, and its place in the graph (after the backup, before the container)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.coder.conftest import REPO_ROOT
from tests.coder.fake_coder import FakeCoder
from tests.unit.conftest import run_stack
from tools.mock_engine import EngineRun, unwrap

COMMAND = "command:local:Command"
CONTAINER = "docker:index/container:Container"


@pytest.fixture
def coder_v2_26() -> Iterator[FakeCoder]:
    fake = FakeCoder(version="v2.26.6+ab12cd3")
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


def guard(
    configured: str, url: str, *extra: str, previous: str | None = None, backups: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PULUMI_COMMAND_STDOUT"}
    if previous is not None:
        env["PULUMI_COMMAND_STDOUT"] = previous
    arguments = ["--configured", configured, "--url", url, *extra]
    if backups is not None:
        arguments += ["--backup-dir", str(backups)]
    return subprocess.run(
        [sys.executable, "-m", "tools.downgrade_guard", *arguments],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60,
    )


def test_an_upgrade_or_the_same_version_passes_and_prints_the_configured_version(
    coder_v2_26: FakeCoder,
) -> None:
    for configured in ("v2.26.6", "v2.27.0"):
        result = guard(configured, coder_v2_26.url)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == configured


def test_a_downgrade_fails_with_both_versions_and_the_restore_procedure(
    coder_v2_26: FakeCoder, tmp_path: Path
) -> None:
    dump = tmp_path / "coder-20261130T080000Z-before-v2.26.6-e1f18785.dump"
    dump.write_bytes(b"")
    (tmp_path / "coder-20261101T080000Z-before-v2.25.1-aaaaaaaa.dump").write_bytes(b"")

    result = guard("v2.25.1", coder_v2_26.url, backups=tmp_path)

    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith(
        f"downgrade_guard: refusing to downgrade Coder: v2.26.6 is running (GET {coder_v2_26.url}"
        "/api/v2/buildinfo) and egoengine:coder.version is v2.25.1"
    )
    assert f"restore {dump} with pg_restore --clean" in line
    assert "egoengine:coder.allowDowngrade: true" in line
    assert result.stdout == ""


def test_allow_downgrade_lets_it_through(coder_v2_26: FakeCoder) -> None:
    result = guard("v2.25.1", coder_v2_26.url, "--allow-downgrade")
    assert result.returncode == 0 and result.stdout.strip() == "v2.25.1"


def test_with_coder_down_the_last_started_version_counts(closed_port_url: str) -> None:
    refused = guard("v2.25.1", closed_port_url, previous="v2.26.6\n")
    assert refused.returncode == 1
    assert "v2.26.6 is running (the version the last up started" in refused.stderr
    assert guard("v2.25.1", closed_port_url).returncode == 0  # first deploy: nothing to compare


def test_bad_arguments_are_one_line_exit_2(closed_port_url: str) -> None:
    result = guard("latest", closed_port_url)
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert "'latest' is not a release tag; expected vX.Y.Z" in line


def test_the_guard_runs_after_the_backup_and_before_the_coder_container(vermissian_up: EngineRun) -> None:
    run = vermissian_up
    check = run.one(COMMAND, "downgrade-guard-check")
    dump = run.one(COMMAND, "pg-dump")
    assert dump.urn in check.dependencies
    assert check.urn in run.one(CONTAINER, "coder-container").dependencies
    create = unwrap(check.inputs)["create"]
    assert "--configured v2.25.1" in create and "--url http://127.0.0.1:7080" in create
    assert "--allow-downgrade" not in create
    allowed = run_stack(
        "vermissian",
        overrides={"egoengine:coder": {**_vermissian_coder(), "allowDowngrade": True}},
    )
    assert "--allow-downgrade" in unwrap(allowed.one(COMMAND, "downgrade-guard-check").inputs)["create"]


def _vermissian_coder() -> dict[str, object]:
    return {
        "version": "v2.25.1",
        "digest": "sha256:e1f1878546a26a787a6ac34a4f83555aec75e6345e17eb49406a02f127787281",
        "accessUrl": "https://coder.husbuddies.gay",
        "port": 7080,
        "bindAddress": "127.0.0.1",
        "network": "host",
    }
