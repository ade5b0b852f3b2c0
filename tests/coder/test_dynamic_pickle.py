"""How the dynamic providers are pickled into the state (``components.dynamic_pickle``).

The class paths below are a contract with every state this program has written: the provider
process unpickles ``__provider`` by importing exactly these modules and names. Moving a class
means keeping an alias module at the old path (README, "Moving a dynamic provider").
"""

from __future__ import annotations

import base64
import pickle
import pickletools
import sys
import time
from collections.abc import Iterator
from typing import Any

import pulumi
import pytest
from pulumi.dynamic.dynamic import serialize_provider

from components.coder_admin import AdminProvider
from components.coder_template import TemplateProvider
from components.database_adoption import AdoptionProvider
from components.dynamic_pickle import DynamicResource, reset_sdk_pickler

PINNED_CLASS_PATHS = {
    AdminProvider: ("components.coder_admin", "AdminProvider"),
    TemplateProvider: ("components.coder_template", "TemplateProvider"),
    AdoptionProvider: ("components.database_adoption", "AdoptionProvider"),
}
MANY = 400
LEAK_HEADROOM = 300
"""Frames above the test's own: the SDK's machinery needs under 100, the leak adds one per resource."""


def _strings_in_pickle(payload: str) -> list[str]:
    return [
        str(arg)
        for opcode, arg, _ in pickletools.genops(base64.b64decode(payload))
        if isinstance(arg, str)
    ]


@pytest.mark.parametrize("cls", list(PINNED_CLASS_PATHS), ids=lambda c: c.__name__)
def test_class_paths_are_pinned(cls: type) -> None:
    module, name = PINNED_CLASS_PATHS[cls]
    assert (cls.__module__, cls.__qualname__) == (module, name)
    strings = _strings_in_pickle(serialize_provider(cls()))
    # By reference: the module and class name are in the pickle, the code is not.
    assert module in strings and name in strings
    assert not any("def " in s or "co_code" in s for s in strings)


def test_the_sdk_serializer_leaks_a_wrapper_per_call_without_the_reset() -> None:
    """The upstream behaviour the workaround exists for (pulumi SDK 3.272.0)."""
    reset_sdk_pickler()
    provider = AdminProvider()
    try:
        for _ in range(3):
            serialize_provider(provider)
        method = pickle._Pickler._batch_setitems  # type: ignore[attr-defined]
        depth = 0
        while getattr(method, "__module__", "pickle") != "pickle":
            names = method.__code__.co_freevars
            method = method.__closure__[names.index("unsorted_batch_setitems")].cell_contents
            depth += 1
        assert depth == 3
    finally:
        reset_sdk_pickler()


class _Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], None]:
        return {}, None


class _Many(DynamicResource, module="test", name="Many"):
    pass


@pytest.fixture
def mocked_engine() -> Iterator[None]:
    pulumi.runtime.set_mocks(_Mocks(), preview=False)
    yield
    reset_sdk_pickler()


@pulumi.runtime.test
def _register_many() -> Any:
    resources = [_Many(TemplateProvider(), f"r{n}", {"n": n}) for n in range(MANY)]

    def check(ids: list[str]) -> None:
        assert len(set(ids)) == MANY

    return pulumi.Output.all(*(r.id for r in resources)).apply(check)


def _stack_depth() -> int:
    frame, depth = sys._getframe(), 0
    while frame is not None:
        frame, depth = frame.f_back, depth + 1  # type: ignore[assignment]
    return depth


def test_many_dynamic_resources_serialize_in_one_process(mocked_engine: None) -> None:
    """Each leaked wrapper is one more frame per serialization: with the default recursion limit
    (1000) the ~980th raises RecursionError. The limit is lowered here so that the leak would fail
    at about the 250th of these 400 resources (seconds less than 2,000 of them)."""
    started = time.monotonic()
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(_stack_depth() + LEAK_HEADROOM)
    try:
        _register_many()
    finally:
        sys.setrecursionlimit(limit)
    assert pickle._Pickler._batch_setitems.__module__ == "pickle"  # type: ignore[attr-defined]
    assert time.monotonic() - started < 60
