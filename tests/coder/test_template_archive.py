"""The template file selection (same as Coder's CLI), the content hash, and the ustar upload."""

from __future__ import annotations

import io
import os
import shutil
import tarfile
from pathlib import Path

import pytest

from components.errors import ConfigError
from components.template_archive import (
    TEMPLATE_ARCHIVE_LIMIT,
    archive_size,
    content_hash,
    template_files,
    ustar_archive,
)

MAIN_TF = 'resource "coder_agent" "main" {\n  os = "linux"\n}\n'


def _write(root: Path, relative: str, data: str | bytes = "x") -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data)


@pytest.fixture
def template(tmp_path: Path) -> Path:
    root = tmp_path / "tpl"
    _write(root, "main.tf", MAIN_TF)
    _write(root, "README.md", "# docs\n")
    _write(root, "scripts/startup.sh", "#!/bin/sh\necho hi\n")
    return root


def _add_noise(root: Path) -> None:
    """Files the CLI leaves out of the upload."""
    _write(root, ".env", "SECRET=1")
    _write(root, ".terraform/providers/p.bin", b"\0" * 64)
    _write(root, ".git/config", "[core]")
    _write(root, "scripts/.hidden", "h")
    _write(root, "terraform.tfstate", "{}")
    _write(root, "terraform.tfstate.backup", "{}")
    _write(root, "sub/old.tfstate", "{}")
    _write(root, "terraform.tfvars", 'a = "b"')
    _write(root, "terraform.tfvars.json", "{}")
    _write(root, "dev.auto.tfvars", 'a = "b"')
    _write(root, "nested/x.auto.tfvars.json", "{}")


def test_selection_matches_the_cli_exclusions(template: Path) -> None:
    _add_noise(template)
    _write(template, ".terraform.lock.hcl", "# lock")
    _write(template, "nested/terraform.tfvars", "only the root one is excluded")

    paths = [item.relative_path for item in template_files(template)]

    assert paths == [
        ".terraform.lock.hcl",
        "README.md",
        "main.tf",
        "nested/terraform.tfvars",
        "scripts/startup.sh",
    ]


def test_excluded_files_do_not_change_the_hash(template: Path) -> None:
    before = content_hash(template)
    _add_noise(template)
    assert content_hash(template) == before


def test_lockfile_is_included_in_the_hash(template: Path) -> None:
    before = content_hash(template)
    _write(template, ".terraform.lock.hcl", "# lock")
    assert content_hash(template) != before


def test_any_byte_change_or_rename_changes_the_hash(template: Path) -> None:
    original = content_hash(template)
    assert original.startswith("sha256:") and len(original) == len("sha256:") + 64

    (template / "README.md").write_text("# docs!\n")
    changed = content_hash(template)
    assert changed != original

    (template / "README.md").rename(template / "README.txt")
    assert content_hash(template) not in (original, changed)


def test_moving_bytes_between_name_and_content_changes_the_hash(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    _write(first, "main.tf", MAIN_TF)
    _write(first, "ab", "c")
    _write(second, "main.tf", MAIN_TF)
    _write(second, "a", "bc")
    assert content_hash(first) != content_hash(second)


def test_creation_order_and_mtimes_do_not_matter(tmp_path: Path) -> None:
    files = {"main.tf": MAIN_TF, "b/x.sh": "x", "a/y.sh": "y", "z.md": "z"}
    first, second = tmp_path / "first", tmp_path / "second"
    for name in files:
        _write(first, name, files[name])
    for name in reversed(list(files)):
        _write(second, name, files[name])
    os.utime(second / "main.tf", (1, 1))

    assert content_hash(first) == content_hash(second)
    assert ustar_archive(first) == ustar_archive(second)


def test_root_needs_a_terraform_file(tmp_path: Path) -> None:
    _write(tmp_path / "empty", "README.md", "no terraform")
    _write(tmp_path / "nested", "modules/main.tf", MAIN_TF)
    _write(tmp_path / "json", "main.tf.json", "{}")

    for name in ("empty", "nested"):
        with pytest.raises(ConfigError, match=r"no \.tf or \.tf\.json file at its root"):
            content_hash(tmp_path / name, config_key="coder.templates.x")
    with pytest.raises(ConfigError, match="is not a directory"):
        template_files(tmp_path / "missing")
    assert [f.relative_path for f in template_files(tmp_path / "json")] == ["main.tf.json"]


def test_archive_is_deterministic_ustar_with_members_at_the_root(template: Path) -> None:
    _add_noise(template)
    data = ustar_archive(template)

    assert data == ustar_archive(template)
    copy = template.parent / "copy"
    shutil.copytree(template, copy)
    assert ustar_archive(copy) == data

    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
        members = archive.getmembers()
        assert [m.name for m in members] == [
            "scripts",
            "README.md",
            "main.tf",
            "scripts/startup.sh",
        ]
        for member in members:
            # Each header is POSIX ustar: magic "ustar\0", version "00" (not GNU, not PAX).
            header = data[member.offset : member.offset + 512]
            assert header[257:265] == b"ustar\x0000"
            assert member.type in (tarfile.REGTYPE, tarfile.DIRTYPE)
            assert (member.mtime, member.uid, member.gid, member.uname, member.gname) == (
                0,
                0,
                0,
                "",
                "",
            )
            assert member.mode == (0o755 if member.isdir() else 0o644)
            assert not member.name.startswith(("/", "./"))
        extracted = archive.extractfile("main.tf")
        assert extracted is not None and extracted.read().decode() == MAIN_TF
        assert not archive.pax_headers


def test_archive_over_the_limit_is_refused(template: Path) -> None:
    _write(template, "big.bin", os.urandom(TEMPLATE_ARCHIVE_LIMIT + 1))
    with pytest.raises(ConfigError) as caught:
        ustar_archive(template, config_key="coder.templates.docker-shell")
    message = str(caught.value)
    assert "coder.templates.docker-shell" in message
    assert f"less than {TEMPLATE_ARCHIVE_LIMIT} bytes" in message


def test_symlinked_directory_is_refused(template: Path, tmp_path: Path) -> None:
    _write(tmp_path / "elsewhere", "x.tf", MAIN_TF)
    (template / "linked").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    with pytest.raises(ConfigError, match="symlinked directory"):
        template_files(template)


@pytest.mark.parametrize(
    "extra",
    [{}, {"a.bin": 511}, {"b.bin": 512}, {"c.bin": 513}, {"d/e/f.bin": 10240 * 3 + 7}, {"x" * 60 + "/" + "y" * 90 + ".txt": 3}],
    ids=["plain", "511", "512", "513", "nested-records", "long-path-prefix"],
)
def test_archive_size_from_file_sizes_equals_the_real_archive(template: Path, extra: dict[str, int]) -> None:
    for relative, size in extra.items():
        _write(template, relative, b"z" * size)
    assert archive_size(template_files(template)) == len(ustar_archive(template))


def test_the_shipped_templates_archive_size_is_exact() -> None:
    root = Path(__file__).resolve().parents[2] / "coder-templates"
    for directory in sorted(p for p in root.iterdir() if p.is_dir()):
        assert archive_size(template_files(directory)) == len(ustar_archive(directory))


def test_the_limit_is_checked_before_any_file_is_read(template: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    big = template / "big.bin"
    with big.open("wb") as handle:  # sparse: a size without the bytes
        handle.truncate(TEMPLATE_ARCHIVE_LIMIT)
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail(f"{self} was read"))
    with pytest.raises(ConfigError, match="would be"):
        ustar_archive(template, config_key="coder.templates.big")
