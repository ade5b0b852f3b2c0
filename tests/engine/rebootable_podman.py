"""A real Podman service that a test can "reboot".

It runs in a network namespace of its own (so the stack's fixed host ports, 7080 and 15432, are
bound there and never meet another test's), with its own storage, runroot, tmpdir, network config
dir and runc state dir. ``reboot()`` does to it what a host reboot does: the service and every
container process it started are gone (killed by the pids the engine reports), the volatile dirs
(runroot, tmpdir, runc state; tmpfs on a real host) are emptied, and a new service starts on the
same storage. Podman then finds its containers not running, as after a boot.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from components import engine_facts
from tests.engine.engine_api import EngineApi
from tests.images.conftest import remove_service_dir, start_service

# Run argv in a new network namespace whose loopback is up (no `ip` needed): unshare(2), then
# SIOCSIFFLAGS on lo, then exec, so the pid the test holds is the engine's own.
NETNS_LAUNCHER = r"""
import ctypes, fcntl, os, socket, struct, sys
if ctypes.CDLL(None, use_errno=True).unshare(0x40000000) != 0:
    sys.exit("unshare(CLONE_NEWNET) failed: errno %d" % ctypes.get_errno())
probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
flags = struct.unpack("16sh", fcntl.ioctl(probe, 0x8913, struct.pack("16sh", b"lo", 0)))[1]
fcntl.ioctl(probe, 0x8914, struct.pack("16sh", b"lo", flags | 1))
os.execvp(sys.argv[1], sys.argv[1:])
"""


class _Stops:
    """Collects the stop of each service started (``start_service`` registers it as a finalizer),
    so that ``close`` can remove the containers through the service before stopping it."""

    def __init__(self) -> None:
        self.finalizers: list[Callable[[], None]] = []

    def addfinalizer(self, finalizer: Callable[[], None]) -> None:
        self.finalizers.append(finalizer)


class RebootablePodman:
    def __init__(self, request: pytest.FixtureRequest) -> None:
        self.stops = _Stops()
        # Podman refuses a runroot longer than 50 characters, which pytest's temp paths exceed.
        self.directory = Path(tempfile.mkdtemp(prefix="egoengine-reboot-"))
        request.addfinalizer(lambda: remove_service_dir(self.directory))
        request.addfinalizer(self.close)
        (self.directory / "networks").mkdir()
        self.containers_conf = self.directory / "containers.conf"
        self.containers_conf.write_text(
            '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1000:1000"]\n'
            # File locks under the tmpdir, not Podman's machine-wide /dev/shm segment: a reboot
            # clears them with the tmpdir, and no other Podman here shares them.
            f'[engine]\nruntime = "runc"\nlock_type = "file"\n[network]\nnetwork_config_dir = "{self.directory / "networks"}"\n'
        )
        self.socket_path = self.directory / "podman.sock"
        self.process: subprocess.Popen[bytes] | None = None
        self.boots = 0
        self._start()
        self.api = EngineApi(str(self.socket_path))

    @property
    def host(self) -> str:
        return f"unix://{self.socket_path}"

    def _engine_flags(self) -> list[str]:
        d = self.directory
        return ["--runtime-flag", f"root={d / 'runc'}", "--root", str(d / "storage"), "--runroot", str(d / "runroot"),
                "--tmpdir", str(d / "tmp"), "--storage-driver", "overlay"]

    def _start(self) -> None:
        self.boots += 1
        d = self.directory
        argv = [sys.executable, "-c", NETNS_LAUNCHER, "podman", *self._engine_flags(),
                "system", "service", "--time=0", f"unix://{self.socket_path}"]
        env = {**os.environ, "CONTAINERS_CONF": str(self.containers_conf)}
        self.process = start_service(argv, d / f"service-{self.boots}.log", env, "podman system service",
                                     lambda: engine_facts.ping(str(self.socket_path)),
                                     self.stops)  # type: ignore[arg-type]

    def podman(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The ``podman`` CLI itself on this engine's storage, as a systemd unit runs it (not through
        the API), in the service's network namespace so container networks are set up there."""
        assert self.process is not None
        argv = ["nsenter", f"--net=/proc/{self.process.pid}/ns/net", "podman", *self._engine_flags(), *args]
        return subprocess.run(argv, capture_output=True, text=True, timeout=120,
                              env={**os.environ, "CONTAINERS_CONF": str(self.containers_conf)})

    def reboot(self) -> None:
        running = [c["Id"] for c in self.api.get("/containers/json")]
        states = [self.api.get(f"/containers/{cid}/json") for cid in running]
        conmons = {cid: self._conmon_pid(cid) for cid in running}
        sandboxes = [self._inspect("{{.NetworkSettings.SandboxKey}}", cid) for cid in running]
        assert self.process is not None
        self.process.terminate()
        self.process.wait(timeout=30)
        for state in states:
            for pid in (state["State"].get("Pid"), conmons[state["Id"]]):
                if pid:
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except ProcessLookupError:
                        pass
        prefix = str(self.directory) + "/"
        with open("/proc/self/mountinfo", encoding="utf-8") as mountinfo:
            mounts = [line.split()[4] for line in mountinfo]
        # What a reboot takes with it: the containers' mounts and network namespaces, and tmpfs.
        for mount in sorted((m for m in mounts if m.startswith(prefix) or m in sandboxes), key=len, reverse=True):
            subprocess.run(["umount", mount], capture_output=True, check=False)
        for sandbox in filter(None, sandboxes):
            Path(sandbox).unlink(missing_ok=True)
        for volatile in ("runroot", "tmp", "runc"):
            subprocess.run(["rm", "-rf", str(self.directory / volatile)], check=True)
        self._start()

    def _inspect(self, template: str, container_id: str) -> str:
        return self.podman("inspect", "--format", template, container_id).stdout.strip()

    def _conmon_pid(self, container_id: str) -> int | None:
        answer = self._inspect("{{.State.ConmonPid}}", container_id)
        return int(answer) if answer.isdigit() and int(answer) > 0 else None

    def close(self) -> None:
        """Remove every container through the engine (which tears down their networking, network
        namespaces included), then stop the service by its pid."""
        try:
            for container in self.api.get("/containers/json", params={"all": "true"}):
                self.api.delete(f"/containers/{container['Id']}", params={"force": "true"})
        finally:
            self.api.close()
            for stop in reversed(self.stops.finalizers):
                stop()
