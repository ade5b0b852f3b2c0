"""The `op` CLI check: pulumi-onepassword runs `op` (>= 2.23.0) for every op:// secret.

Stand-ins for `op` on PATH: none, an old one, a good one, one that prints no version. The program
itself (`__main__.py`) runs on the mocked engine to show the check comes before any resource.
"""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import pytest

from components.errors import ConfigError
from components.onepassword_cli import check_op_cli
from tools import mock_engine, plan_stubs

PROJECT = Path(__file__).resolve().parents[2]


def stand_in_op(directory: Path, answer: str, name: str = "op") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    # Records its environment, so the test can show the version check hands it no token.
    path.write_text(f'#!/bin/sh\nenv > "{directory}/env-seen"\n[ "$1" = --version ] && {answer}\n')
    path.chmod(0o755)
    return path


def env_with(bin_dir: Path) -> dict[str, str]:
    return {"PATH": f"{bin_dir}:/usr/bin:/bin", "OP_SERVICE_ACCOUNT_TOKEN": "ops_canary-token-3e1f"}


def test_without_op_the_line_names_the_install_and_the_config_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        check_op_cli(None, {"PATH": str(tmp_path)})
    message = str(raised.value)
    assert message.startswith("config onepassword:opCliPath: the 1Password CLI 'op' is not on PATH")
    assert "op >= 2.23.0" in message and "pkgs._1password-cli" in message and "\n" not in message


def test_an_old_op_is_refused_with_its_version(tmp_path: Path) -> None:
    stand_in_op(tmp_path / "bin", "echo 2.22.1")
    with pytest.raises(ConfigError, match=r"is 2\.22\.1, older than 2\.23\.0; expected the 1Password CLI"):
        check_op_cli(None, env_with(tmp_path / "bin"))


def test_a_good_op_passes_and_gets_no_token(tmp_path: Path) -> None:
    stand_in_op(tmp_path / "bin", "echo 2.30.3")
    assert check_op_cli(None, env_with(tmp_path / "bin")) == "2.30.3"
    assert "canary-token" not in (tmp_path / "bin" / "env-seen").read_text()


def test_op_cli_path_and_op_cli_path_env_are_honoured_in_the_providers_order(tmp_path: Path) -> None:
    configured = stand_in_op(tmp_path / "opt", "echo 2.31.0", name="op-cli")
    from_env = stand_in_op(tmp_path / "env", "echo 2.24.0", name="op-env")
    env = {"PATH": "/nonexistent", "OP_CLI_PATH": str(from_env)}
    assert check_op_cli(str(configured), env) == "2.31.0"
    assert check_op_cli(None, env) == "2.24.0"
    with pytest.raises(ConfigError, match=r"'/nowhere/op' is not an executable file"):
        check_op_cli("/nowhere/op", env)


def test_an_op_that_prints_no_version_is_refused(tmp_path: Path) -> None:
    stand_in_op(tmp_path / "bin", "echo 'op: command failed'; exit 1")
    with pytest.raises(ConfigError, match=r"--version did not print a version"):
        check_op_cli(None, env_with(tmp_path / "bin"))


def run_main(stack: str, monkeypatch: pytest.MonkeyPatch, bin_dir: Path) -> mock_engine.EngineRun:
    """`__main__.py` itself on the mocked engine, with `op` looked up on ``bin_dir`` only."""
    monkeypatch.setenv("PATH", str(bin_dir))
    config, secret_keys = plan_stubs.stack_config(stack, None, op_token=plan_stubs.OP_TOKEN_PLACEHOLDER)
    # A socket path nothing listens on: the run asks no engine of this machine, whatever it has.
    config["egoengine:engine"] = json.dumps({"host": f"unix://{bin_dir}/no-engine.sock", "socketGid": 998})

    def program() -> dict:
        runpy.run_path(str(PROJECT / "__main__.py"), run_name="__main__")
        return {}

    return mock_engine.run(program, stack=stack, config=config, secret_keys=secret_keys,
                           preview=True, stubs=plan_stubs.stubs_for(config))


def test_the_program_stops_before_any_resource_when_op_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"^config onepassword:opCliPath: the 1Password CLI 'op' is not on PATH"):
        run_main("vermissian", monkeypatch, tmp_path / "empty")


def test_a_stack_without_op_secrets_needs_no_op(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "empty").mkdir()
    run = run_main("dev", monkeypatch, tmp_path / "empty")
    assert run.by_type("docker:index/container:Container")


def test_with_a_good_op_the_program_goes_on_to_read_the_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stand_in_op(tmp_path / "bin", "echo 2.30.3")
    run = run_main("vermissian", monkeypatch, tmp_path / "bin")
    assert any(token == "onepassword:index/getItem:getItem" for token, _args in run.invokes)
