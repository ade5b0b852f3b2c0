"""The second host (one per session) and an image pinned by digest in its registry."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.hosts.second_host import Processes, SecondHost, start_second_host
from tests.images.conftest import USER_ID, _rootfs_tar, remove_service_dir, run_checked


@pytest.fixture(scope="session")
def second_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecondHost]:
    processes = Processes()
    cleanups: list[Callable[[], None]] = []
    try:
        yield start_second_host(tmp_path_factory.mktemp("second-host"), processes, cleanups)
    finally:
        processes.stop_all()
        for cleanup in reversed(cleanups):
            cleanup()


@pytest.fixture(scope="session")
def remote_image(second_host: SecondHost) -> str:
    """``repo:tag@sha256:…`` of a busybox image in the host's registry, in no engine's store yet."""
    work = Path(tempfile.mkdtemp(prefix="ee13-img-"))
    try:
        archive = _rootfs_tar(work)
        storage = ["podman", "--root", str(work / "root"), "--runroot", str(work / "run")]
        local = "localhost/ee13/workspace:1"
        run_checked([*storage, "import", "--change", f"USER {USER_ID}", "--change", 'CMD ["/bin/sh","-l"]',
                     str(archive), local], "podman import")
        repo = f"{second_host.registry}/egoengine/workspace"
        digestfile = work / "digest"
        run_checked([*storage, "push", "--quiet", "--tls-verify=false", "--digestfile", str(digestfile),
                     local, f"docker://{repo}:1"], "podman push")
        digest = digestfile.read_text().strip()
    finally:
        # The pushing store is thrown away: the image then exists only in the registry.
        remove_service_dir(work)
    return f"{repo}:1@{digest}"
