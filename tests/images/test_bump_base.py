"""``python -m tools.bump_base`` against the local OCI registry with authentication, with real skopeo.

The base repository holds three git-sha tags built with buildah, each with its own content and an
image config ``created`` time set by ``buildah commit --timestamp``, plus ``latest``. The created
times order the tags differently from their names and from the push order, and ``latest`` is the
newest of all, so ``--newest`` can only pass by reading ``created`` of the sha tags alone.

Each test runs the tool in its own copy of the project (the tool rewrites ``Pulumi.<stack>.yaml``
next to the program), with the test registry as ``egoengine:images.base.repository``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.images.conftest import REPO_ROOT, RegistryService, free_port, remove_service_dir, run_checked

pytestmark = pytest.mark.integration

STACK = "vermissian"
# name -> created; pushed in this order, then `latest` (newest of all, and not a sha).
SHA_TAGS = {
    "aaaa111": datetime(2026, 1, 10, tzinfo=timezone.utc),
    "bbbb222": datetime(2026, 3, 10, tzinfo=timezone.utc),
    "cccc333": datetime(2026, 2, 10, tzinfo=timezone.utc),
}
NEWEST = "bbbb222"
SAME_AS_AAAA = "eeee555"  # the same image as aaaa111 (same digest) under another sha tag
LATEST_CREATED = datetime(2026, 6, 1, tzinfo=timezone.utc)
CURRENT_TAG = "22bba72"  # the tag the shipped stack files pin


@dataclass(frozen=True)
class BaseRepository:
    registry: RegistryService
    repo: str
    digests: dict[str, str]  # tag -> digest, as skopeo reports it


def _buildah(storage: Path) -> list[str]:
    return ["buildah", "--root", str(storage / "root"), "--runroot", str(storage / "run"), "--storage-driver", "vfs"]


@pytest.fixture(scope="session")
def base_repository(
    registry_service: RegistryService, registry_authfile: Path, request: pytest.FixtureRequest
) -> BaseRepository:
    if shutil.which("buildah") is None:
        pytest.fail("buildah is not installed (Makefile SYSTEM_PACKAGES)")
    # buildah's runroot has the same length limit as Podman's: a short private dir of its own.
    storage = Path(tempfile.mkdtemp(prefix="egoengine-buildah-"))
    request.addfinalizer(lambda: remove_service_dir(storage))
    repo = registry_service.repo("bump/egoengine")
    digests: dict[str, str] = {}
    for tag, created in [*SHA_TAGS.items(), ("latest", LATEST_CREATED)]:
        container = run_checked([*_buildah(storage), "from", "scratch"], "buildah from scratch").strip()
        content = storage / "content"
        content.write_text(f"egoengine {tag}\n")
        run_checked([*_buildah(storage), "copy", container, str(content), "/etc/egoengine-release"], "buildah copy")
        run_checked(
            [*_buildah(storage), "commit", "--quiet", "--timestamp", str(int(created.timestamp())),
             "--authfile", str(registry_authfile), "--tls-verify=false", container, f"docker://{repo}:{tag}"],
            f"buildah commit {tag}",
        )
        run_checked([*_buildah(storage), "rm", container], "buildah rm")
        inspected = json.loads(run_checked(
            ["skopeo", "inspect", "--tls-verify=false", "--authfile", str(registry_authfile), f"docker://{repo}:{tag}"],
            f"skopeo inspect {tag}",
        ))
        # What --newest orders by: skopeo's Created is the image config's `created`.
        assert inspected["Created"] == created.strftime("%Y-%m-%dT%H:%M:%SZ"), inspected
        digests[tag] = inspected["Digest"]
    assert len(set(digests.values())) == len(digests), "every tag must be a different image"
    run_checked(
        ["skopeo", "copy", "--quiet", "--src-tls-verify=false", "--dest-tls-verify=false",
         "--src-authfile", str(registry_authfile), "--dest-authfile", str(registry_authfile),
         f"docker://{repo}:aaaa111", f"docker://{repo}:{SAME_AS_AAAA}"],
        "skopeo copy to a second tag",
    )
    digests[SAME_AS_AAAA] = json.loads(run_checked(
        ["skopeo", "inspect", "--tls-verify=false", "--authfile", str(registry_authfile),
         f"docker://{repo}:{SAME_AS_AAAA}"],
        "skopeo inspect of the copy",
    ))["Digest"]
    assert digests[SAME_AS_AAAA] == digests["aaaa111"]
    return BaseRepository(registry_service, repo, digests)


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    """A copy of the program (the tool rewrites, and the plan reads, the copy's stack files)."""
    copy = tmp_path / "project"
    copy.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for entry in REPO_ROOT.iterdir():
        if entry.name.startswith(".") or entry.name == "tests":
            continue  # .git, .venv, caches and state; the tests themselves
        if entry.is_dir():
            shutil.copytree(entry, copy / entry.name, ignore=ignore)
        else:
            shutil.copy2(entry, copy / entry.name)
    # The tools run only in the project's virtualenv (tools/__init__.py): the copy shares it.
    (copy / ".venv").symlink_to((REPO_ROOT / ".venv").resolve())
    return copy


def stack_text(repo: str, *, digest: str | None = None) -> str:
    """The shipped vermissian stack file pointed at the test registry, optionally pinning a digest."""
    text = (REPO_ROOT / f"Pulumi.{STACK}.yaml").read_text()
    text = text.replace("repository: ghcr.io/joshsymonds/nix-config/egoengine", f"repository: {repo}", 1)
    if digest:
        text = text.replace(
            f"      tag: {CURRENT_TAG}\n",
            f"      tag: {CURRENT_TAG}  # moved by tools.bump_base\n      # pinned for offline previews\n"
            f"      digest: {digest}\n",
            1,
        )
    assert repo in text
    return text


Runner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture()
def bump(project: Path, base_repository: BaseRepository) -> Runner:
    def run(*args: str, credentials: bool = True) -> subprocess.CompletedProcess[str]:
        # No credentials but the ones given here: no REGISTRY_AUTH_FILE, no ~/.docker/config.json,
        # no $XDG_RUNTIME_DIR/containers/auth.json.
        environment = {key: value for key, value in os.environ.items()
                       if not key.startswith(("REGISTRY_", "DOCKER_")) and key != "XDG_RUNTIME_DIR"}
        environment["HOME"] = str(project)
        if credentials:
            environment["REGISTRY_USERNAME"] = base_repository.registry.username
            environment["REGISTRY_PASSWORD"] = base_repository.registry.password
        return subprocess.run(
            [sys.executable, "-m", "tools.bump_base", STACK, "--insecure-registry", *args],
            cwd=project, env=environment, capture_output=True, text=True, timeout=300, check=False,
        )

    return run


def write_stack(project: Path, text: str) -> Path:
    path = project / f"Pulumi.{STACK}.yaml"
    path.write_text(text)
    return path


def one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr
    return result.stderr


def test_an_existing_tag_moves_the_stack_and_only_the_tag_changes(
    project: Path, base_repository: BaseRepository, bump: Runner
) -> None:
    original = stack_text(base_repository.repo)
    path = write_stack(project, original)
    outputs = project / "github-output"
    result = bump("--tag", "cccc333", "--github-output", str(outputs), "--summary-file", str(project / "body.md"))
    assert result.returncode == 0, result.stderr
    assert path.read_text() == original.replace(f"      tag: {CURRENT_TAG}\n", "      tag: cccc333\n", 1)
    assert f"{base_repository.repo}:cccc333@{base_repository.digests['cccc333']}" in result.stdout
    assert outputs.read_text() == (
        f"changed=true\ntag=cccc333\ndigest={base_repository.digests['cccc333']}\nprevious-tag={CURRENT_TAG}\n"
    )
    body = (project / "body.md").read_text()
    assert "`22bba72` → `cccc333`" in body and base_repository.digests["cccc333"] in body
    assert base_repository.registry.password not in result.stdout + result.stderr + body


def test_a_pinned_digest_is_rewritten_with_the_tag_and_comments_stay(
    project: Path, base_repository: BaseRepository, bump: Runner
) -> None:
    old_digest = "sha256:" + "0" * 64
    original = stack_text(base_repository.repo, digest=old_digest)
    path = write_stack(project, original)
    result = bump("--tag", "aaaa111")
    assert result.returncode == 0, result.stderr
    expected = original.replace(f"tag: {CURRENT_TAG}  #", "tag: aaaa111  #", 1).replace(
        old_digest, base_repository.digests["aaaa111"], 1
    )
    assert path.read_text() == expected
    assert "digest rewritten too" in result.stdout


def test_a_full_sha_finds_the_short_tag_of_that_commit(
    project: Path, base_repository: BaseRepository, bump: Runner
) -> None:
    path = write_stack(project, stack_text(base_repository.repo))
    result = bump("--tag", "aaaa111" + "0123456789abcdef0123456789abcdef0")
    assert result.returncode == 0, result.stderr
    assert "      tag: aaaa111\n" in path.read_text()


def test_a_missing_tag_is_one_line_and_changes_nothing(
    project: Path, base_repository: BaseRepository, bump: Runner
) -> None:
    original = stack_text(base_repository.repo)
    path = write_stack(project, original)
    one_line_error(bump("--tag", "dddd444"), "tag dddd444 does not exist in", base_repository.repo)
    assert path.read_text() == original


def test_newest_takes_the_latest_created_sha_tag_and_ignores_latest(
    project: Path, base_repository: BaseRepository, bump: Runner
) -> None:
    path = write_stack(project, stack_text(base_repository.repo))
    result = bump("--newest")
    assert result.returncode == 0, result.stderr
    assert f"      tag: {NEWEST}\n" in path.read_text()
    assert f"created {SHA_TAGS[NEWEST].strftime('%Y-%m-%dT%H:%M:%SZ')}" in result.stdout


def test_a_stack_already_on_the_tag_is_left_alone(
    project: Path, base_repository: BaseRepository, bump: Runner
) -> None:
    original = stack_text(base_repository.repo).replace(f"tag: {CURRENT_TAG}", f"tag: {NEWEST}", 1)
    path = write_stack(project, original)
    before = path.stat().st_mtime_ns
    outputs = project / "github-output"
    result = bump("--newest", "--github-output", str(outputs))
    assert result.returncode == 0, result.stderr
    assert "nothing to change" in result.stdout
    assert path.read_text() == original and path.stat().st_mtime_ns == before
    assert outputs.read_text().startswith("changed=false\n")


def test_without_credentials_the_registry_refuses_in_one_line(
    project: Path, base_repository: BaseRepository, bump: Runner
) -> None:
    write_stack(project, stack_text(base_repository.repo))
    one_line_error(bump("--tag", "aaaa111", credentials=False), "refused access", "REGISTRY_USERNAME")


def test_an_unreachable_registry_is_one_line(project: Path, bump: Runner) -> None:
    original = stack_text(f"127.0.0.1:{free_port()}/bump/egoengine")
    path = write_stack(project, original)
    for selection in (["--tag", "aaaa111"], ["--newest"]):
        one_line_error(bump(*selection), "cannot be reached")
    assert path.read_text() == original


def test_a_stack_without_a_base_image_is_one_line(project: Path, bump: Runner) -> None:
    write_stack(project, "config:\n  egoengine:coder:\n    version: v2.25.1\n")
    one_line_error(bump("--newest"), "egoengine:images.base.tag is not set", "no base image")


def test_a_tag_that_is_no_sha_is_refused_before_any_look_up(project: Path, bump: Runner) -> None:
    write_stack(project, stack_text(f"127.0.0.1:{free_port()}/never/contacted"))
    one_line_error(bump("--tag", "latest"), "is not a git sha")
    one_line_error(bump("--tag", "$(touch pwned)"), "is not a git sha")
    assert not (project / "pwned").exists()


def test_the_summary_names_the_children_that_rebuild_and_the_templates_new_image(
    project: Path, base_repository: BaseRepository, bump: Runner
) -> None:
    write_stack(project, stack_text(base_repository.repo))
    body = project / "body.md"
    result = bump("--tag", NEWEST, "--summary-file", str(body))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no traceback, no warning from the plan's engine at exit
    new_ref = f"{base_repository.repo}:{NEWEST}@{base_repository.digests[NEWEST]}"
    lines = result.stdout.splitlines()
    assert "Children rebuilt: egoengine-image-creative-lab" in lines
    assert f"  docker-envbuilder: {new_ref}" in lines and f"  docker-shell: {new_ref}" in lines
    assert "Replaced: egoengine-image-creative-lab-build" in lines
    assert any(line.startswith("  replace  command:local:Command  egoengine-image-creative-lab-build") for line in lines)
    assert lines[-1].endswith("downtime: none; data at risk: none")
    markdown = body.read_text()
    assert "- Children rebuilt: `egoengine-image-creative-lab`" in markdown
    assert f"→ `{new_ref}`" in markdown


def test_the_same_image_under_a_new_tag_rebuilds_no_child(
    project: Path, base_repository: BaseRepository, bump: Runner
) -> None:
    write_stack(project, stack_text(base_repository.repo).replace(f"tag: {CURRENT_TAG}", "tag: aaaa111", 1))
    result = bump("--tag", SAME_AS_AAAA)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "Children rebuilt: none (the base digest is unchanged)" in lines and "Replaced: nothing" in lines
    new_ref = f"{base_repository.repo}:{SAME_AS_AAAA}@{base_repository.digests['aaaa111']}"
    assert f"  docker-shell: {new_ref}" in lines


def test_a_stack_the_program_rejects_is_one_line_and_is_not_rewritten(
    project: Path, base_repository: BaseRepository, bump: Runner
) -> None:
    original = stack_text(base_repository.repo).replace("workspaceImage: base", "workspaceImage: nope", 1)
    path = write_stack(project, original)
    one_line_error(bump("--tag", NEWEST), "templates.workspaceImage")
    assert path.read_text() == original
