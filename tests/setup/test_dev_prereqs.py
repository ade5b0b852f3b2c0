"""The prerequisite checks of `make dev` in-process, and the make targets, without the machine's own sockets."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.setup.conftest import PROJECT
from tools import dev_prereqs


def test_socket_candidates_never_depend_on_the_machine(tmp_path: Path) -> None:
    assert dev_prereqs.socket_candidates({"DOCKER_HOST": "unix:///x.sock", "XDG_RUNTIME_DIR": "/run/user/1"}) == ["unix:///x.sock"]
    system = (str(tmp_path / "docker.sock"), str(tmp_path / "podman.sock"))
    candidates = dev_prereqs.socket_candidates({"XDG_RUNTIME_DIR": "/run/user/1"}, system)
    assert candidates == [f"unix://{system[0]}", f"unix://{system[1]}", "unix:///run/user/1/podman/podman.sock",
                          "unix:///run/user/1/docker.sock"]
    report = dev_prereqs.Report()
    missing = dev_prereqs.check_engine(candidates[:2], report)
    assert missing is not None and missing.what.startswith("a Docker or Podman socket (none found at")
    assert dev_prereqs.SYSTEM_SOCKETS == ("/var/run/docker.sock", "/run/podman/podman.sock")


def test_the_make_targets_run_the_tool() -> None:
    def dry(*args: str) -> str:
        return subprocess.run(["make", "-n", "-W", ".venv/.installed", *args], cwd=PROJECT, capture_output=True,
                              text=True, check=True).stdout

    assert "python -m tools.dev up" in dry("dev")
    assert "python -m tools.dev down --all" in dry("dev-down", "ALL=1")
    assert "python -m tools.dev down \n" in dry("dev-down") or dry("dev-down").rstrip().endswith("tools.dev down")
    assert "python -m tools.dev preview vermissian" in dry("preview", "STACK=vermissian")
