"""``python -m tools.build_image`` against a real Podman API service, a real registry and skopeo.

The tool runs as a subprocess exactly as the Pulumi program runs it: registry credentials and the
engine socket only in the environment, one JSON line on stdout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from components.image_build import INHERITANCE_RULE, INHERITED_FIELDS, ImageExtras, child_tag, context_digest

from .conftest import BASE_PATH, HOME, REPO_ROOT, USER_ID, Services

pytestmark = pytest.mark.integration

RunTool = Callable[..., subprocess.CompletedProcess[str]]
CREATIVE_LAB = REPO_ROOT / "images" / "creative-lab"


def write_context(directory: Path, containerfile_body: str, files: dict[str, str] | None = None) -> Path:
    directory.mkdir(parents=True)
    (directory / "Containerfile").write_text("ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n" + containerfile_body)
    for relative, content in (files or {}).items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        path.chmod(0o755)
    return directory


def build(
    run_tool: RunTool,
    services: Services,
    builder: str,
    *args: str,
    with_credentials: bool = True,
    env_extra: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    env = services.tool_env(with_credentials=with_credentials) | (env_extra or {})
    completed = run_tool(
        "tools.build_image", builder, "--base", services.base.ref, "--insecure-registry", *args, env=env
    )
    # Whatever happened, the credentials never reach the output.
    assert services.registry.password not in completed.stdout + completed.stderr
    return completed


def result_of(completed: subprocess.CompletedProcess[str]) -> dict[str, str]:
    assert completed.returncode == 0, completed.stderr[-3000:]
    lines = completed.stdout.strip().splitlines()
    assert len(lines) == 1, f"stdout must be exactly one JSON line, got: {completed.stdout!r}"
    result: dict[str, str] = json.loads(lines[0])
    return result


def login_shell(services: Services, ref: str, script: str) -> str:
    """Run ``sh -l -c script`` in a container of ``ref`` (pulled by the engine with the test credentials)."""
    completed = services.engine.docker("run", "--rm", "--network", "none", ref, "sh", "-l", "-c", script)
    return completed.stdout


def assert_config_inherited(services: Services, ref: str) -> None:
    repo_and_tag, digest = ref.split("@")
    child_config = services.skopeo_json("--config", f"docker://{repo_and_tag.rsplit(':', 1)[0]}@{digest}")["config"]
    for name in INHERITED_FIELDS:
        assert child_config.get(name) == services.base.config.get(name), name


def test_child_with_extras_is_pushed_pinned_inherits_config_and_gets_env_local_and_link(
    services: Services, run_tool: RunTool, tmp_path: Path
) -> None:
    context = write_context(
        tmp_path / "child",
        "COPY tools/ /opt/child-tools/bin/\n",
        {
            "tools/greet": '#!/bin/sh\necho "greetings from $(id -un)"\n',
        },
    )
    env_local = ['export PATH="$PATH:/opt/child-tools/bin"', "export CHILD_MARKER='set by ~/.env.local'"]
    repo = services.registry.repo("children/greeter")
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    completed = build(
        run_tool,
        services,
        "containerfile",
        "--name",
        "greeter",
        "--context",
        str(context),
        "--repo",
        repo,
        "--env-local",
        env_local[0],
        "--env-local",
        env_local[1],
        "--link",
        "hi=/opt/child-tools/bin/greet",
        env_extra={"TMPDIR": str(private_tmp)},
    )
    result = result_of(completed)
    # The build's temp dir, with the auth file the credentials were written to, is gone.
    assert list(private_tmp.iterdir()) == []

    # The tag is the one the program computes at plan time from the same inputs.
    expected_tag = child_tag(
        context_digest(context),
        services.base.digest,
        ImageExtras(tuple(env_local), {"hi": "/opt/child-tools/bin/greet"}),
    )
    assert result["tag"] == expected_tag
    assert result["ref"] == f"{repo}:{expected_tag}@{result['digest']}"
    # The digest resolves in the registry, under the tag too.
    assert services.skopeo_json("--no-tags", f"docker://{repo}@{result['digest']}")["Digest"] == result["digest"]
    assert services.skopeo_json("--no-tags", f"docker://{repo}:{expected_tag}")["Digest"] == result["digest"]
    assert_config_inherited(services, result["ref"])

    output = login_shell(
        services,
        result["ref"],
        (
            'echo "PATH=$PATH"; echo "MARKER=$CHILD_MARKER"; stat -c "%u %a" ~/.env.local; '
            "readlink ~/.local/bin/hi; hi; greet; id -u; pwd"
        ),
    ).splitlines()
    assert output[0] == f"PATH={BASE_PATH}:/opt/child-tools/bin"
    assert output[1] == "MARKER=set by ~/.env.local"
    assert output[2].split()[0] == str(USER_ID)  # ~/.env.local belongs to the user
    assert output[3] == "/opt/child-tools/bin/greet"
    assert output[4] == output[5] == "greetings from joshsymonds"  # via the link, and via the PATH
    assert output[6:] == [str(USER_ID), HOME]  # the base's User and WorkingDir still apply


def test_same_inputs_reuse_the_pushed_tag_without_rebuilding(
    services: Services, run_tool: RunTool, tmp_path: Path
) -> None:
    context = write_context(tmp_path / "child", "COPY note.txt /opt/note.txt\n", {"note.txt": "v1\n"})
    repo = services.registry.repo("children/reuse")
    args = ("--name", "reuse", "--context", str(context), "--repo", repo, "--link", "note=/opt/note.txt")
    first = result_of(build(run_tool, services, "containerfile", *args))
    second_run = build(run_tool, services, "containerfile", *args)
    assert result_of(second_run) == first
    assert "reusing" in second_run.stderr and "STEP" not in second_run.stderr  # nothing was built

    (context / "note.txt").write_text("v2\n")
    changed = result_of(build(run_tool, services, "containerfile", *args))
    assert changed["tag"] != first["tag"] and changed["digest"] != first["digest"]
    assert login_shell(services, changed["ref"], "cat /opt/note.txt") == "v2\n"


@pytest.mark.parametrize(
    ("instruction", "field"),
    [
        ("ENV PATH=/opt/override/bin:/usr/bin:/bin", "Env"),
        ("USER root", "User"),
        ('CMD ["/bin/sh"]', "Cmd"),
    ],
)
def test_child_that_sets_config_is_rejected_before_push(
    services: Services, run_tool: RunTool, tmp_path: Path, instruction: str, field: str
) -> None:
    context = write_context(tmp_path / "bad", f"{instruction}\n")
    repo = services.registry.repo(f"children/bad-{field.lower()}")
    completed = build(
        run_tool,
        services,
        "containerfile",
        "--name",
        f"bad-{field.lower()}",
        "--context",
        str(context),
        "--repo",
        repo,
        "--tag",
        "t1",
    )
    assert completed.returncode == 1
    assert completed.stdout == ""
    last_line = completed.stderr.strip().splitlines()[-1]
    assert last_line.startswith("build_image: child image ")
    assert f"{field}: base has {json.dumps(services.base.config[field])}" in last_line
    assert INHERITANCE_RULE in last_line
    assert "Traceback" not in completed.stderr
    assert not services.tag_exists(repo, "t1"), "a child that breaks inheritance must not be published"


def test_creative_lab_builds_from_the_base_and_passes_the_check(services: Services, run_tool: RunTool) -> None:
    repo = services.registry.repo("creative-lab")
    completed = build(
        run_tool,
        services,
        "containerfile",
        "--name",
        "creative-lab",
        "--context",
        str(CREATIVE_LAB),
        "--repo",
        repo,
        "--config-key",
        "egoengine:images.children[0]",
        "--env-local",
        'export PATH="$PATH:/opt/creative-lab/bin"',
        "--link",
        "lab=/opt/creative-lab/bin/lab",
    )
    result = result_of(completed)
    assert_config_inherited(services, result["ref"])
    output = login_shell(
        services,
        result["ref"],
        (
            "lab version; lab new poster; ls ~/lab/poster; head -1 ~/lab/poster/notes.md; "
            "command -v lab; ~/.local/bin/lab where"
        ),
    ).splitlines()
    assert output == [
        "creative-lab 1",
        f"{HOME}/lab/poster",
        "assets",
        "notes.md",
        "renders",
        "sketches",
        "# poster",
        f"{HOME}/.local/bin/lab",  # the link comes first on PATH; /opt/creative-lab/bin is appended
        f"{HOME}/lab",
    ]


def test_missing_credentials_fail_with_one_line(services: Services, run_tool: RunTool) -> None:
    completed = build(
        run_tool,
        services,
        "containerfile",
        "--name",
        "creative-lab",
        "--context",
        str(CREATIVE_LAB),
        "--repo",
        services.registry.repo("creative-lab"),
        with_credentials=False,
        env_extra={"HOME": str(REPO_ROOT / "does-not-exist")},
    )  # no login of the operator's either
    assert completed.returncode == 1
    assert completed.stdout == ""
    assert "Traceback" not in completed.stderr
    last_line = completed.stderr.strip().splitlines()[-1]
    assert last_line.startswith(f"build_image: inspect {services.base.repo}@{services.base.digest} failed: ")
    assert "authentication required" in last_line or "unauthorized" in last_line.lower()


# ---------------------------------------------------------------------------------------------------
# The nix builder. No Nix here: a stand-in `nix` on PATH answers `nix build .#ATTR --out-link L` by
# writing a gzip'd docker-archive (what dockerTools.buildLayeredImage produces) at L. Everything after
# `nix build` (skopeo from the archive, the extras build, the push and the checks) runs for real.
# ---------------------------------------------------------------------------------------------------

FAKE_NIX = """#!/bin/sh
# stand-in for `nix build --print-build-logs .#ATTR --out-link LINK` (see the test module)
[ "$1" = build ] || { echo "fake nix: unexpected $*" >&2; exit 64; }
while [ $# -gt 0 ]; do
  case $1 in --out-link) link=$2; shift ;; .#*) attr=${1#.#} ;; esac
  shift
done
[ -f flake.nix ] || { echo "fake nix: not run in the flake directory" >&2; exit 65; }
echo "building .#$attr"
cp "@ARCHIVE@" "$link"
"""


@pytest.fixture(scope="module")
def nix_stand_in(services: Services, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    directory = tmp_path_factory.mktemp("fake-nix")
    archive = directory / "image.tar"
    subprocess.run(
        [
            "skopeo",
            "copy",
            "--quiet",
            "--src-tls-verify=false",
            "--src-authfile",
            str(services.authfile),
            f"docker://{services.base.repo}@{services.base.digest}",
            f"docker-archive:{archive}",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    subprocess.run(["gzip", "-n", str(archive)], check=True, timeout=60)
    (directory / "bin").mkdir()
    # The archive's path is written into the stand-in: build_image gives nix an allow-listed
    # environment (tools/child_env.py), so a variable of the test's own would not reach it.
    (directory / "bin" / "nix").write_text(FAKE_NIX.replace("@ARCHIVE@", f"{archive}.gz"))
    (directory / "bin" / "nix").chmod(0o755)
    return {"PATH": f"{directory / 'bin'}{os.pathsep}{os.environ['PATH']}"}


@pytest.fixture()
def flake_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "flake"
    directory.mkdir()
    (directory / "flake.nix").write_text("{ outputs = { self }: { }; }\n")
    return directory


def test_nix_child_without_extras_is_copied_from_the_archive(
    services: Services, run_tool: RunTool, nix_stand_in: dict[str, str], flake_dir: Path
) -> None:
    repo = services.registry.repo("nix-plain")
    completed = build(
        run_tool,
        services,
        "nix",
        "--name",
        "nix-plain",
        "--flake",
        str(flake_dir),
        "--attr",
        "creative-lab",
        "--repo",
        repo,
        env_extra=nix_stand_in,
    )
    result = result_of(completed)
    assert "building .#creative-lab" in completed.stderr
    assert services.skopeo_json("--no-tags", f"docker://{repo}:{result['tag']}")["Digest"] == result["digest"]
    assert_config_inherited(services, result["ref"])


def test_nix_child_with_extras_gets_them_built_on_top(
    services: Services, run_tool: RunTool, nix_stand_in: dict[str, str], flake_dir: Path
) -> None:
    repo = services.registry.repo("nix-extras")
    completed = build(
        run_tool,
        services,
        "nix",
        "--name",
        "nix-extras",
        "--flake",
        str(flake_dir),
        "--attr",
        "creative-lab",
        "--repo",
        repo,
        "--env-local",
        "export FROM_NIX_CHILD=yes",
        "--link",
        "busybox-link=/bin/busybox",
        env_extra=nix_stand_in,
    )
    result = result_of(completed)
    assert_config_inherited(services, result["ref"])
    assert login_shell(services, result["ref"], 'echo "$FROM_NIX_CHILD"; readlink ~/.local/bin/busybox-link') == (
        "yes\n/bin/busybox\n"
    )
    # Only the final image is published; the loaded archive stays local to the build.
    assert services.tag_exists(repo, result["tag"]) and not services.tag_exists(repo, result["tag"] + "-nix")
    local_images = services.engine.docker("image", "ls", "--format", "{{.Repository}}:{{.Tag}}").stdout
    assert "egoengine-build/nix-extras" not in local_images


def test_nix_builder_without_nix_installed_says_so(
    services: Services, run_tool: RunTool, flake_dir: Path, tmp_path: Path
) -> None:
    bare_path = tmp_path / "bin"
    bare_path.mkdir()
    for tool in ("skopeo", "docker"):
        (bare_path / tool).symlink_to(shutil.which(tool) or tool)
    completed = build(
        run_tool,
        services,
        "nix",
        "--name",
        "nix-missing",
        "--flake",
        str(flake_dir),
        "--attr",
        "creative-lab",
        "--repo",
        services.registry.repo("nix-missing"),
        env_extra={"PATH": str(bare_path)},
    )
    assert completed.returncode == 1
    assert completed.stderr.strip().splitlines()[-1] == (
        "build_image: nix build .#creative-lab: `nix` is not installed or not on PATH"
    )
