"""tools/build_image.py without services: command lines, credentials handling, input errors.

The nix builder's commands are checked here as argv lists; Nix itself is not installed on this machine,
so `nix build` is never run for real (the integration tests replace it with a stand-in).
"""

from __future__ import annotations

import base64
import gzip
import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from components.input_error import InputError
from components.image_build import ImageExtras
from tools.build_image import (
    RegistryAccess,
    containerfile_with_extras,
    credentials_from,
    docker_build_step,
    engine_host_from,
    local_image_name,
    nix_archive_copy_step,
    nix_build_step,
    parse_request,
    skopeo_inspect_step,
    skopeo_push_from_engine_step,
    uncompressed_archive,
    write_authfile,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
DIGEST = "sha256:" + "0" * 64
BASE = f"ghcr.io/joshsymonds/nix-config/egoengine:abc1234@{DIGEST}"
ENGINE = "unix:///run/podman/podman.sock"
SECURE = RegistryAccess(insecure=False, authfile=None)
INSECURE_WITH_AUTH = RegistryAccess(insecure=True, authfile=Path("/tmp/private/config.json"))


def test_nix_build_runs_in_the_flake_dir_with_an_out_link() -> None:
    step = nix_build_step(Path("/src/flake"), "creative-lab", Path("/tmp/w/result"))
    assert step.argv == ("nix", "build", "--print-build-logs", ".#creative-lab", "--out-link", "/tmp/w/result")
    assert step.cwd == Path("/src/flake")


def test_nix_archive_goes_to_the_registry_without_extras() -> None:
    step = nix_archive_copy_step(
        Path("/tmp/w/image.tar"),
        "ghcr.io/o/lab:c-1",
        INSECURE_WITH_AUTH,
        Path("/tmp/w/digest"),
        ENGINE,
        "localhost/egoengine-build/lab:c-1-nix",
        with_extras=False,
    )
    assert step.argv == (
        "skopeo",
        "copy",
        "--quiet",
        "--dest-tls-verify=false",
        "--dest-authfile",
        "/tmp/private/config.json",
        "--digestfile",
        "/tmp/w/digest",
        "docker-archive:/tmp/w/image.tar",
        "docker://ghcr.io/o/lab:c-1",
    )


def test_nix_archive_is_loaded_into_the_engine_when_extras_are_built_on_top() -> None:
    step = nix_archive_copy_step(
        Path("/tmp/w/image.tar"),
        "ghcr.io/o/lab:c-1",
        SECURE,
        Path("/tmp/w/digest"),
        ENGINE,
        "localhost/egoengine-build/lab:c-1-nix",
        with_extras=True,
    )
    assert step.argv == (
        "skopeo",
        "copy",
        "--quiet",
        "--dest-daemon-host",
        ENGINE,
        "docker-archive:/tmp/w/image.tar",
        "docker-daemon:localhost/egoengine-build/lab:c-1-nix",
    )


def test_build_and_push_commands_carry_no_credentials_and_tls_off_only_when_asked() -> None:
    build = docker_build_step(
        Path("/w/context/Containerfile"), Path("/w/context"), BASE, local_image_name("lab", "c-1")
    )
    assert build.argv == (
        "docker",
        "build",
        "--force-rm",
        "--file",
        "/w/context/Containerfile",
        "--build-arg",
        f"BASE_IMAGE={BASE}",
        "--tag",
        "localhost/egoengine-build/lab:c-1",
        "/w/context",
    )
    push = skopeo_push_from_engine_step(
        ENGINE, "localhost/egoengine-build/lab:c-1", "ghcr.io/o/lab:c-1", SECURE, Path("/w/d")
    )
    assert push.argv == (
        "skopeo",
        "copy",
        "--quiet",
        "--src-daemon-host",
        ENGINE,
        "--digestfile",
        "/w/d",
        "docker-daemon:localhost/egoengine-build/lab:c-1",
        "docker://ghcr.io/o/lab:c-1",
    )
    inspect = skopeo_inspect_step("ghcr.io/o/lab@" + DIGEST, INSECURE_WITH_AUTH, config=True)
    assert inspect.argv == (
        "skopeo",
        "inspect",
        "--tls-verify=false",
        "--authfile",
        "/tmp/private/config.json",
        "--config",
        f"docker://ghcr.io/o/lab@{DIGEST}",
    )


def test_containerfile_gets_the_extras_appended_after_its_own_build() -> None:
    original = "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nCOPY bin/ /opt/lab/bin/"
    assert containerfile_with_extras(original, "1000", "/home/u", ImageExtras()) == original
    extended = containerfile_with_extras(
        original, "1000", "/home/u", ImageExtras(("export A=1",), {"lab": "/opt/lab/bin/lab"})
    )
    assert extended.startswith(original + "\n")
    assert extended.splitlines()[-2:] == [
        'COPY --chown=1000 [".egoengine-extras/env.local", "/home/u/.env.local"]',
        "RUN mkdir -p /home/u/.local/bin && ln -sf /opt/lab/bin/lab /home/u/.local/bin/lab",
    ]


def test_authfile_is_private_and_only_for_the_push_registry(tmp_path: Path) -> None:
    path = write_authfile(tmp_path, "ghcr.io", ("robot", "s3cr3t:with:colons"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    document = json.loads(path.read_text())
    assert list(document["auths"]) == ["ghcr.io"]
    assert base64.b64decode(document["auths"]["ghcr.io"]["auth"]).decode() == "robot:s3cr3t:with:colons"
    (tmp_path / "hub").mkdir()
    hub = json.loads(write_authfile(tmp_path / "hub", "docker.io", ("u", "p")).read_text())
    assert set(hub["auths"]) == {"docker.io", "https://index.docker.io/v1/"}


def test_credentials_come_in_pairs_and_errors_never_echo_them() -> None:
    assert credentials_from({}) is None
    assert credentials_from({"REGISTRY_USERNAME": "u", "REGISTRY_PASSWORD": "p"}) == ("u", "p")
    with pytest.raises(InputError) as caught:
        credentials_from({"REGISTRY_USERNAME": "robot", "REGISTRY_PASSWORD": ""})
    assert str(caught.value).startswith("config REGISTRY_PASSWORD: is not set while its partner is")
    with pytest.raises(InputError) as caught:
        credentials_from({"REGISTRY_PASSWORD": "hunter2-secret"})
    assert "hunter2-secret" not in str(caught.value) and "REGISTRY_USERNAME" in str(caught.value)


def test_engine_host_is_required_and_must_be_an_api_address() -> None:
    assert engine_host_from({"ENGINE_HOST": ENGINE}) == ENGINE
    with pytest.raises(InputError, match=r"^config ENGINE_HOST: is not set"):
        engine_host_from({})
    with pytest.raises(InputError, match="is not a unix:// or tcp:// address"):
        engine_host_from({"ENGINE_HOST": "/run/podman/podman.sock"})


def test_gzip_archives_are_decompressed_for_skopeo(tmp_path: Path) -> None:
    payload = b"manifest.json" + bytes(2000)
    plain = tmp_path / "plain.tar"
    plain.write_bytes(payload)
    assert uncompressed_archive(plain, tmp_path) == plain
    compressed = tmp_path / "result"
    compressed.write_bytes(gzip.compress(payload))
    decompressed = uncompressed_archive(compressed, tmp_path)
    assert decompressed != compressed and decompressed.read_bytes() == payload


def test_request_parsing_validates_and_names_the_config_key(tmp_path: Path) -> None:
    (tmp_path / "Containerfile").write_text("ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n")
    request = parse_request(
        [
            "containerfile",
            "--name",
            "lab",
            "--context",
            str(tmp_path),
            "--base",
            BASE,
            "--repo",
            "ghcr.io/o/lab",
            "--env-local",
            "export A=1",
            "--link",
            "lab=/opt/lab/bin/lab",
        ]
    )
    assert request.base.digest == DIGEST and request.context == tmp_path
    assert request.extras == ImageExtras(("export A=1",), {"lab": "/opt/lab/bin/lab"})
    with pytest.raises(InputError, match=r"^config egoengine:images\.children\[3\]\.links\.lab: target 'bin/lab'"):
        parse_request(
            [
                "containerfile",
                "--name",
                "lab",
                "--context",
                str(tmp_path),
                "--base",
                BASE,
                "--repo",
                "r/x",
                "--link",
                "lab=bin/lab",
                "--config-key",
                "egoengine:images.children[3]",
            ]
        )
    with pytest.raises(InputError, match=r"^config egoengine:images\.children\[3\]\.flake: .* has no flake.nix"):
        parse_request(
            [
                "nix",
                "--name",
                "lab",
                "--flake",
                str(tmp_path),
                "--attr",
                "lab",
                "--base",
                BASE,
                "--repo",
                "r/x",
                "--config-key",
                "egoengine:images.children[3]",
            ]
        )
    with pytest.raises(InputError, match=r"^config --repo: 'r/x:v1' carries a tag or digest"):
        parse_request(
            ["containerfile", "--name", "lab", "--context", str(tmp_path), "--base", BASE, "--repo", "r/x:v1"]
        )
    with pytest.raises(InputError, match=r"^config --name: 'Lab' is not an image name"):
        parse_request(["containerfile", "--name", "Lab", "--context", str(tmp_path), "--base", BASE, "--repo", "r/x"])


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tools.build_image", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["--base", "ghcr.io/x/egoengine:latest"],
            "build_image: config --base: 'ghcr.io/x/egoengine:latest' is not pinned by digest; "
            "expected repo:tag@sha256:<64 hex> (the pinned base image)",
        ),
        (
            ["--base", BASE, "--context", "/nonexistent", "--config-key", "egoengine:images.children[0]"],
            "build_image: config egoengine:images.children[0].context: "
            "build context '/nonexistent' is not a directory; "
            "expected a Containerfile whose first instructions are `ARG BASE_IMAGE` then `FROM ${BASE_IMAGE}`",
        ),
        (
            ["--base", BASE],
            "build_image: config ENGINE_HOST: is not set; "
            "expected the engine's Docker-compatible API, e.g. unix:///run/podman/podman.sock",
        ),
    ],
)
def test_bad_input_exits_2_with_one_line_and_no_traceback(tmp_path: Path, args: list[str], expected: str) -> None:
    (tmp_path / "Containerfile").write_text("ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n")
    argv = ["containerfile", "--name", "lab", "--repo", "ghcr.io/o/lab", "--context", str(tmp_path), *args]
    completed = run_cli(
        *argv, env={"PATH": "/usr/bin:/bin", "REGISTRY_USERNAME": "u", "REGISTRY_PASSWORD": "pw-never-shown"}
    )
    assert completed.returncode == 2
    assert completed.stdout == ""
    assert completed.stderr.strip() == expected
    assert "pw-never-shown" not in completed.stderr
