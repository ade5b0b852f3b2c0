"""Real services for the child-image tests: a Podman API service, an OCI registry, and a base image.

Everything lives in one temp dir the session owns and listens on loopback only:

- ``docker-registry`` (CNCF distribution) on a free 127.0.0.1 port, with htpasswd authentication,
  so every push, pull and inspect really uses the credentials the build tool is given;
- ``podman system service`` on a unix socket in a short temp dir of its own, with its own storage
  (overlay; whatever stays mounted under that dir is unmounted at the end), its own tmpdir, runc,
  bounded ulimits (this machine's quirks), no container network, and a registries.conf that trusts
  the plain-HTTP test registry;
- a tiny stand-in for the egoengine base image, built once per session: busybox-static with a user
  ``joshsymonds`` (uid 1000, home /home/joshsymonds), a login profile that sources ``~/.env.local`` the
  way egoengine's zsh does, and egoengine's kind of config (User 1000, Env with PATH and HOME,
  Cmd ``/bin/sh -l``, WorkingDir). It is pushed to the registry, pinned by digest, and removed from
  the engine so the first child build has to pull it with credentials.

Both services are stopped by the process ids started here, also when tests fail. A service that does
not start fails the tests with its log tail (never a skip).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import pytest

from tests import processes

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_SECONDS = 30
USER_NAME = "joshsymonds"
USER_ID = 1000
HOME = f"/home/{USER_NAME}"
BASE_PATH = f"{HOME}/.local/bin:/usr/bin:/bin"
BUSYBOX_APPLETS = (
    "sh",
    "ln",
    "cat",
    "echo",
    "mkdir",
    "env",
    "ls",
    "chmod",
    "printf",
    "id",
    "readlink",
    "stat",
    "test",
    "[",
    "true",
    "false",
    "head",
    "grep",
    "sed",
    "rm",
    "cp",
    "mv",
    "basename",
    "dirname",
    "date",
)
# egoengine's zsh sources ~/.env.local on login (home-manager zsh, upstream commit 41c713f);
# busybox ``sh -l`` reads /etc/profile, so this is the same hook.
LOGIN_PROFILE = '[ -f "$HOME/.env.local" ] && . "$HOME/.env.local"\n'


@dataclass(frozen=True)
class RegistryService:
    address: str  # host:port
    username: str
    password: str = field(repr=False)

    def repo(self, name: str) -> str:
        return f"{self.address}/{name}"


@dataclass(frozen=True)
class EngineService:
    host: str  # unix://...
    socket_path: Path
    docker_config: Path  # a DOCKER_CONFIG dir holding the test registry's credentials

    def docker_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("DOCKER_CONTEXT", None)
        env.update({"DOCKER_HOST": self.host, "DOCKER_CONFIG": str(self.docker_config), "DOCKER_CLI_HINTS": "false"})
        return env

    def docker(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        completed = subprocess.run(
            ("docker", *args), env=self.docker_env(), capture_output=True, text=True, timeout=120, check=False
        )
        if check and completed.returncode != 0:
            pytest.fail(f"docker {' '.join(args)} failed ({completed.returncode}): {completed.stderr.strip()}")
        return completed


@dataclass(frozen=True)
class BaseImage:
    repo: str
    tag: str
    digest: str
    config: dict[str, Any]

    @property
    def ref(self) -> str:
        return f"{self.repo}:{self.tag}@{self.digest}"


@dataclass(frozen=True)
class Services:
    registry: RegistryService
    engine: EngineService
    authfile: Path
    base: BaseImage

    def tool_env(self, *, with_credentials: bool = True) -> dict[str, str]:
        """The environment the Pulumi program gives ``python -m tools.build_image``."""
        env = {key: value for key, value in os.environ.items() if not key.startswith(("REGISTRY_", "DOCKER_"))}
        env["ENGINE_HOST"] = self.engine.host
        if with_credentials:
            env["REGISTRY_USERNAME"] = self.registry.username
            env["REGISTRY_PASSWORD"] = self.registry.password
        return env

    def skopeo_json(self, *args: str) -> dict[str, Any]:
        completed = subprocess.run(
            ("skopeo", "inspect", "--tls-verify=false", "--authfile", str(self.authfile), *args),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if completed.returncode != 0:
            pytest.fail(f"skopeo inspect {' '.join(args)} failed: {completed.stderr.strip()}")
        document: dict[str, Any] = json.loads(completed.stdout)
        return document

    def tag_exists(self, repo: str, tag: str) -> bool:
        response = httpx.get(
            f"http://{self.registry.address}/v2/{repo.split('/', 1)[1]}/tags/list",
            auth=(self.registry.username, self.registry.password),
            timeout=10,
        )
        if response.status_code == 404:
            return False
        response.raise_for_status()
        return tag in (response.json().get("tags") or [])


# ---------------------------------------------------------------------------------------------------
# Process handling
# ---------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _log_tail(log: Path, lines: int = 15) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def start_service(
    argv: Sequence[str],
    log: Path,
    env: Mapping[str, str],
    what: str,
    ready: Callable[[], bool],
    request: pytest.FixtureRequest,
) -> subprocess.Popen[bytes]:
    """Start a service, register its stop (by this pid) as a finalizer, and wait until ``ready()``."""
    if shutil.which(argv[0]) is None:
        pytest.fail(f"{what}: `{argv[0]}` is not installed (see testing-with-real-services.md)")
    with log.open("wb") as handle:
        process = subprocess.Popen(argv, stdout=handle, stderr=subprocess.STDOUT, env=dict(env))

    request.addfinalizer(lambda: processes.stop(process))
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{what} exited with {process.returncode} while starting:\n{_log_tail(log)}")
        try:
            if ready():
                return process
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(0.1)
    pytest.fail(f"{what} did not become ready within {START_TIMEOUT_SECONDS}s:\n{_log_tail(log)}")


def remove_service_dir(directory: Path) -> None:
    """Unmount whatever Podman left mounted under its own dir (overlay storage), then delete the dir."""
    prefix = str(directory) + "/"
    with open("/proc/self/mountinfo", encoding="utf-8") as mountinfo:
        # Field 5 is the mount point (octal escapes for spaces; our temp path has none).
        mount_points = [line.split()[4] for line in mountinfo if line.split()[4].startswith(prefix)]
    for mount_point in sorted(mount_points, key=len, reverse=True):
        subprocess.run(["umount", mount_point], capture_output=True, check=False)
    shutil.rmtree(directory, ignore_errors=True)


def podman_service_argv(directory: Path, socket_path: Path) -> list[str]:
    """``podman system service`` with storage, runroot and tmpdir of its own under ``directory``."""
    return [
        "podman",
        "--root",
        str(directory / "storage"),
        "--runroot",
        str(directory / "runroot"),
        "--tmpdir",
        str(directory / "tmp"),
        "--storage-driver",
        "overlay",
        "system",
        "service",
        "--time=0",
        f"unix://{socket_path}",
    ]


def run_checked(argv: Sequence[str], what: str, env: Mapping[str, str] | None = None) -> str:
    completed = subprocess.run(
        argv, capture_output=True, text=True, timeout=120, check=False, env=None if env is None else dict(env)
    )
    if completed.returncode != 0:
        pytest.fail(f"{what} failed ({completed.returncode}): {completed.stderr.strip()[-2000:]}")
    return completed.stdout


# ---------------------------------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def services_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("image-services")


@pytest.fixture(scope="session")
def registry_service(services_dir: Path, request: pytest.FixtureRequest) -> RegistryService:
    directory = services_dir / "registry"
    directory.mkdir()
    username, password = "builder", "pw-" + secrets.token_urlsafe(18)
    htpasswd = directory / "htpasswd"
    htpasswd.write_bytes(username.encode() + b":" + bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)) + b"\n")
    address = f"127.0.0.1:{free_port()}"
    config = directory / "config.yml"
    config.write_text(
        json.dumps(
            {  # YAML is a superset of JSON
                "version": 0.1,
                "log": {"level": "warn"},
                "storage": {"filesystem": {"rootdirectory": str(directory / "data")}, "delete": {"enabled": True}},
                "auth": {"htpasswd": {"realm": "egoengine-tests", "path": str(htpasswd)}},
                "http": {"addr": address},
            }
        )
    )

    def ready() -> bool:
        response = httpx.get(f"http://{address}/v2/", auth=(username, password), timeout=2)
        return response.status_code == 200 and response.json() == {}

    start_service(
        ["docker-registry", "serve", str(config)],
        directory / "registry.log",
        os.environ,
        "docker-registry",
        ready,
        request,
    )
    return RegistryService(address, username, password)


@pytest.fixture(scope="session")
def registry_authfile(services_dir: Path, registry_service: RegistryService) -> Path:
    """The tests' own credentials file (skopeo --authfile, and DOCKER_CONFIG for `docker run` pulls)."""
    directory = services_dir / "docker-config"
    directory.mkdir(mode=0o700)
    token = base64.b64encode(f"{registry_service.username}:{registry_service.password}".encode()).decode()
    path = directory / "config.json"
    path.write_text(json.dumps({"auths": {registry_service.address: {"auth": token}}}))
    path.chmod(0o600)
    return path


@pytest.fixture(scope="session")
def engine_service(
    services_dir: Path, registry_service: RegistryService, registry_authfile: Path, request: pytest.FixtureRequest
) -> EngineService:
    # Podman refuses a runroot longer than 50 characters, which pytest's temp paths exceed: the
    # service gets a short private dir of its own, removed after the service stopped.
    directory = Path(tempfile.mkdtemp(prefix="egoengine-podman-"))
    request.addfinalizer(lambda: remove_service_dir(directory))
    containers_conf = directory / "containers.conf"
    # This machine's quirks: podman's default ulimits exceed the hard limits; crun and the cgroup
    # layout do not get along. No network for containers: the tests need none, and it keeps this
    # service off any bridge another podman on the machine may use.
    containers_conf.write_text(
        '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1000:1000"]\nnetns = "none"\n'
        '[engine]\nruntime = "runc"\n'
    )
    registries_conf = directory / "registries.conf"
    registries_conf.write_text(f'[[registry]]\nlocation = "{registry_service.address}"\ninsecure = true\n')
    socket_path = directory / "podman.sock"
    env = dict(os.environ)
    env.update({"CONTAINERS_CONF": str(containers_conf), "CONTAINERS_REGISTRIES_CONF": str(registries_conf)})
    argv = podman_service_argv(directory, socket_path)

    def ready() -> bool:
        if not socket_path.exists():
            return False
        with httpx.Client(transport=httpx.HTTPTransport(uds=str(socket_path)), timeout=2) as client:
            return client.get("http://podman/_ping").text == "OK"

    start_service(argv, directory / "service.log", env, "podman system service", ready, request)
    if shutil.which("docker") is None:
        pytest.fail("the `docker` CLI (client only) is not installed; the build tool drives the engine with it")
    return EngineService(f"unix://{socket_path}", socket_path, registry_authfile.parent)


def _rootfs_tar(directory: Path) -> Path:
    """A busybox rootfs tarball with the egoengine user; ownership set in the tar, not on disk."""
    rootfs = directory / "rootfs"
    (rootfs / "bin").mkdir(parents=True)
    busybox = shutil.which("busybox") or "/bin/busybox"
    shutil.copy2(busybox, rootfs / "bin" / "busybox")
    for applet in BUSYBOX_APPLETS:
        (rootfs / "bin" / applet).symlink_to("busybox")
    (rootfs / "usr").mkdir()
    (rootfs / "usr" / "bin").symlink_to("../bin")
    (rootfs / "etc").mkdir()
    (rootfs / "etc" / "passwd").write_text(
        f"root:x:0:0:root:/root:/bin/sh\n{USER_NAME}:x:{USER_ID}:{USER_ID}::{HOME}:/bin/sh\n"
    )
    (rootfs / "etc" / "group").write_text(f"root:x:0:\n{USER_NAME}:x:{USER_ID}:\n")
    (rootfs / "etc" / "profile").write_text(LOGIN_PROFILE)
    (rootfs / "home" / USER_NAME / ".local" / "bin").mkdir(parents=True)
    (rootfs / "root").mkdir()
    (rootfs / "tmp").mkdir()

    archive = directory / "rootfs.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(rootfs, arcname=".", filter=home_owned_by_user)
    return archive


def home_owned_by_user(info: tarfile.TarInfo) -> tarfile.TarInfo:
    """A rootfs tar filter: the user's home is theirs, the rest root's, /tmp sticky (set in the
    tar, not on disk)."""
    name = info.name.removeprefix("./")
    user_owned = name == f"home/{USER_NAME}" or name.startswith(f"home/{USER_NAME}/")
    info.uid = info.gid = USER_ID if user_owned else 0
    info.uname = info.gname = USER_NAME if user_owned else "root"
    if name == "tmp":
        info.mode = 0o1777
    return info


@pytest.fixture(scope="session")
def base_image(
    services_dir: Path, registry_service: RegistryService, registry_authfile: Path, engine_service: EngineService
) -> BaseImage:
    directory = services_dir / "base"
    directory.mkdir()
    archive = _rootfs_tar(directory)
    local = "localhost/egoengine-fixture/base:1"
    run_checked(
        [
            "podman",
            "--url",
            engine_service.host,
            "import",
            "--change",
            f"USER {USER_ID}",
            "--change",
            f"ENV PATH={BASE_PATH}",
            "--change",
            f"ENV HOME={HOME}",
            "--change",
            'CMD ["/bin/sh","-l"]',
            "--change",
            f"WORKDIR {HOME}",
            str(archive),
            local,
        ],
        "podman import of the fixture base",
    )
    repo, tag = registry_service.repo("egoengine"), "fixture"
    digestfile = directory / "digest"
    run_checked(
        [
            "skopeo",
            "copy",
            "--quiet",
            "--src-daemon-host",
            engine_service.host,
            "--dest-tls-verify=false",
            "--dest-authfile",
            str(registry_authfile),
            "--digestfile",
            str(digestfile),
            f"docker-daemon:{local}",
            f"docker://{repo}:{tag}",
        ],
        "push of the fixture base",
    )
    # The child builds must pull the base from the registry (with credentials), as on a real host.
    engine_service.docker("image", "rm", local)
    digest = digestfile.read_text().strip()
    config_document = json.loads(
        run_checked(
            [
                "skopeo",
                "inspect",
                "--tls-verify=false",
                "--authfile",
                str(registry_authfile),
                "--config",
                f"docker://{repo}@{digest}",
            ],
            "inspect of the fixture base",
        )
    )
    return BaseImage(repo, tag, digest, config_document["config"])


@pytest.fixture(scope="session")
def services(
    registry_service: RegistryService, engine_service: EngineService, registry_authfile: Path, base_image: BaseImage
) -> Services:
    return Services(registry_service, engine_service, registry_authfile, base_image)


@pytest.fixture()
def run_tool() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``python -m <module> ARGS`` from the repository root exactly as the Pulumi program does."""

    def run(module: str, *args: str, env: Mapping[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", module, *args],
            cwd=REPO_ROOT,
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    return run
