"""A real Podman, with container networking, in a network namespace of its own, for the template tests.

The workspace tests need what the other Podman fixtures switch off: bridge networks with DNS
aliases (netavark + aardvark-dns) and named volumes. So the service runs inside its own network
namespace (``nsenter --net``, not ``ip netns exec``, which breaks runc's cgroup mounts): its
bridges, addresses and published ports exist only there, apart from every other engine on the
machine, and loopback inside it is its own. Storage, runroot and network config live in a short
temp dir the session owns. The service is stopped by the pid started here, the namespace deleted
and the dir unmounted and removed, also when a test fails; a service that does not start fails the
tests (never a skip).

Images are tiny stand-ins built from Debian's busybox-static: the egoengine user (uid 1000, home
``/home/joshsymonds`` owned by it), a login profile that sources ``~/.env.local`` the way
egoengine's zsh does, and whatever home files a test asks for.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.images.conftest import (
    HOME,
    LOGIN_PROFILE,
    USER_ID,
    USER_NAME,
    home_owned_by_user,
    podman_service_argv,
    remove_service_dir,
    run_checked,
    start_service,
)

APPLETS = ("sh", "cat", "echo", "mkdir", "ls", "id", "sleep", "test", "stat", "wget", "httpd", "ln", "readlink")


@dataclass(frozen=True)
class NamespacedEngine:
    """A Podman Docker-compatible API inside its own network namespace."""

    netns: str
    socket_path: Path
    directory: Path

    @property
    def host(self) -> str:
        return f"unix://{self.socket_path}"

    def docker(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        env.update({"DOCKER_HOST": self.host, "DOCKER_CLI_HINTS": "false"})
        completed = subprocess.run(
            ("docker", *args), env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and completed.returncode != 0:
            pytest.fail(f"docker {' '.join(args)} failed ({completed.returncode}): {completed.stderr.strip()}")
        return completed

    def in_namespace(self, *argv: str) -> subprocess.CompletedProcess[str]:
        """Run a host command inside the namespace (what a browser on that machine would see)."""
        return subprocess.run(
            ("nsenter", f"--net=/run/netns/{self.netns}", *argv),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    def import_image(
        self, name: str, home_files: Mapping[str, str], extra_files: Mapping[str, str] | None = None
    ) -> str:
        """A busybox image with the egoengine user; ``home_files`` relative to the home, owned by it.

        A value starting with ``->`` makes a symlink (``{".local/bin/tool": "-> /opt/tool"}``).
        """
        build = Path(tempfile.mkdtemp(prefix="image-", dir=self.directory))
        rootfs = build / "rootfs"
        (rootfs / "bin").mkdir(parents=True)
        shutil.copy2(shutil.which("busybox") or "/bin/busybox", rootfs / "bin" / "busybox")
        for applet in APPLETS:
            (rootfs / "bin" / applet).symlink_to("busybox")
        (rootfs / "etc").mkdir()
        (rootfs / "etc" / "passwd").write_text(
            f"root:x:0:0:root:/root:/bin/sh\n{USER_NAME}:x:{USER_ID}:{USER_ID}::{HOME}:/bin/sh\n"
        )
        (rootfs / "etc" / "group").write_text(f"root:x:0:\n{USER_NAME}:x:{USER_ID}:\n")
        (rootfs / "etc" / "profile").write_text(LOGIN_PROFILE)
        (rootfs / "tmp").mkdir()
        (rootfs / "root").mkdir()
        home = rootfs / HOME.lstrip("/")
        home.mkdir(parents=True)
        for relative, content in home_files.items():
            path = home / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            if content.startswith("->"):
                path.symlink_to(content[2:].strip())
            else:
                path.write_text(content)
        for absolute, content in (extra_files or {}).items():
            path = rootfs / absolute.lstrip("/")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
            path.chmod(0o755)

        archive = build / "rootfs.tar"
        with tarfile.open(archive, "w") as tar:
            tar.add(rootfs, arcname=".", filter=home_owned_by_user)
        run_checked(
            [
                "podman",
                "--url",
                self.host,
                "import",
                "--change",
                f"USER {USER_ID}",
                "--change",
                f"ENV HOME={HOME}",
                "--change",
                f"WORKDIR {HOME}",
                "--change",
                'CMD ["/bin/sh","-l"]',
                str(archive),
                name,
            ],
            f"podman import of {name}",
        )
        shutil.rmtree(build, ignore_errors=True)
        return name


@pytest.fixture(scope="session")
def namespaced_engine(request: pytest.FixtureRequest) -> NamespacedEngine:
    for tool in ("ip", "nsenter", "podman", "docker", "busybox"):
        if shutil.which(tool) is None:
            pytest.fail(f"`{tool}` is not installed (see testing-with-real-services.md)")
    netns = f"egoengine-tpl-{secrets.token_hex(3)}"
    run_checked(["ip", "netns", "add", netns], "ip netns add")
    request.addfinalizer(lambda: subprocess.run(["ip", "netns", "del", netns], capture_output=True, check=False))
    run_checked(["nsenter", f"--net=/run/netns/{netns}", "ip", "link", "set", "lo", "up"], "loopback up")

    # Podman refuses a runroot longer than 50 characters: a short private dir, removed at the end.
    directory = Path(tempfile.mkdtemp(prefix="egoengine-tpl-"))
    request.addfinalizer(lambda: remove_service_dir(directory))
    containers_conf = directory / "containers.conf"
    containers_conf.write_text(
        '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1000:1000"]\n'
        f'[engine]\nruntime = "runc"\n[network]\nnetwork_config_dir = "{directory}/networks"\n'
    )
    socket_path = directory / "podman.sock"
    env = {**os.environ, "CONTAINERS_CONF": str(containers_conf)}
    # Netavark keeps its IPAM database and aardvark-dns's config and pid in /run/containers/networks,
    # which every rootful Podman on the machine shares: another test's Podman would answer (or
    # signal an aardvark-dns in another namespace) for a network of the same name. So this one gets
    # a private mount namespace with its own directory there.
    run_dir = directory / "network-run"
    run_dir.mkdir()
    argv = [
        "nsenter",
        f"--net=/run/netns/{netns}",
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        'mkdir -p /run/containers/networks && mount --bind "$0" /run/containers/networks && exec "$@"',
        str(run_dir),
        *podman_service_argv(directory, socket_path),
    ]

    def ready() -> bool:
        if not socket_path.exists():
            return False
        with httpx.Client(transport=httpx.HTTPTransport(uds=str(socket_path)), timeout=2) as client:
            return client.get("http://podman/_ping").text == "OK"

    # nsenter, unshare and sh exec in turn, so the pid start_service stops is the service's own.
    start_service(argv, directory / "service.log", env, "podman system service (own netns)", ready, request)
    engine = NamespacedEngine(netns, socket_path, directory)

    def remove_containers() -> None:
        # Before the service stops (finalizers run last-in first-out): a container left running
        # would outlive it, with its conmon, in the namespace.
        left = engine.docker("ps", "-aq", check=False).stdout.split()
        if left:
            engine.docker("rm", "-f", *left, check=False)

    request.addfinalizer(remove_containers)
    return engine
