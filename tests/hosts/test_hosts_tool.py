"""``python -m tools.hosts``: bad input is one line and exit 2, no traceback (no host needed; run
in-process for speed: the second-host tests run the tool as a subprocess)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.hosts.keys import HOST_KEY
from tools import hosts
from tools.mock_engine import PROJECT_DIR


def run_tool(capsys: pytest.CaptureFixture[str], *args: str) -> subprocess.CompletedProcess[str]:
    code = hosts.main(list(args))
    captured = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, captured.out, captured.err)


def write_stack(tmp_path: Path, name: str, hosts: object) -> Path:
    document = yaml.safe_load((PROJECT_DIR / "Pulumi.vermissian.yaml").read_text())
    document["config"]["egoengine:hosts"] = hosts
    path = tmp_path / f"Pulumi.{name}.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("check", "no-such-stack"), "no stack file"),
        (("check", "t", "--stack-file", "{bad_host}"), "egoengine:hosts[0].uri: is not an ssh:// URI"),
        (("check", "t", "--stack-file", "{good}", "--identity", "/nonexistent/key"), "--identity /nonexistent/key: no such key file"),
    ],
    ids=["unknown stack", "bad host entry", "missing identity"],
)
def test_bad_input_is_one_line_and_exit_2(
    args: tuple[str, ...], fragment: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = write_stack(tmp_path, "bad", [{"name": "x", "uri": "tcp://x:2375", "hostKey": HOST_KEY}])
    good = write_stack(tmp_path, "good", [{"name": "x", "uri": "ssh://coder@x", "hostKey": HOST_KEY}])
    files = {"{bad_host}": str(bad), "{good}": str(good)}
    done = run_tool(capsys, *(files.get(a, a) for a in args))
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stdout == "" and len(done.stderr.splitlines()) == 1, done.stderr
    assert fragment in done.stderr and "Traceback" not in done.stderr


def test_a_stack_without_hosts_has_nothing_to_check(capsys: pytest.CaptureFixture[str]) -> None:
    done = run_tool(capsys, "check", "vermissian")
    assert done.returncode == 0 and "egoengine:hosts is empty" in done.stdout
