"""Caches never change a result: cold, warm and corrupt caches give identical registered inputs.

Both on-disk caches take part: template parses (``components/parse_cache.py``) and child
context digests (``components/context_digest.py``)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from components import context_digest
from components.cache import CACHE_DIR_VARIABLE
from tests.unit.conftest import run_stack
from tests.unit.test_determinism import registered


def test_cold_warm_and_corrupt_caches_register_identical_inputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CACHE_DIR_VARIABLE, str(tmp_path / "cache"))
    # As on a checkout older than the racy window, so the warm run really answers from the cache.
    real = time.time_ns
    monkeypatch.setattr(context_digest.time, "time_ns", lambda: real() + 10_000_000_000)

    cold = run_stack("vermissian")
    cached = sorted(path for path in (tmp_path / "cache").rglob("*") if path.is_file())
    # Both caches: the template parses and the child contexts' digests.
    assert {path.relative_to(tmp_path / "cache").parts[0] for path in cached} == {
        "template-variables",
        "context-digests",
    }

    opened: list[str] = []
    monkeypatch.setattr(context_digest, "open", lambda path, *a, **k: opened.append(path), raising=False)
    warm = run_stack("vermissian")
    assert opened == []  # the child context's files were not read again
    monkeypatch.delattr(context_digest, "open")

    for path in cached:
        path.write_bytes(os.urandom(64))
    corrupt = run_stack("vermissian")

    assert registered(cold) == registered(warm) == registered(corrupt)
    assert cold.outputs == warm.outputs == corrupt.outputs
