"""`make dev`, `make dev-down` and `make preview` (tools/dev.py), run for real in a copy of the
project with a stand-in Pulumi CLI and a stand-in engine on a real unix socket."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.setup.conftest import SALT, Sandbox

# Each case runs the tool in subprocesses against a stand-in engine server: seconds, not milliseconds.
pytestmark = pytest.mark.integration

INSTALL_LINES = ("Debian/Ubuntu:", "macOS:", "NixOS:")


def test_everything_missing_is_reported_at_once_with_install_lines(sandbox: Sandbox) -> None:
    sandbox.env["DOCKER_HOST"] = f"unix://{sandbox.project}/no-engine.sock"
    result = sandbox.run("up")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "nothing was changed" in result.stderr
    items = result.stderr.split("\n- ")[1:]
    heads = [item.splitlines()[0] for item in items]
    assert [head.split(" ")[:2] for head in heads] == [["the", "Pulumi"], ["pg_dump", "('pg_dump',"], ["a", "Docker"]]
    assert "3.272.0 or newer" in items[0] and "--version 3.272.0" in items[0]
    for item in items:
        assert all(line in item for line in INSTALL_LINES), item
    assert not (sandbox.project / ".pulumi-state").exists() and sandbox.git_status() == ""


def test_an_old_pulumi_cli_is_named_with_its_version(sandbox: Sandbox) -> None:
    sandbox.with_pulumi_and_pg_dump()
    sandbox.env["STAND_IN_VERSION"] = "v3.100.0"
    result = sandbox.run("up")
    assert result.returncode == 1
    assert "the Pulumi CLI 3.272.0 or newer (this one is v3.100.0)" in result.stderr
    assert "pg_dump" not in result.stderr and "socket" not in result.stderr


def test_a_rootless_engine_is_refused_with_the_way_out(sandbox: Sandbox) -> None:
    sandbox.with_pulumi_and_pg_dump()
    sandbox.engine.rootless = True
    result = sandbox.run("up")
    assert result.returncode == 1
    assert f"a rootful engine socket ({sandbox.engine.socket_path} is rootless podman" in result.stderr
    assert "podman.socket" in result.stderr and "docker.io" in result.stderr
    assert sandbox.calls() == []


def test_brings_up_dev_without_changing_a_tracked_file(sandbox: Sandbox) -> None:
    sandbox.with_pulumi_and_pg_dump()
    sandbox.env["PULUMI_BACKEND_URL"] = "https://api.example.test"  # a shell's own backend is not used
    first = sandbox.run("up")
    assert first.returncode == 0, first.stderr
    state = sandbox.project / ".pulumi-state"
    machine = state / "dev.config.yaml"
    calls = sandbox.calls()
    assert [c["argv"][:3] for c in calls] == [["stack", "select", "dev"], ["stack", "init", "dev"], ["up", "-s", "dev"]]
    init, up = calls[1], calls[2]
    assert init["argv"] == ["stack", "init", "dev", "--secrets-provider", "passphrase", "--no-select"]
    assert Path(init["cwd"]) != sandbox.project  # the salt is written into a scratch copy, not the project
    assert up["argv"] == ["up", "-s", "dev", "--config-file", str(machine), "--policy-pack", "policy", "--yes"]
    assert up["env"] == {"PULUMI_BACKEND_URL": f"file://{state}", "PULUMI_CONFIG_PASSPHRASE_FILE": str(state / "dev-passphrase")}
    document = yaml.safe_load(up["config"])
    tracked = yaml.safe_load((sandbox.project / "Pulumi.dev.yaml").read_text())["config"]
    assert document["encryptionsalt"] == SALT
    assert document["config"] == {**tracked, "egoengine:engine": {"host": sandbox.engine.host}}
    assert (machine.stat().st_mode & 0o777) == 0o600 and ((state / "dev-passphrase").stat().st_mode & 0o777) == 0o600
    assert f"the podman engine at {sandbox.engine.host}" in first.stdout
    assert sandbox.git_status() == ""

    # A second `make dev` reuses the stack and its salt, and still changes no tracked file.
    Path(sandbox.env["CALLS"]).unlink()
    assert sandbox.run("up").returncode == 0
    assert [c["argv"][:2] for c in sandbox.calls()] == [["stack", "select"], ["up", "-s"]]
    assert yaml.safe_load(machine.read_text())["encryptionsalt"] == SALT and sandbox.git_status() == ""


def test_dev_down_keeps_the_protected_data(sandbox: Sandbox) -> None:
    sandbox.with_pulumi_and_pg_dump()
    assert sandbox.run("up").returncode == 0
    Path(sandbox.env["CALLS"]).unlink()
    result = sandbox.run("down")
    assert result.returncode == 0, result.stderr
    [destroy] = sandbox.calls()
    assert destroy["argv"][:3] == ["destroy", "-s", "dev"] and "--exclude-protected" in destroy["argv"]
    assert sandbox.engine.deleted == [] and (sandbox.project / ".pulumi-state" / "dev.config.yaml").exists()


def test_dev_down_all_asks_first_and_then_removes_everything(sandbox: Sandbox) -> None:
    sandbox.with_pulumi_and_pg_dump()
    assert sandbox.run("up").returncode == 0
    Path(sandbox.env["CALLS"]).unlink()
    refused = sandbox.run("down", "--all", stdin="yes\n")
    assert refused.returncode == 1 and "Not confirmed; nothing was changed." in refused.stderr
    assert sandbox.calls() == []
    result = sandbox.run("down", "--all", stdin="delete dev data\n")
    assert result.returncode == 0, result.stderr
    assert [c["argv"][:3] for c in sandbox.calls()] == [
        ["stack", "export", "-s"], ["state", "unprotect", "--all"], ["destroy", "-s", "dev"], ["stack", "rm", "dev"]]
    assert "--exclude-protected" not in sandbox.calls()[2]["argv"]
    assert sandbox.engine.deleted == ["/volumes/egoengine-dev-postgres-data"]
    assert not (sandbox.project / ".pulumi-state" / "dev.config.yaml").exists()
    assert sandbox.git_status() == ""


def test_preview_and_dev_down_without_the_cli_say_what_to_install(sandbox: Sandbox) -> None:
    for command, needs in ((("preview", "dev"), "make preview needs the Pulumi CLI"),
                           (("down",), "make dev-down needs the Pulumi CLI")):
        result = sandbox.run(*command)
        assert result.returncode == 1 and needs in result.stderr and "Traceback" not in result.stderr
        assert all(line in result.stderr for line in INSTALL_LINES)


def test_preview_dev_uses_the_machine_config_and_the_dev_passphrase(sandbox: Sandbox) -> None:
    sandbox.with_pulumi_and_pg_dump()
    assert "run `make dev` first" in sandbox.run("preview", "dev").stderr
    assert sandbox.run("up").returncode == 0
    Path(sandbox.env["CALLS"]).unlink()
    assert sandbox.run("preview", "dev").returncode == 0
    [preview] = sandbox.calls()
    state = sandbox.project / ".pulumi-state"
    assert preview["argv"] == ["preview", "-s", "dev", "--config-file", str(state / "dev.config.yaml"),
                               "--policy-pack", "policy", "--diff"]
    assert preview["env"]["PULUMI_CONFIG_PASSPHRASE_FILE"] == str(state / "dev-passphrase")


def test_preview_vermissian_uses_the_production_backend_file(sandbox: Sandbox) -> None:
    sandbox.with_pulumi_and_pg_dump()
    (sandbox.project / "deploy" / "backend.env").write_text("# x\nPULUMI_PRODUCTION_BACKEND=file:///srv/state\n")
    assert "PULUMI_CONFIG_PASSPHRASE" in sandbox.run("preview", "vermissian").stderr
    sandbox.env.update({"PULUMI_CONFIG_PASSPHRASE": "x", "PULUMI_BACKEND_URL": "file:///elsewhere"})
    assert sandbox.run("preview", "vermissian").returncode == 0
    preview = sandbox.calls()[-1]
    assert preview["argv"] == ["preview", "-s", "vermissian", "--policy-pack", "policy", "--diff"]
    assert preview["env"]["PULUMI_BACKEND_URL"] == "file:///srv/state"
