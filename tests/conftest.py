"""Session-wide test setup."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from components.cache import CACHE_DIR_VARIABLE


@pytest.fixture(autouse=True, scope="session")
def _private_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Caches go to a directory of this session (subprocesses inherit it), not the user's."""
    directory = tmp_path_factory.mktemp("egoengine-cache")
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv(CACHE_DIR_VARIABLE, str(directory))
    yield directory
    monkeypatch.undo()
