"""Inputs the benchmark generates: many templates, many children, large and many-file contexts.

Everything is written under one temporary directory inside the project (settings accept template
and context directories only there), hidden (``.bench-*``, so no context or template discovery
sees it) and removed when the benchmark ends, also when it fails. The stack's own settings are the
starting point, so every check the stack's preview runs still runs.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

PROJECT_DIR = Path(__file__).resolve().parent.parent

TEMPLATE_SOURCE = PROJECT_DIR / "coder-templates" / "docker-shell"
CHILD_SOURCE = PROJECT_DIR / "images" / "creative-lab"
_BLOCK = os.urandom(1 << 20)  # random bytes, repeated: hashing costs the same for any content


@contextmanager
def workspace() -> Iterator[Path]:
    """A temporary directory inside the project, removed afterwards."""
    directory = Path(tempfile.mkdtemp(prefix=".bench-", dir=PROJECT_DIR))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def stack_setting(stack: str, key: str) -> dict[str, Any]:
    """One ``egoengine:<key>`` object of the stack file."""
    document = yaml.safe_load((PROJECT_DIR / f"Pulumi.{stack}.yaml").read_text()) or {}
    value = (document.get("config") or {}).get(f"egoengine:{key}") or {}
    return json.loads(json.dumps(value))


def relative(path: Path) -> str:
    return path.relative_to(PROJECT_DIR).as_posix()


def templates(root: Path, count: int, stack: str) -> dict[str, Any]:
    """``count`` copies of a shipped template, each with an override (so each one is checked)."""
    directory = root / f"templates-{count}"
    for index in range(count):
        shutil.copytree(TEMPLATE_SOURCE, directory / f"t{index:04d}", dirs_exist_ok=True)
    setting = stack_setting(stack, "templates")
    setting["directory"] = relative(directory)
    setting["overrides"] = {
        f"t{index:04d}": {"displayName": f"template {index}", "description": "generated for the benchmark"}
        for index in range(count)
    }
    return {"egoengine:templates": setting}


def _child(name: str, context: Path) -> dict[str, Any]:
    return {
        "name": name,
        "builder": "containerfile",
        "context": relative(context),
        "repository": f"ghcr.io/example/{name}",
        "envLocal": ['export PATH="$PATH:/opt/creative-lab/bin"'],
        "links": {"lab": "/opt/creative-lab/bin/lab"},
    }


def children(root: Path, count: int, stack: str) -> dict[str, Any]:
    """``count`` child images, each with its own copy of a shipped context."""
    setting = stack_setting(stack, "images")
    setting["children"] = []
    for index in range(count):
        context = root / f"children-{count}" / f"c{index:03d}"
        shutil.copytree(CHILD_SOURCE, context, dirs_exist_ok=True)
        setting["children"].append(_child(f"c{index:03d}", context))
    return {"egoengine:images": setting}


def write_blob(path: Path, size: int) -> None:
    with open(path, "wb") as handle:
        for _ in range(size // len(_BLOCK)):
            handle.write(_BLOCK)
        handle.write(_BLOCK[: size % len(_BLOCK)])


def large_context(root: Path, size: int, stack: str) -> dict[str, Any]:
    """One child whose context holds a ``size``-byte file besides its Containerfile."""
    context = root / f"context-{size}"
    shutil.copytree(CHILD_SOURCE, context)
    write_blob(context / "share" / "blob.bin", size)
    setting = stack_setting(stack, "images")
    setting["children"] = [_child("large", context)]
    return {"egoengine:images": setting}


def many_files(root: Path, count: int) -> Path:
    """``count`` small files, 100 to a directory."""
    directory = root / f"files-{count}"
    for index in range(count):
        folder = directory / f"d{index // 100:03d}"
        if index % 100 == 0:
            folder.mkdir(parents=True)
        (folder / f"f{index:05d}.txt").write_text(f"small file {index}\n" * 4)
    return directory
