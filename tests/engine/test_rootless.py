"""A real rootless Podman socket is recognised and refused, by the program and by `make dev`.

Rootless Podman is started as the unprivileged user ``nobody`` (single uid mapping: this machine has
no /etc/subuid ranges, which detection does not need), on a socket under a runtime dir of its own,
and stopped by its pid together with the pause process it leaves holding its user namespace.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import tempfile
from pathlib import Path

import pytest

from components import engine_facts
from components.engine_facts import EngineFacts
from components.errors import ConfigError
from tests.images.conftest import remove_service_dir, start_service
from tests.unit.conftest import run_stack
from tools import dev_prereqs

pytestmark = pytest.mark.integration

# Drop to the user named in argv[1] (no supplementary groups), then exec the rest.
AS_USER = r"""
import os, pwd, sys
user = pwd.getpwnam(sys.argv[1])
os.setgroups([])
os.setgid(user.pw_gid)
os.setuid(user.pw_uid)
os.execvp(sys.argv[2], sys.argv[2:])
"""


@pytest.fixture(scope="module")
def rootless_socket(request: pytest.FixtureRequest) -> Path:
    user = pwd.getpwnam("nobody")
    directory = Path(tempfile.mkdtemp(prefix="egoengine-rootless-"))
    request.addfinalizer(lambda: remove_service_dir(directory))
    os.chown(directory, user.pw_uid, user.pw_gid)
    conf = directory / "containers.conf"
    conf.write_text('[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1000:1000"]\n'
                    '[engine]\nruntime = "runc"\n')
    socket_path = directory / "podman.sock"
    pause_pid = directory / "tmp" / "pause.pid"

    def stop_pause_process() -> None:  # started by this rootless Podman, found by the pid it wrote
        if pause_pid.exists():
            try:
                os.kill(int(pause_pid.read_text().strip()), signal.SIGTERM)
            except (ProcessLookupError, ValueError):
                pass

    request.addfinalizer(stop_pause_process)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(directory),
           "XDG_RUNTIME_DIR": str(directory), "CONTAINERS_CONF": str(conf)}
    argv = [shutil.which("python3") or "/usr/bin/python3", "-c", AS_USER, "nobody", "podman",
            "--root", str(directory / "storage"), "--runroot", str(directory / "run"), "--tmpdir",
            str(directory / "tmp"), "system", "service", "--time=0", f"unix://{socket_path}"]
    service = start_service(argv, directory / "service.log", env, "rootless podman system service",
                            lambda: engine_facts.ping(str(socket_path)), request)

    def stop_user_namespace_child() -> None:
        # Rootless Podman re-executes itself inside its user namespace; that child outlives the
        # pid started here unless it is stopped too (this runs before that pid's own stop).
        for children in Path(f"/proc/{service.pid}/task").glob("*/children"):
            for pid in children.read_text().split():
                try:
                    os.kill(int(pid), signal.SIGTERM)
                except ProcessLookupError:
                    pass

    request.addfinalizer(stop_user_namespace_child)
    return socket_path


def test_the_engine_says_it_is_rootless_podman(rootless_socket: Path) -> None:
    assert engine_facts.query(str(rootless_socket)) == EngineFacts(kind="podman", rootless=True)


def test_the_program_refuses_it_naming_the_way_out(rootless_socket: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        run_stack("dev", overrides={"egoengine:engine": {"host": f"unix://{rootless_socket}"}},
                  engine=engine_facts.query(str(rootless_socket)))
    message = str(caught.value)
    assert message.startswith("config egoengine:engine.host: is a rootless podman socket")
    assert "podman system service as root" in message and "\n" not in message


def test_make_dev_refuses_it_naming_the_way_out(rootless_socket: Path) -> None:
    report = dev_prereqs.Report()
    missing = dev_prereqs.check_engine([f"unix://{rootless_socket}"], report)
    assert missing is not None and report.engine_host is None
    assert missing.what.startswith(f"a rootful engine socket ({rootless_socket} is rootless podman")
    assert "podman.socket" in missing.debian and "rootful" in missing.macos
