"""Unit tests of components/image_build.py (pure: no engine, no registry)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from components.input_error import InputError
from components.image_build import (
    INHERITANCE_RULE,
    INHERITED_FIELDS,
    ImageExtras,
    InheritanceError,
    PinnedRef,
    check_inheritance,
    child_key,
    child_tag,
    config_env,
    context_digest,
    env_local_content,
    extras_containerfile_lines,
    extras_context_files,
    parse_extras,
    registry_host,
    validate_containerfile_context,
    validate_flake_attr,
)

BASE_DIGEST = "sha256:" + "a" * 64
OTHER_BASE_DIGEST = "sha256:" + "b" * 64
EXTRAS = ImageExtras(('export PATH="$PATH:/opt/lab/bin"',), {"lab": "/opt/lab/bin/lab"})
HEAD = "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n"


def make_context(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for relative, content in files.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return directory


@pytest.fixture()
def context(tmp_path: Path) -> Path:
    return make_context(
        tmp_path / "ctx", {"Containerfile": HEAD + "COPY bin/ /opt/lab/bin/\n", "bin/lab": "#!/bin/sh\n"}
    )


# -- context_digest -----------------------------------------------------------------------------------


def test_context_digest_depends_on_content_not_location(context: Path, tmp_path: Path) -> None:
    copy = tmp_path / "elsewhere"
    shutil.copytree(context, copy)
    digest = context_digest(context)
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest)
    assert context_digest(copy) == digest


@pytest.mark.parametrize("change", ["content", "new file", "rename", "executable bit", "symlink target", "empty dir"])
def test_context_digest_changes_with_every_built_input(context: Path, change: str) -> None:
    (context / "link").symlink_to("bin/lab")
    before = context_digest(context)
    if change == "content":
        (context / "bin" / "lab").write_text("#!/bin/sh\necho 2\n")
    elif change == "new file":
        (context / "bin" / "other").write_text("")
    elif change == "rename":
        (context / "bin" / "lab").rename(context / "bin" / "lab2")
    elif change == "executable bit":
        (context / "bin" / "lab").chmod(0o755)
    elif change == "symlink target":
        (context / "link").unlink()
        (context / "link").symlink_to("Containerfile")
    else:
        (context / "share").mkdir()
    assert context_digest(context) != before


def test_context_digest_ignores_hidden_files_and_directories(context: Path) -> None:
    before = context_digest(context)
    (context / ".git").mkdir()
    (context / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (context / ".dockerignore").write_text("*\n")
    (context / "bin" / ".lab.swp").write_text("x")
    assert context_digest(context) == before


# -- child_tag ------------------------------------------------------------------------------------------


def test_child_tag_is_short_stable_and_identical_for_identical_inputs(context: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(context, copy)
    tag = child_tag(context_digest(context), BASE_DIGEST, EXTRAS)
    assert re.fullmatch(r"c-[0-9a-f]{16}", tag)
    same_extras = ImageExtras(tuple(EXTRAS.env_local), dict(EXTRAS.links))
    assert child_tag(context_digest(copy), BASE_DIGEST, same_extras) == tag
    # Link order in the mapping is not an input.
    two = ImageExtras((), {"a": "/x/a", "b": "/x/b"})
    assert child_tag("sha256:c", BASE_DIGEST, two) == child_tag(
        "sha256:c", BASE_DIGEST, ImageExtras((), {"b": "/x/b", "a": "/x/a"})
    )


@pytest.mark.parametrize(
    "variant",
    [
        ("sha256:other-context", BASE_DIGEST, EXTRAS),
        ("sha256:context", OTHER_BASE_DIGEST, EXTRAS),
        ("sha256:context", BASE_DIGEST, ImageExtras()),
        ("sha256:context", BASE_DIGEST, ImageExtras((*EXTRAS.env_local, "export A=1"), EXTRAS.links)),
        ("sha256:context", BASE_DIGEST, ImageExtras(("export A=1", "export B=2"), {})),
        ("sha256:context", BASE_DIGEST, ImageExtras(EXTRAS.env_local, {"lab": "/opt/lab/bin/other"})),
        ("sha256:context", BASE_DIGEST, ImageExtras(EXTRAS.env_local, {"lab2": "/opt/lab/bin/lab"})),
    ],
)
def test_child_tag_changes_with_context_base_digest_and_extras(variant: tuple[str, str, ImageExtras]) -> None:
    reference = child_tag("sha256:context", BASE_DIGEST, EXTRAS)
    assert child_tag(*variant) != reference


def test_child_tag_env_local_order_matters_and_recipe_is_an_input() -> None:
    forward = ImageExtras(("export A=1", "export B=$A"), {})
    backward = ImageExtras(("export B=$A", "export A=1"), {})
    assert child_tag("sha256:c", BASE_DIGEST, forward) != child_tag("sha256:c", BASE_DIGEST, backward)
    plain = child_tag("sha256:c", BASE_DIGEST, EXTRAS)
    assert child_tag("sha256:c", BASE_DIGEST, EXTRAS, recipe="") == plain
    assert child_tag("sha256:c", BASE_DIGEST, EXTRAS, recipe="nix:.#creative-lab") != plain


# -- extras -----------------------------------------------------------------------------------------------


def test_extras_lines_write_files_only_and_never_set_config() -> None:
    extras = ImageExtras(('export PATH="$PATH:/opt/my env/bin"',), {"my-tool": "/opt/my env/bin/tool", "a": "/bin/a"})
    lines = extras_containerfile_lines("joshsymonds", "/home/joshsymonds", extras)
    instructions = [line.split()[0] for line in lines if line and not line.startswith("#")]
    assert instructions == ["COPY", "RUN"]
    assert lines[-2] == 'COPY --chown=joshsymonds [".egoengine-extras/env.local", "/home/joshsymonds/.env.local"]'
    assert lines[-1] == (
        "RUN mkdir -p /home/joshsymonds/.local/bin"
        " && ln -sf /bin/a /home/joshsymonds/.local/bin/a"
        " && ln -sf '/opt/my env/bin/tool' /home/joshsymonds/.local/bin/my-tool"
    )
    assert extras_context_files(extras) == {".egoengine-extras/env.local": env_local_content(extras)}
    assert env_local_content(extras).decode().splitlines()[1:] == ['export PATH="$PATH:/opt/my env/bin"']


def test_extras_lines_are_empty_without_extras_and_skip_chown_for_an_unset_user() -> None:
    assert extras_containerfile_lines("1000", "/home/u", ImageExtras()) == []
    assert extras_context_files(ImageExtras()) == {}
    lines = extras_containerfile_lines("", "/root", ImageExtras(("export A=1",), {}))
    assert lines[-1] == 'COPY [".egoengine-extras/env.local", "/root/.env.local"]'


# -- inheritance ------------------------------------------------------------------------------------------

BASE_CONFIG = {
    "User": "joshsymonds",
    "Env": ["PATH=/home/joshsymonds/.local/bin:/usr/bin:/bin", "HOME=/home/joshsymonds"],
    "Cmd": ["/bin/zsh", "-l"],
    "WorkingDir": "/home/joshsymonds",
    "Labels": {"org.opencontainers.image.title": "egoengine"},
}


def test_identical_config_passes_and_unset_forms_are_equal() -> None:
    child = dict(BASE_CONFIG, Labels={"io.buildah.version": "1.28"}, Entrypoint=[])
    check_inheritance("creative-lab", BASE_CONFIG, child)  # labels are not inherited fields; [] == unset
    check_inheritance("x", None, {"Cmd": None})


@pytest.mark.parametrize("field_name", INHERITED_FIELDS)
def test_each_inherited_field_is_checked_and_the_message_explains(field_name: str) -> None:
    changed = {"User": "root", "Env": ["PATH=/opt/bin"], "Cmd": ["/bin/sh"], "Entrypoint": ["/init"], "WorkingDir": "/"}
    child = dict(BASE_CONFIG, **{field_name: changed[field_name]})
    with pytest.raises(InheritanceError) as caught:
        check_inheritance("creative-lab", BASE_CONFIG, child)
    message = str(caught.value)
    assert message.startswith("child image 'creative-lab' changed inherited config (")
    assert f"{field_name}: base has " in message
    assert json.dumps(BASE_CONFIG.get(field_name)) in message and json.dumps(changed[field_name]) in message
    assert message.endswith(INHERITANCE_RULE)
    assert INHERITANCE_RULE == "config replaces, not merges: do not set config; extend PATH through ~/.env.local"
    assert [change.field for change in caught.value.changes] == [field_name]


def test_every_changed_field_is_reported_at_once() -> None:
    with pytest.raises(InheritanceError) as caught:
        check_inheritance("c", BASE_CONFIG, {"User": "root", "Cmd": ["/bin/sh"]})
    assert [change.field for change in caught.value.changes] == ["User", "Env", "Cmd", "WorkingDir"]


def test_config_env_reads_one_variable() -> None:
    assert config_env(BASE_CONFIG, "HOME") == "/home/joshsymonds"
    assert config_env(BASE_CONFIG, "NOPE") is None
    assert config_env({"Env": ["A=b=c"]}, "A") == "b=c"


# -- validation ------------------------------------------------------------------------------------------

KEY = child_key(0, "context")


@pytest.mark.parametrize(
    "containerfile",
    [
        HEAD,
        "# syntax comment\n\n  ARG BASE_IMAGE  \n# between\nFROM $BASE_IMAGE\nRUN true\n",
        "arg BASE_IMAGE\nfrom ${BASE_IMAGE} AS build\n",
    ],
)
def test_containerfiles_that_build_from_the_base_are_accepted(tmp_path: Path, containerfile: str) -> None:
    make_context(tmp_path, {"Containerfile": containerfile})
    assert validate_containerfile_context(tmp_path, KEY) == tmp_path / "Containerfile"


@pytest.mark.parametrize(
    ("containerfile", "problem"),
    [
        ("FROM ${BASE_IMAGE}\n", "begins with 'FROM ${BASE_IMAGE}'"),
        ("ARG BASE_IMAGE=ghcr.io/x/y:latest\nFROM ${BASE_IMAGE}\n", "begins with 'ARG BASE_IMAGE=ghcr.io/x/y:latest'"),
        ("# only a comment\n", "begins with 'no instruction'"),
        ("ARG BASE_IMAGE\nFROM debian:12\n", "follows `ARG BASE_IMAGE` with 'FROM debian:12'"),
        ("ARG BASE_IMAGE\n", "follows `ARG BASE_IMAGE` with 'nothing'"),
        (
            "ARG BASE_IMAGE\nFROM --platform=linux/arm64 ${BASE_IMAGE}\n",
            "with 'FROM --platform=linux/arm64 ${BASE_IMAGE}'",
        ),
    ],
)
def test_containerfile_errors_name_the_key_and_what_is_expected(
    tmp_path: Path, containerfile: str, problem: str
) -> None:
    make_context(tmp_path, {"Containerfile": containerfile})
    with pytest.raises(InputError) as caught:
        validate_containerfile_context(tmp_path, KEY)
    message = str(caught.value)
    assert message.startswith("config egoengine:images.children[0].context: ")
    assert problem in message
    assert "expected a Containerfile whose first instructions are `ARG BASE_IMAGE` then `FROM ${BASE_IMAGE}`" in message


def test_missing_context_or_containerfile_is_reported(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"children\[0\]\.context: build context '.*missing' is not a directory"):
        validate_containerfile_context(tmp_path / "missing", KEY)
    with pytest.raises(InputError, match=r"Containerfile' does not exist"):
        validate_containerfile_context(tmp_path, KEY)


def test_flake_attr_must_be_a_plain_attribute() -> None:
    assert validate_flake_attr("creative-lab", child_key(1, "attr")) == "creative-lab"
    assert validate_flake_attr("packages.x86_64-linux.egoengine", "k") == "packages.x86_64-linux.egoengine"
    for bad in ("", "a b", "x#y", "$(rm -rf ~)", "a/b"):
        with pytest.raises(InputError, match=r"^config egoengine:images\.children\[1\]\.attr: flake attribute"):
            validate_flake_attr(bad, child_key(1, "attr"))


def test_extras_validation_names_the_exact_key() -> None:
    prefix = "egoengine:images.children[2]"
    assert parse_extras(["export A=1"], {"lab": "/opt/lab"}, prefix) == ImageExtras(
        ("export A=1",), {"lab": "/opt/lab"}
    )
    cases = [
        (["ok", "two\nlines"], {}, r"children\[2\]\.envLocal\[1\]: spans several lines"),
        (
            [],
            {"../evil": "/bin/sh"},
            r"children\[2\]\.links\.\.\./evil: link name '\.\./evil' is not a plain file name",
        ),
        ([], {"..": "/bin/sh"}, r"links\.\.\.: link name '\.\.'"),
        ([], {"tool": "relative/path"}, r"children\[2\]\.links\.tool: target 'relative/path' is not an absolute path"),
        ([], {"tool": "/bin/x\nRUN evil"}, r"links\.tool: target"),
    ]
    for env_local, links, pattern in cases:
        with pytest.raises(InputError, match=pattern):
            parse_extras(env_local, links, prefix)


def test_pinned_refs_are_parsed_and_unpinned_ones_rejected() -> None:
    ref = PinnedRef.parse(f"ghcr.io/joshsymonds/nix-config/egoengine:abc1234@{BASE_DIGEST}")
    assert (ref.repository, ref.tag, ref.digest) == ("ghcr.io/joshsymonds/nix-config/egoengine", "abc1234", BASE_DIGEST)
    assert ref.by_digest == f"ghcr.io/joshsymonds/nix-config/egoengine@{BASE_DIGEST}"
    assert ref.registry_host == "ghcr.io"
    port_ref = PinnedRef.parse(f"127.0.0.1:5000/egoengine@{BASE_DIGEST}")
    assert (port_ref.repository, port_ref.tag, str(port_ref)) == (
        "127.0.0.1:5000/egoengine",
        None,
        f"127.0.0.1:5000/egoengine@{BASE_DIGEST}",
    )
    for bad in ("ghcr.io/x/y:latest", "ghcr.io/x/y@sha256:short", "@" + BASE_DIGEST):
        with pytest.raises(ValueError):
            PinnedRef.parse(bad)
    assert registry_host("library/busybox") == "docker.io"
    assert registry_host("localhost/x") == "localhost"
