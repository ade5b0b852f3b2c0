"""`make doctor`: one line per prerequisite, with its fix, from stand-in tools and a real socket."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tools.doctor_probes import socket_access, writable_directory

from .doctor_sandbox import PROJECT, Machine, machine  # noqa: F401 - the fixture

CHECKED = ["pulumi", "python", "pg_dump", "skopeo", "docker", "op", "socket", "backend", "backups"]


def by_name(lines: list[str]) -> dict[str, str]:
    checks = [line for line in lines if not line.startswith("doctor:")]
    return {line.split()[1].rstrip(":"): line for line in checks}


def test_a_ready_machine_gets_one_ok_line_per_prerequisite(machine: Machine, capsys: pytest.CaptureFixture[str]) -> None:
    machine.all_tools()
    machine.stack()
    status, lines, _ = machine.run(capsys)
    checks = by_name(lines)
    assert status == 0, "\n".join(lines)
    assert list(checks) == CHECKED
    assert all(line.startswith("ok ") for line in checks.values()), "\n".join(lines)
    assert "CLI 3.272.0 (SDK 3.272.0)" in checks["pulumi"]
    assert "15.14 >= the server's 15 (the stack's postgres image)" in checks["pg_dump"]
    assert "1Password CLI 2.30.3" in checks["op"]
    assert lines[-1] == "doctor: 0 of 9 failed"


def test_an_empty_machine_gets_a_fix_on_every_failing_line(machine: Machine, capsys: pytest.CaptureFixture[str]) -> None:
    (machine.root / "a-file").write_text("")
    machine.stack(backup={"directory": str(machine.root / "a-file" / "backups")})
    machine.socket_path.unlink()
    machine.backend.rmdir()
    status, lines, _ = machine.run(capsys)
    checks = by_name(lines)
    assert status == 1
    failing = [name for name, line in checks.items() if line.startswith("FAIL")]
    assert failing == ["pulumi", "pg_dump", "skopeo", "docker", "op", "socket", "backend", "backups"]
    assert all("; fix: " in checks[name] for name in failing)
    assert "pkgs._1password-cli" in checks["op"] and "onepassword:opCliPath" in checks["op"]
    assert "egoengine:backup.pgDump" in checks["pg_dump"]
    assert f"fix: mkdir -p -m 0700 {machine.backend}" in checks["backend"]
    assert lines[-1].startswith("doctor: 8 of 9 failed")


def test_too_old_tools_are_named_with_both_versions(machine: Machine, capsys: pytest.CaptureFixture[str]) -> None:
    machine.all_tools()
    machine.tool("pulumi", "v3.200.1")
    machine.tool("pg_dump", "pg_dump (PostgreSQL) 14.11")
    machine.tool("op", "2.22.0")
    machine.stack()
    status, lines, _ = machine.run(capsys)
    checks = by_name(lines)
    assert status == 1
    assert "FAIL pulumi: 3.200.1 is older than the SDK's 3.272.0" in checks["pulumi"]
    assert "FAIL pg_dump: 14.11 is older than the server's 15" in checks["pg_dump"]
    assert "is 2.22.0, older than 2.23.0" in checks["op"]


def test_what_a_stack_does_not_use_is_not_needed(machine: Machine, capsys: pytest.CaptureFixture[str]) -> None:
    machine.tool("pulumi", "v3.272.0")
    machine.tool("pg_dump", "pg_dump (PostgreSQL) 16.2")
    machine.stack(secrets={}, images={"base": {"tag": "22bba72"}})
    status, lines, _ = machine.run(capsys)
    checks = by_name(lines)
    assert status == 0, "\n".join(lines)
    assert checks["op"] == "ok   op: not needed (no secret uses op://)"
    assert "not needed" in checks["skopeo"] and "not needed" in checks["docker"]


def test_a_bad_stack_file_is_one_line_and_exit_2(machine: Machine, capsys: pytest.CaptureFixture[str]) -> None:
    machine.stack(coder={"version": "latest"})
    status, lines, err = machine.run(capsys)
    assert status == 2 and lines == []
    assert err.startswith("doctor: config egoengine:coder.") and err.count("\n") == 1


def test_a_stack_file_without_config_is_one_line_and_exit_2(machine: Machine, capsys: pytest.CaptureFixture[str]) -> None:
    (machine.project / "Pulumi.prod.yaml").write_text("- just a list\n")
    status, lines, err = machine.run(capsys)
    assert (status, lines) == (2, [])
    assert err == "doctor: config Pulumi.prod.yaml: has no config mapping; expected the stack file Pulumi writes (config: ...)\n"


def test_a_path_that_is_not_a_socket_and_a_file_in_place_of_a_directory(tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("")
    assert socket_access(str(tmp_path / "plain")).line().startswith(f"FAIL socket: {tmp_path / 'plain'} is not a socket")
    check = writable_directory("backups", tmp_path / "plain", create=True)
    assert check.status == "FAIL" and "is not a directory" in check.detail


def test_the_makefile_runs_the_doctor_on_the_stacks_backend() -> None:
    def backend(*args: str) -> str:
        completed = subprocess.run(
            ["make", "-s", "--no-print-directory", "--eval", "show-backend: ; @echo $$PULUMI_BACKEND_URL",
             "show-backend", *args],
            cwd=PROJECT, capture_output=True, text=True, timeout=60, check=True, env={"PATH": "/usr/bin:/bin"},
        )
        return completed.stdout.strip()

    production = (PROJECT / "deploy" / "backend.env").read_text().split("PULUMI_PRODUCTION_BACKEND=")[1].split()[0]
    assert backend("STACK=vermissian") == production
    assert backend() == f"file://{PROJECT}/.pulumi-state"
    dry_run = subprocess.run(["make", "-n", "-W", ".venv/.installed", "doctor", "STACK=vermissian"], cwd=PROJECT,
                             capture_output=True, text=True, timeout=60, check=True)
    assert ".venv/bin/python -m tools.doctor vermissian" in dry_run.stdout
