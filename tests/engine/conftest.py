"""Real Podman (Docker-compatible API) and an OCI registry for the read-back tests.

The Podman service has a short private dir of its own: storage, runroot, and its own network config
dir (so the stack's network names never meet another Podman's networks on this machine), runc and
bounded ulimits (this machine's quirks), and a registries.conf trusting the plain-HTTP test
registry. Both services are stopped by the pids started here (``tests.images.conftest``'s helpers).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from components import engine_facts
from tests.engine.engine_api import EngineApi
from tests.images.conftest import free_port, remove_service_dir, run_checked, start_service


@dataclass(frozen=True)
class Podman:
    socket_path: Path
    registry: str  # host:port of the plain-HTTP test registry
    api: EngineApi

    @property
    def host(self) -> str:
        return f"unix://{self.socket_path}"

    def stand_in(self, reference: str) -> str:
        """Push the stand-in image as ``reference``'s repository and tag into the test registry and
        return a reference of the same shape (``repo:tag@sha256:…``) that the engine can pull."""
        name = reference.split("@", 1)[0]
        path, _, tag = name.partition("/")[2].rpartition(":")
        target = f"{self.registry}/{path}:{tag}"
        digestfile = self.socket_path.parent / "digest"
        run_checked(
            ["skopeo", "copy", "--quiet", "--src-daemon-host", self.host, "--dest-tls-verify=false",
             "--digestfile", str(digestfile), f"docker-daemon:{STAND_IN}", f"docker://{target}"],
            f"push of the stand-in image as {target}",
        )
        return f"{target}@{digestfile.read_text().strip()}"


STAND_IN = "localhost/egoengine-readback/stand-in:1"


def _registry(directory: Path, request: pytest.FixtureRequest) -> str:
    address = f"127.0.0.1:{free_port()}"
    config = directory / "registry.yml"
    config.write_text(json.dumps({
        "version": 0.1, "log": {"level": "warn"},
        "storage": {"filesystem": {"rootdirectory": str(directory / "registry")}}, "http": {"addr": address},
    }))
    start_service(["docker-registry", "serve", str(config)], directory / "registry.log", os.environ,
                  "docker-registry", lambda: httpx.get(f"http://{address}/v2/", timeout=2).status_code == 200, request)
    return address


def stand_in_image(directory: Path, host: str) -> None:
    rootfs = directory / "rootfs"
    (rootfs / "bin").mkdir(parents=True)
    shutil.copy2(shutil.which("busybox") or "/bin/busybox", rootfs / "bin" / "busybox")
    for applet in ("sh", "sleep"):
        (rootfs / "bin" / applet).symlink_to("busybox")
    archive = directory / "rootfs.tar"
    subprocess.run(["tar", "-C", str(rootfs), "-cf", str(archive), "."], check=True)
    # Runs until stopped, like a server: the reboot test starts the containers.
    run_checked(["podman", "--url", host, "import", "--change", 'CMD ["/bin/sleep", "86400"]', str(archive), STAND_IN],
                "podman import of the stand-in image")


@pytest.fixture(scope="session")
def podman(request: pytest.FixtureRequest) -> Iterator[Podman]:
    # Podman refuses a runroot longer than 50 characters, which pytest's temp paths exceed.
    directory = Path(tempfile.mkdtemp(prefix="egoengine-readback-"))
    request.addfinalizer(lambda: remove_service_dir(directory))
    registry = _registry(directory, request)
    (directory / "networks").mkdir()
    containers_conf = directory / "containers.conf"
    containers_conf.write_text(
        '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1000:1000"]\n'
        f'[engine]\nruntime = "runc"\n[network]\nnetwork_config_dir = "{directory / "networks"}"\n'
    )
    registries_conf = directory / "registries.conf"
    registries_conf.write_text(f'[[registry]]\nlocation = "{registry}"\ninsecure = true\n')
    socket_path = directory / "podman.sock"
    env = {**os.environ, "CONTAINERS_CONF": str(containers_conf), "CONTAINERS_REGISTRIES_CONF": str(registries_conf)}
    argv = ["podman", "--root", str(directory / "storage"), "--runroot", str(directory / "runroot"),
            "--tmpdir", str(directory / "tmp"), "--storage-driver", "overlay",
            "system", "service", "--time=0", f"unix://{socket_path}"]

    start_service(argv, directory / "service.log", env, "podman system service",
                  lambda: engine_facts.ping(str(socket_path)), request)
    stand_in_image(directory, f"unix://{socket_path}")
    api = EngineApi(str(socket_path))
    yield Podman(socket_path, registry, api)
    api.close()
