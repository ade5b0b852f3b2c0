"""Session-wide test setup: a private cache directory, and the stacks' default runs computed once.

The default runs are what many tests only read (the real program with the stack files on the
mocked engine, ~60 ms each): each is evaluated once per session (per xdist worker) and every test
gets its own deep copy (< 1 ms), so a test that changes what it got changes nothing for the others.
A test that changes the world first (a file, a monkeypatch, an override) runs the program itself.
"""

from __future__ import annotations

import copy
import gc
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from components.cache import CACHE_DIR_VARIABLE

if TYPE_CHECKING:  # the SDK is imported by the fixtures, not by xdist's controller at start-up
    from tools.mock_engine import EngineRun

pytest_plugins = ("tests.parallel",)  # the suite on every core, integration tests in one worker


def pytest_collection_finish(session: pytest.Session) -> None:
    """What is alive once the tests are collected (the SDKs, the program, every test module) lives
    until the session ends: frozen, the collector stops walking it again at every full collection
    of the hundreds of evaluations that follow (~15% of each one in a long-lived process)."""
    gc.collect()
    gc.freeze()


@pytest.fixture(autouse=True, scope="session")
def _private_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Caches go to a directory of this session (subprocesses inherit it), not the user's."""
    directory = tmp_path_factory.mktemp("egoengine-cache")
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv(CACHE_DIR_VARIABLE, str(directory))
    yield directory
    monkeypatch.undo()


@pytest.fixture(autouse=True, scope="session")
def _no_source_positions() -> Iterator[None]:
    """The SDK captures the Python stack of every resource it registers (``_get_stack_trace``:
    every frame, its source line and a ``file://`` URI) for the engine's source positions. The
    mocked engine never reads them, and they cost ~10% of the unit suite, so tests skip them. The
    offline plan and the benchmark keep them: they measure what a real preview does."""
    from pulumi.runtime import resource
    from pulumi.runtime.proto import source_pb2

    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setattr(resource, "_get_stack_trace", source_pb2.StackTrace)
    yield
    monkeypatch.undo()


# Session scope: set up before any test's own fixtures (monkeypatch, tmp files), so the shared
# runs see the stack files as they are, whichever test asks first.
@pytest.fixture(scope="session")
def _dev_up_once() -> EngineRun:
    from tests.unit.conftest import run_stack

    return run_stack("dev")


@pytest.fixture(scope="session")
def _vermissian_up_once() -> EngineRun:
    from tests.unit.conftest import run_stack

    return run_stack("vermissian")


@pytest.fixture(scope="session")
def _offline_dev_once() -> EngineRun:
    from tools import plan_stubs

    return plan_stubs.run_stack_offline("dev")


@pytest.fixture(scope="session")
def _offline_vermissian_once() -> EngineRun:
    from tools import plan_stubs

    return plan_stubs.run_stack_offline("vermissian")


@pytest.fixture
def dev_up(_dev_up_once: EngineRun) -> EngineRun:
    """``run_stack("dev")`` (tests/unit/conftest.py: 1Password items answered, a socket group)."""
    return copy.deepcopy(_dev_up_once)


@pytest.fixture
def vermissian_up(_vermissian_up_once: EngineRun) -> EngineRun:
    """``run_stack("vermissian")``."""
    return copy.deepcopy(_vermissian_up_once)


@pytest.fixture
def offline_dev(_offline_dev_once: EngineRun) -> EngineRun:
    """``plan_stubs.run_stack_offline("dev")``: the run ``tools.plan`` makes, placeholders and all."""
    return copy.deepcopy(_offline_dev_once)


@pytest.fixture
def offline_vermissian(_offline_vermissian_once: EngineRun) -> EngineRun:
    """``plan_stubs.run_stack_offline("vermissian")``."""
    return copy.deepcopy(_offline_vermissian_once)
