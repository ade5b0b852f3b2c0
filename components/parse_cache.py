"""The variables a template's Terraform declares, parsed once per content and cached on disk.

Parsing HCL is the dear part of checking templates at preview (python-hcl2 builds a Lark grammar
on import, then parses every file), while the files rarely change. So the result is cached, keyed
by a hash of the template's Terraform files (names and bytes): an unchanged template costs a read
of those small files and of one JSON document, and hcl2 is imported only on a miss.

Where: ``$EGOENGINE_CACHE_DIR`` if set, else ``.pulumi-state/cache/`` in the project (ignored by
git with the rest of ``.pulumi-state/``). The cache never changes a result: a missing, corrupt or
unreadable entry is parsed again, a write that fails is skipped, and writes are atomic (a temp file
renamed into place), so a reader sees a whole entry or none.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from components import cache
from components.errors import ConfigError

CACHE_DIR_ENV = cache.CACHE_DIR_VARIABLE
# Part of the key: a change of what is cached or how it is parsed never reads an old entry.
_FORMAT = b"egoengine-template-variables-v1\0"
_SUFFIXES = (".tf", ".tf.json")


def cache_dir() -> Path:
    return cache.cache_dir() / "template-variables"


def _terraform_files(directory: Path) -> list[Path]:
    """The root's ``*.tf`` and ``*.tf.json`` files, as Terraform reads them (hidden ones are not)."""
    return sorted(
        path
        for path in directory.iterdir()
        if path.name.endswith(_SUFFIXES) and not path.name.startswith(".") and path.is_file()
    )


def _key(files: list[Path]) -> str:
    digest = hashlib.sha256(_FORMAT)
    for path in files:
        name, data = path.name.encode(), path.read_bytes()
        for part in (name, data):
            digest.update(len(part).to_bytes(8, "big"))
            digest.update(part)
    return digest.hexdigest()


def _load(entry: Path) -> dict[str, bool] | None:
    try:
        document = json.loads(entry.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    variables = document.get("variables") if isinstance(document, dict) else None
    if not isinstance(variables, dict) or not all(
        isinstance(name, str) and isinstance(sensitive, bool) for name, sensitive in variables.items()
    ):
        return None
    return variables


def _store(entry: Path, variables: dict[str, bool]) -> None:
    # A read-only or full disk only costs the next preview a parse.
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=entry.parent, prefix=".tmp-", suffix=".json")
    except OSError:
        return
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"variables": variables}, handle, sort_keys=True)
        os.replace(temp, entry)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temp)


def _is_sensitive(body: Any) -> bool:
    return isinstance(body, dict) and str(body.get("sensitive", False)).lower() == "true"


def _parse(files: list[Path], config_key: str) -> dict[str, bool]:
    declared: dict[str, bool] = {}
    for path in files:
        if path.name.endswith(".tf.json"):
            try:
                document = json.loads(path.read_text(encoding="utf-8"))
            except ValueError as exc:
                raise ConfigError(
                    config_key, f"{path.name} is not valid JSON ({exc})", "Terraform JSON syntax"
                ) from None
            blocks = document.get("variable", {}) if isinstance(document, dict) else {}
            for name, body in (blocks.items() if isinstance(blocks, dict) else ()):
                declared[name] = _is_sensitive(body)
            continue
        import hcl2  # on a cache miss only: importing it builds the HCL grammar
        from lark.exceptions import LarkError

        try:
            with path.open(encoding="utf-8") as handle:
                document = hcl2.load(handle)
        except (LarkError, ValueError) as exc:  # ValueError: undecodable bytes
            line = getattr(exc, "line", None)
            where = f"line {line}" if isinstance(line, int) else "its syntax"
            raise ConfigError(
                config_key, f"{path.name} does not parse as HCL ({where})", "valid Terraform (HCL) syntax"
            ) from None
        for block in document.get("variable", []):
            for name, body in block.items():
                declared[name.strip('"')] = _is_sensitive(body)
    return declared


def declared_variables(directory: Path, *, config_key: str) -> dict[str, bool]:
    """``variable`` blocks declared by the template in ``directory``: name -> sensitive.

    Raises :class:`ConfigError` (naming ``config_key``, the file and the line) when a file does not
    parse; a failure is never cached.
    """
    files = _terraform_files(directory)
    entry = cache_dir() / f"{_key(files)}.json"
    cached = _load(entry)
    if cached is not None:
        return cached
    variables = _parse(files, config_key)
    _store(entry, variables)
    return variables
