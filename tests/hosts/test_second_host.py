"""Against a real second host (netns + sshd + Debian docker CLI + its own Podman): the hosts check,
a wrong pinned key, a pull into that host's store only, and a workspace-like container started
through ``DOCKER_HOST=ssh://`` with the mounted-style known_hosts and key."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import httpx
import pytest
import yaml

from components.settings import HostSettings
from components.workspace_hosts import CODER_IDENTITY_FILE, CODER_UID
from components.settings.hosts import known_hosts
from tests.hosts.keys import OTHER_HOST_KEY
from tests.hosts.second_host import SecondHost
from tools.mock_engine import PROJECT_DIR

pytestmark = pytest.mark.integration


def stack_file(tmp_path: Path, host: SecondHost, host_key: str, gpus: bool = False, uri: str = "") -> Path:
    document = yaml.safe_load((PROJECT_DIR / "Pulumi.vermissian.yaml").read_text())
    document["config"]["egoengine:hosts"] = [
        {"name": "second", "uri": uri or host.uri, "hostKey": host_key, "gpus": gpus, "description": "test netns"}
    ]
    path = tmp_path / "Pulumi.hosts-test.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def run_check(stack: Path, host: SecondHost, image: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tools.hosts", "check", "hosts-test", "--stack-file", str(stack),
         "--identity", str(host.identity_file), "--image", image, "--timeout", "60"],
        cwd=PROJECT_DIR, capture_output=True, text=True, timeout=300, check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": str(host.directory)},
    )


def test_hosts_check_passes_and_pulls_into_the_hosts_store_only(
    second_host: SecondHost, remote_image: str, tmp_path: Path
) -> None:
    repo = remote_image.split("@")[0].rsplit(":", 1)[0]
    assert repo not in second_host.podman("images", "--format", "{{.Repository}}")
    done = run_check(stack_file(tmp_path, second_host, second_host.host_key_line), second_host, remote_image)
    lines = done.stdout.splitlines()
    assert done.returncode == 0, done.stdout + done.stderr
    assert [line.split(": ")[1] for line in lines] == [
        "ssh", "docker version over ssh://", "socket permissions", "pull from the registry"
    ]
    assert all(": ok (" in line for line in lines), lines
    assert "server 4." in lines[1], "the host's own Podman answered"
    # Pinned by digest, in the host's store; this machine has no engine holding it.
    digests = second_host.podman("images", "--digests", "--format", "{{.Repository}}@{{.Digest}}")
    assert f"{repo}@{remote_image.split('@')[1]}" in digests.split()
    default_store = subprocess.run(["podman", "images", "--format", "{{.Repository}}"], capture_output=True, text=True, check=False)
    assert repo not in default_store.stdout, "pulled on the second host, not here"


def test_a_wrong_pinned_key_fails_clearly(second_host: SecondHost, remote_image: str, tmp_path: Path) -> None:
    done = run_check(stack_file(tmp_path, second_host, OTHER_HOST_KEY), second_host, remote_image)
    assert done.returncode == 1
    (line,) = done.stdout.splitlines()
    assert line.startswith("second: ssh: FAIL (the host's key is not the pinned egoengine:hosts hostKey); fix: ")
    assert "Traceback" not in done.stderr


def test_a_host_without_a_docker_cli_fails_the_docker_check_with_its_fix(
    second_host: SecondHost, remote_image: str, tmp_path: Path
) -> None:
    # The same host on its second sshd (port 2222: a [host]:port known_hosts line) with no docker CLI.
    uri = f"{second_host.uri}:{second_host.no_docker_port}"
    done = run_check(stack_file(tmp_path, second_host, second_host.host_key_line, uri=uri), second_host, remote_image)
    assert done.returncode == 1
    ssh_line, docker_line = done.stdout.splitlines()[:2]
    assert ssh_line.startswith(f"second: ssh: ok (root@{second_host.address}:2222")
    assert docker_line.startswith("second: docker version over ssh://: FAIL (")
    assert "fix: install a docker CLI on the host (Debian: apt install docker.io; Podman 4.x has no" in docker_line


def test_an_image_the_registry_does_not_have_fails_the_pull_check(
    second_host: SecondHost, remote_image: str, tmp_path: Path
) -> None:
    missing = remote_image.split("@")[0] + "@sha256:" + "0" * 64
    done = run_check(stack_file(tmp_path, second_host, second_host.host_key_line), second_host, missing)
    assert done.returncode == 1
    assert done.stdout.splitlines()[-1].startswith("second: pull from the registry: FAIL (")
    assert "fix: let the host reach the registry" in done.stdout


def test_a_gpu_host_without_the_nvidia_runtime_fails_its_gpu_check(
    second_host: SecondHost, remote_image: str, tmp_path: Path
) -> None:
    done = run_check(stack_file(tmp_path, second_host, second_host.host_key_line, gpus=True), second_host, remote_image)
    assert done.returncode == 1
    assert done.stdout.splitlines()[-1].startswith("second: GPU runtime: FAIL (no nvidia runtime in docker info); fix: ")


def test_a_workspace_like_container_runs_there_through_ssh(
    second_host: SecondHost, remote_image: str, tmp_path: Path
) -> None:
    # The known_hosts exactly as the stack mounts it into Coder, built from the host's settings.
    host = HostSettings(name="second", uri=second_host.uri, host_key=second_host.host_key_line)
    mounted_known_hosts = tmp_path / "known_hosts"
    mounted_known_hosts.write_text(known_hosts([host]))
    mounted_known_hosts.chmod(0o600)

    def docker(*args: str) -> subprocess.CompletedProcess[str]:
        return second_host.docker(*args, known_hosts_file=mounted_known_hosts)

    # As coder-templates/docker-shell configures a workspace: the pinned image, the image's user,
    # a login-shell entrypoint running the agent script, only the agent token in env, the home on
    # a named volume at ~/workspaces, the coder.* labels.
    volume = "coder-ws-test-workspaces"
    assert docker("volume", "create", volume).returncode == 0
    try:
        done = docker(
            "run", "--name", "coder-test-ws", "--hostname", "ws", "--user", "1000",
            "--env", "CODER_AGENT_TOKEN=test-token", "--volume", f"{volume}:/home/joshsymonds/workspaces",
            "--label", "coder.workspace_id=ws-1", "--label", "coder.owner=tester",
            "--entrypoint", "/usr/bin/env", remote_image,
            "sh", "-lc", 'echo "agent as $(id -u) token=$CODER_AGENT_TOKEN"; touch "$HOME/workspaces/.persisted" && echo workspaces-ok',
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.split("\n")[:2] == ["agent as 1000 token=test-token", "workspaces-ok"]
        inspected = json.loads(docker("inspect", "coder-test-ws").stdout)[0]
        assert inspected["Config"]["Labels"]["coder.workspace_id"] == "ws-1"
        assert inspected["Config"]["User"] == "1000"
        # It ran on the second host: its own Podman has the container.
        assert "coder-test-ws" in second_host.podman("ps", "-a", "--format", "{{.Names}}")
    finally:
        second_host.docker("rm", "-f", "coder-test-ws")
        second_host.docker("volume", "rm", "-f", volume)


@pytest.mark.parametrize("owner", [CODER_UID, "0"], ids=["owner 1000 (as declared)", "owner root (no owner set)"])
def test_uploaded_key_files_are_mode_600_and_readable_by_coders_user(
    second_host: SecondHost, remote_image: str, owner: str
) -> None:
    """The Coder container's key files, written as the docker provider writes `uploads`: one tar
    per file put at "/" (kreuzwerker/terraform-provider-docker resource_docker_container_funcs.go),
    with the mode and the owner the stack declares, then read back as uid 1000 (Coder's user).
    Without the owner the tar says root, and Coder's user cannot read a mode-600 key."""
    assert second_host.docker("pull", "--quiet", remote_image).returncode == 0
    created = second_host.docker(
        "create", "--name", "coder-upload-test", "--user", CODER_UID, "--entrypoint", "/bin/sh", remote_image,
        "-c", f'stat -c "%a %u:%g" {CODER_IDENTITY_FILE} && cat {CODER_IDENTITY_FILE}',
    )
    assert created.returncode == 0, created.stderr
    container_id = created.stdout.strip()
    try:
        content = b"-----BEGIN OPENSSH PRIVATE KEY-----\nnot-a-real-key\n-----END OPENSSH PRIVATE KEY-----\n"
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            header = tarfile.TarInfo(CODER_IDENTITY_FILE)
            header.size, header.mode = len(content), 0o600
            header.uid = header.gid = int(owner)
            tar.addfile(header, io.BytesIO(content))
        with httpx.Client(transport=httpx.HTTPTransport(uds=str(second_host.podman_socket)), timeout=30) as client:
            response = client.put(
                f"http://podman/v1.41/containers/{container_id}/archive", params={"path": "/"}, content=buffer.getvalue()
            )
        assert response.status_code == 200, response.text
        started = second_host.docker("start", "--attach", "coder-upload-test")
        mode_and_owner, *key_lines = started.stdout.splitlines()
        assert mode_and_owner == f"600 {owner}:{owner}"
        if owner == CODER_UID:
            assert started.returncode == 0, started.stderr
            assert "\n".join(key_lines) + "\n" == content.decode()
        else:
            assert started.returncode != 0 and "Permission denied" in started.stdout + started.stderr
    finally:
        second_host.docker("rm", "-f", "coder-upload-test")
