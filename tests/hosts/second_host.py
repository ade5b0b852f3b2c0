"""A real second Docker host for the tests: a network namespace, sshd with its own host key, the
Debian docker CLI and a Podman service of its own (recipe: testing-with-real-services.md).

One namespace per test session, with a unique name and its own /30 in 10.250.0.0/16; traffic only
ever goes to that /30 (the outer veth end carries a plain-HTTP registry for the host to pull from).
Every process is stopped by the pid started here and the namespace is deleted, also on failure.
A piece that does not start fails the session (never a skip).
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from components.workspace_hosts import ssh_options
from tests.images.conftest import _log_tail, remove_service_dir, run_checked
from tests import processes

DEBIAN_DOCKER_CLI = "/usr/bin/docker"
"""The docker client from Debian's docker.io (no daemon runs); /usr/local/bin may hold another."""
START_TIMEOUT_SECONDS = 30
SSH_USER = "root"


@dataclass(frozen=True)
class SecondHost:
    netns: str
    outer_address: str
    address: str
    directory: Path
    host_key_line: str
    identity_file: Path
    """The client key authorized on the host (stands in for Coder's hostsSshKey)."""
    known_hosts_file: Path
    """A known_hosts with the host's pinned key, as the stack builds it."""
    podman_socket: Path
    registry: str
    """host:port of the plain-HTTP registry on the outer veth address."""
    no_docker_port: int = 2222
    """A second sshd on the same host whose sessions find no docker CLI (as on a Podman-only host)."""

    @property
    def uri(self) -> str:
        return f"ssh://{SSH_USER}@{self.address}"

    def ssh_env(self, known_hosts_file: Path | None = None) -> dict[str, str]:
        """An environment whose `ssh` adds the stack's flags (pinned key, our identity only):
        what `ssh_opts` does for the providers, for the docker CLI (which has no such option)."""
        shim_dir = Path(tempfile.mkdtemp(prefix="ssh-shim-", dir=self.directory))
        flags = ssh_options(str(self.identity_file), str(known_hosts_file or self.known_hosts_file))
        shim = shim_dir / "ssh"
        shim.write_text("#!/bin/sh\nexec /usr/bin/ssh " + " ".join(f"'{f}'" for f in flags) + ' "$@"\n')
        shim.chmod(0o755)
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        env.update({"PATH": f"{shim_dir}:/usr/bin:/bin", "DOCKER_HOST": self.uri, "DOCKER_CLI_HINTS": "false"})
        return env

    def docker(self, *args: str, known_hosts_file: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """The Debian docker CLI on this host through ``DOCKER_HOST=ssh://`` (dial-stdio over ssh)."""
        return subprocess.run(
            (DEBIAN_DOCKER_CLI, *args), env=self.ssh_env(known_hosts_file), capture_output=True,
            text=True, timeout=timeout, check=False,
        )

    def podman(self, *args: str) -> str:
        """Podman's own view of the host's store (straight to its socket, not over ssh)."""
        return run_checked(["podman", "--url", f"unix://{self.podman_socket}", *args], f"podman {args[0]}")


def _run(argv: list[str], what: str) -> None:
    completed = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    if completed.returncode != 0:
        pytest.fail(f"second host: {what} failed: {completed.stderr.strip()}")


def pick_subnet() -> tuple[str, str, str]:
    """A /30 in 10.250.0.0/16 no interface here uses, chosen from the pid: (netns, outer, inner)."""
    used = subprocess.run(["ip", "-o", "-4", "addr"], capture_output=True, text=True, check=False).stdout
    for offset in range(256):
        third = (os.getpid() + offset) % 250 + 1
        network = ipaddress.ip_network(f"10.250.{third}.0/30")
        outer, inner = (str(a) for a in network.hosts())
        if f" {outer}/" not in used and f" {inner}/" not in used and not Path(f"/run/netns/ee13-{third}").exists():
            return f"ee13-{third}", outer, inner
    pytest.fail("second host: no free /30 in 10.250.0.0/16")


class Processes:
    """Processes started for the second host, stopped by their pids in reverse order."""

    def __init__(self) -> None:
        self.started: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, what: str, argv: list[str], log: Path, env: Mapping[str, str], ready: Callable[[], bool]) -> None:
        if shutil.which(argv[0]) is None:
            pytest.fail(f"second host: `{argv[0]}` is not installed (make system-deps)")
        with log.open("wb") as handle:
            process = subprocess.Popen(argv, stdout=handle, stderr=subprocess.STDOUT, env=dict(env))
        self.started.append((what, process))
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"second host: {what} exited with {process.returncode}:\n{_log_tail(log)}")
            try:
                if ready():
                    return
            except (httpx.HTTPError, OSError):
                pass
            time.sleep(0.1)
        pytest.fail(f"second host: {what} not ready within {START_TIMEOUT_SECONDS}s:\n{_log_tail(log)}")

    def stop_all(self) -> None:
        for _, process in reversed(self.started):
            processes.stop(process)


def _ssh_ready(directory: Path, address: str, port: int) -> Callable[[], bool]:
    known_hosts = directory / f"known_hosts_{port}"
    pattern = address if port == 22 else f"[{address}]:{port}"
    known_hosts.write_text(f"{pattern} {' '.join((directory / 'host_key.pub').read_text().split()[:2])}\n")

    def ready() -> bool:
        probe = subprocess.run(
            ["ssh", *ssh_options(str(directory / "client_key"), str(known_hosts)), "-p", str(port),
             f"{SSH_USER}@{address}", "true"],
            capture_output=True, timeout=10, check=False,
        )
        return probe.returncode == 0

    return ready


def start_second_host(directory: Path, processes: Processes, cleanups: list[Callable[[], None]]) -> SecondHost:
    netns, outer, inner = pick_subnet()
    veth = netns.replace("ee13-", "ve13o")
    peer = netns.replace("ee13-", "ve13i")
    _run(["ip", "netns", "add", netns], "ip netns add")
    cleanups.append(lambda: subprocess.run(["ip", "netns", "del", netns], capture_output=True, check=False))
    _run(["ip", "link", "add", veth, "type", "veth", "peer", "name", peer], "veth pair")
    # Deleting the namespace deletes the inner end, and with it the pair; this covers a failure before.
    cleanups.append(lambda: subprocess.run(["ip", "link", "del", veth], capture_output=True, check=False))
    _run(["ip", "link", "set", peer, "netns", netns], "move the veth end")
    _run(["ip", "addr", "add", f"{outer}/30", "dev", veth], "outer address")
    _run(["ip", "link", "set", veth, "up"], "outer link up")
    _run(["ip", "-n", netns, "addr", "add", f"{inner}/30", "dev", peer], "inner address")
    _run(["ip", "-n", netns, "link", "set", peer, "up"], "inner link up")
    _run(["ip", "-n", netns, "link", "set", "lo", "up"], "inner loopback up")
    enter = ["nsenter", f"--net=/run/netns/{netns}"]

    # The registry the host pulls from, on the outer end of the pair (the host's only way out).
    registry = f"{outer}:{5000 + os.getpid() % 1000}"
    registry_config = directory / "registry.yml"
    registry_config.write_text(json.dumps({
        "version": 0.1, "log": {"level": "warn"},
        "storage": {"filesystem": {"rootdirectory": str(directory / "registry")}, "delete": {"enabled": True}},
        "http": {"addr": registry},
    }))
    processes.start(
        "docker-registry", ["docker-registry", "serve", str(registry_config)], directory / "registry.log",
        os.environ, lambda: httpx.get(f"http://{registry}/v2/", timeout=2).status_code == 200,
    )

    # The host's own Podman (own storage under a short dir: Podman limits the runroot's length).
    podman_dir = Path(tempfile.mkdtemp(prefix="ee13-podman-"))
    cleanups.append(lambda: remove_service_dir(podman_dir))
    (podman_dir / "containers.conf").write_text(
        '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1000:1000"]\nnetns = "none"\n'
        '[engine]\nruntime = "runc"\n'
    )
    (podman_dir / "registries.conf").write_text(f'[[registry]]\nlocation = "{registry}"\ninsecure = true\n')
    socket_path = podman_dir / "podman.sock"
    podman_env = {**os.environ, "CONTAINERS_CONF": str(podman_dir / "containers.conf"),
                  "CONTAINERS_REGISTRIES_CONF": str(podman_dir / "registries.conf")}

    def podman_ready() -> bool:
        if not socket_path.exists():
            return False
        with httpx.Client(transport=httpx.HTTPTransport(uds=str(socket_path)), timeout=2) as client:
            return client.get("http://podman/_ping").text == "OK"

    # nsenter, not `ip netns exec`: that remounts /sys, the cgroup mounts disappear, runc fails.
    processes.start(
        "podman system service",
        [*enter, "podman", "--root", str(podman_dir / "storage"), "--runroot", str(podman_dir / "run"),
         "--tmpdir", str(podman_dir / "tmp"), "--storage-driver", "overlay",
         "system", "service", "--time=0", f"unix://{socket_path}"],
        podman_dir / "service.log", podman_env, podman_ready,
    )

    # sshd with its own host key; the client key is authorized for root.
    run_checked(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(directory / "host_key")], "host key")
    run_checked(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(directory / "client_key")], "client key")
    host_key_line = " ".join((directory / "host_key.pub").read_text().split()[:2])
    (directory / "authorized_keys").write_text((directory / "client_key.pub").read_text())
    known_hosts = directory / "known_hosts"
    known_hosts.write_text(f"{inner} {host_key_line}\n")
    known_hosts.chmod(0o600)
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation directory
    # Port 22: the remote docker CLI talks to this host's Podman; Debian's CLI comes first on PATH.
    # Port 2222: the same host, but its sessions find no docker CLI at all.
    for port, path in ((22, "/usr/bin:/bin:/usr/sbin:/sbin"), (2222, "/nonexistent")):
        sshd_config = directory / f"sshd_config_{port}"
        sshd_config.write_text("\n".join([
            f"ListenAddress {inner}", f"Port {port}", f"HostKey {directory / 'host_key'}",
            f"PidFile {directory / f'sshd_{port}.pid'}", f"AuthorizedKeysFile {directory / 'authorized_keys'}",
            "StrictModes no", "UsePAM no", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
            "PermitRootLogin prohibit-password",
            f"SetEnv DOCKER_HOST=unix://{socket_path} PATH={path}",
            "",
        ]))
        processes.start(f"sshd on port {port}", [*enter, "/usr/sbin/sshd", "-D", "-e", "-f", str(sshd_config)],
                        directory / f"sshd_{port}.log", os.environ, _ssh_ready(directory, inner, port))
    if not Path(DEBIAN_DOCKER_CLI).exists():
        pytest.fail("second host: the Debian docker CLI (docker.io) is not installed at /usr/bin/docker")
    return SecondHost(netns, outer, inner, directory, host_key_line, directory / "client_key",
                      known_hosts, socket_path, registry)
