"""The files of a Coder template directory, their content hash, and the ustar archive Coder takes.

Which files: the same selection ``coder templates push`` makes (Coder's ``provisionersdk.Tar``):

- hidden files and hidden directories are left out, except ``.terraform.lock.hcl`` (so a local
  ``.terraform/`` from ``terraform init`` never reaches Coder);
- anything whose relative path contains ``.tfstate`` is left out;
- ``terraform.tfvars``/``terraform.tfvars.json`` at the root and ``*.auto.tfvars``/
  ``*.auto.tfvars.json`` anywhere are left out (the deployment passes variables explicitly);
- the root must hold a ``.tf`` or ``.tf.json`` file.

The hash covers exactly what is uploaded (relative paths and bytes of the selected files), so a
file Coder never sees cannot cause a new template version, while a rename or any byte change
does. The archive is deterministic (fixed owner, modes and mtime, sorted members): the same
directory always gives the same bytes.
"""

from __future__ import annotations

import hashlib
import io
import os
from typing import NamedTuple, TYPE_CHECKING
from pathlib import Path, PurePosixPath

from components.errors import ConfigError

if TYPE_CHECKING:
    import tarfile  # imported where an archive is built (the provider), not at every preview

TEMPLATE_ARCHIVE_LIMIT = 1 << 20
"""Coder's client-side limit (``provisionersdk.TemplateArchiveLimit``): uploads stay below 1 MiB."""

_LOCKFILE = ".terraform.lock.hcl"
_ROOT_TFVARS = frozenset({"terraform.tfvars", "terraform.tfvars.json"})
_AUTO_TFVARS_SUFFIXES = (".auto.tfvars", ".auto.tfvars.json")
_TERRAFORM_SUFFIXES = (".tf", ".tf.json")
# Versioned so that a future change of the hashing scheme is a visible, deliberate change.
_HASH_DOMAIN = b"egoengine-coder-template-v1\0"
_BLOCKSIZE = 512
"""ustar's block (``tarfile.BLOCKSIZE``)."""
_RECORDSIZE = 20 * _BLOCKSIZE
"""What Python's tarfile pads an archive to (``tarfile.RECORDSIZE``)."""


class TemplateFile(NamedTuple):
    """One file to upload: its POSIX path relative to the template root, and where it is."""

    relative_path: str
    source: Path


def _key(config_key: str | None, directory: Path) -> str:
    return config_key or f"template directory {directory}"


def _is_excluded(relative: PurePosixPath) -> bool:
    name = relative.name
    if name.startswith(".") and name != _LOCKFILE:
        return True
    text = relative.as_posix()
    if ".tfstate" in text:
        return True
    if text in _ROOT_TFVARS:
        return True
    return text.endswith(_AUTO_TFVARS_SUFFIXES)


def template_files(directory: Path | str, *, config_key: str | None = None) -> list[TemplateFile]:
    """The files Coder's CLI would upload from ``directory``, sorted by relative path.

    Raises :class:`ConfigError` if the directory is missing, has no Terraform file at its root,
    or contains a symlinked directory (which the CLI would not follow either).
    """
    root = Path(directory)
    key = _key(config_key, root)
    if not root.is_dir():
        raise ConfigError(key, f"{root} is not a directory", "a Coder template directory")
    selected: list[TemplateFile] = []
    for current, dirnames, filenames in os.walk(root):
        current_path = Path(current)
        kept_dirs = []
        for dirname in sorted(dirnames):
            relative = PurePosixPath((current_path / dirname).relative_to(root).as_posix())
            if dirname.startswith(".") or ".tfstate" in relative.as_posix():
                continue
            if (current_path / dirname).is_symlink():
                raise ConfigError(
                    key,
                    f"{relative} is a symlinked directory",
                    "real directories only (copy the files into the template)",
                )
            kept_dirs.append(dirname)
        dirnames[:] = kept_dirs  # prune hidden directories from the walk
        for filename in filenames:
            path = current_path / filename
            relative = PurePosixPath(path.relative_to(root).as_posix())
            if _is_excluded(relative) or not path.is_file():
                continue  # excluded, a dangling symlink, or a special file
            selected.append(TemplateFile(relative.as_posix(), path))
    selected.sort(key=lambda item: item.relative_path)
    if not any(
        "/" not in item.relative_path and item.relative_path.endswith(_TERRAFORM_SUFFIXES)
        for item in selected
    ):
        raise ConfigError(
            key,
            f"{root} has no .tf or .tf.json file at its root",
            "a Terraform template (main.tf) for Coder",
        )
    return selected


def content_hash(directory: Path | str, *, config_key: str | None = None) -> str:
    """``sha256:<hex>`` over the selected files' relative paths and bytes, in sorted order.

    Each path and each content is length-prefixed, so moving bytes between the name and the
    content (or between files) always changes the hash.
    """
    digest = hashlib.sha256(_HASH_DOMAIN)
    for item in template_files(directory, config_key=config_key):
        path_bytes = item.relative_path.encode("utf-8")
        data = item.source.read_bytes()
        digest.update(len(path_bytes).to_bytes(8, "big"))
        digest.update(path_bytes)
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return f"sha256:{digest.hexdigest()}"


def _archive_directories(files: list[TemplateFile]) -> list[str]:
    return sorted(
        {
            parent.as_posix()
            for item in files
            for parent in PurePosixPath(item.relative_path).parents
            if parent.as_posix() != "."
        }
    )


def archive_size(files: list[TemplateFile]) -> int:
    """The exact size of :func:`ustar_archive`'s output, from file sizes alone (nothing is read).

    ustar: one 512-byte header per member (a long path goes into the header's prefix field, not an
    extra block), each file's data padded to 512 bytes, two zero blocks at the end, and Python's
    tarfile pads the whole to its 10240-byte record size.
    """
    block = _BLOCKSIZE
    size = block * len(_archive_directories(files))
    for item in files:
        size += block + -(-item.source.stat().st_size // block) * block
    size += 2 * block
    return -(-size // _RECORDSIZE) * _RECORDSIZE


def check_archive_limit(files: list[TemplateFile], key: str) -> None:
    """Fail when the upload would not fit Coder's 1 MiB limit, from file sizes alone."""
    size = archive_size(files)
    if size >= TEMPLATE_ARCHIVE_LIMIT:
        raise ConfigError(
            key,
            f"its upload archive would be {size} bytes",
            f"less than {TEMPLATE_ARCHIVE_LIMIT} bytes (Coder's 1 MiB template limit); move large "
            "files out of the template directory",
        )


def _header(name: str, *, is_dir: bool, size: int = 0) -> tarfile.TarInfo:
    import tarfile

    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE if is_dir else tarfile.REGTYPE
    info.mode = 0o755 if is_dir else 0o644
    info.size = size
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def ustar_archive(directory: Path | str, *, config_key: str | None = None) -> bytes:
    """The upload for ``POST /api/v2/files``: a deterministic ustar tar with the selected files
    at the archive root (plus their parent directories), below Coder's 1 MiB limit."""
    root = Path(directory)
    key = _key(config_key, root)
    files = template_files(root, config_key=config_key)
    check_archive_limit(files, key)  # before any file is read
    directories = _archive_directories(files)
    import tarfile

    buffer = io.BytesIO()
    try:
        with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as archive:
            for name in directories:
                archive.addfile(_header(name, is_dir=True))
            for item in files:
                data = item.source.read_bytes()
                archive.addfile(
                    _header(item.relative_path, is_dir=False, size=len(data)), io.BytesIO(data)
                )
    except ValueError as exc:  # ustar cannot hold a path over 255 bytes or a non-ASCII owner
        raise ConfigError(
            key, f"cannot be packed as a ustar archive ({exc})", "shorter paths"
        ) from None
    return buffer.getvalue()
