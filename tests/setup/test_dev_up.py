"""`make dev`'s bring-up script, run for real with a recording stand-in for the Pulumi CLI."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]
SCRIPT = PROJECT / "tools" / "dev-up.sh"


def fake_tool(bin_dir: Path, name: str, body: str = "") -> None:
    path = bin_dir / name
    path.write_text(f'#!/bin/sh\necho "{name} $*" >> "$CALLS"\n{body}\n')
    path.chmod(0o755)


@pytest.fixture()
def sandbox(tmp_path: Path) -> dict:
    """A copy of the script's view of the project, a PATH with only the tools we allow."""
    project = tmp_path / "project"
    (project / "tools").mkdir(parents=True)
    shutil.copy(SCRIPT, project / "tools" / "dev-up.sh")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "head", "base64", "mkdir", "dirname", "cat"):
        os.symlink(shutil.which(tool), bin_dir / tool)
    calls = tmp_path / "calls"
    calls.touch()
    env = {
        "PATH": str(bin_dir),
        "CALLS": str(calls),
        "HOME": str(tmp_path),
        "PULUMI_BACKEND_URL": f"file://{project}/.pulumi-state",
    }
    return {"project": project, "bin": bin_dir, "calls": calls, "env": env}


def run(sandbox: dict) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(sandbox["project"] / "tools" / "dev-up.sh")],
        env=sandbox["env"], capture_output=True, text=True, timeout=60,
    )


def test_without_the_pulumi_cli_it_says_what_to_install_and_changes_nothing(sandbox: dict) -> None:
    result = run(sandbox)
    assert result.returncode == 1
    assert "The Pulumi CLI is not installed" in result.stderr and "Nothing was changed" in result.stderr
    assert not (sandbox["project"] / ".pulumi-state").exists()


def test_without_pg_dump_it_stops_before_touching_the_stack(sandbox: dict) -> None:
    fake_tool(sandbox["bin"], "pulumi")
    result = run(sandbox)
    assert result.returncode == 1 and "pg_dump is not installed" in result.stderr
    assert sandbox["calls"].read_text() == ""


def test_without_an_engine_socket_it_says_what_to_install(sandbox: dict) -> None:
    fake_tool(sandbox["bin"], "pulumi")
    fake_tool(sandbox["bin"], "pg_dump")
    sandbox["env"]["XDG_RUNTIME_DIR"] = str(sandbox["project"])  # holds no socket
    if Path("/var/run/docker.sock").is_socket() or Path("/run/podman/podman.sock").is_socket():
        pytest.fail("this test needs a machine without a system engine socket")
    result = run(sandbox)
    assert result.returncode == 1 and "No Docker or Podman socket found" in result.stderr
    assert sandbox["calls"].read_text() == ""


def test_brings_up_dev_on_a_local_backend_with_the_detected_socket(sandbox: dict, tmp_path: Path) -> None:
    # `pulumi stack select` fails the first time (no stack yet), `config get` answers the default.
    fake_tool(sandbox["bin"], "pulumi", 'case "$1 $2" in "stack select") exit 1;; "config get") echo unix:///var/run/docker.sock;; esac')
    fake_tool(sandbox["bin"], "pg_dump")
    runtime = tmp_path / "run"
    (runtime / "podman").mkdir(parents=True)
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(runtime / "podman" / "podman.sock"))
    try:
        sandbox["env"]["XDG_RUNTIME_DIR"] = str(runtime)
        result = run(sandbox)
    finally:
        listener.close()
    assert result.returncode == 0, result.stderr
    calls = sandbox["calls"].read_text().splitlines()
    engine = f"unix://{runtime}/podman/podman.sock"
    pulumi_calls = [c for c in calls if c.startswith("pulumi ")]
    assert pulumi_calls == [
        "pulumi stack select dev",
        "pulumi stack init dev --secrets-provider passphrase",
        "pulumi config get --path egoengine:engine.host -s dev",
        f"pulumi config set --path egoengine:engine.host {engine} -s dev",
        "pulumi up -s dev --policy-pack policy --yes",
    ]
    passphrase = sandbox["project"] / ".pulumi-state" / "dev-passphrase"
    assert passphrase.is_file() and (passphrase.stat().st_mode & 0o777) == 0o600
    assert f"file://{sandbox['project']}/.pulumi-state" in result.stdout
