"""How this project's dynamic providers are pickled into the state: the one place for it.

The Pulumi SDK stores every dynamic resource's provider as a dill pickle in the ``__provider``
input, and the provider process (``python -m pulumi.dynamic``) unpickles it for every later
operation: update, refresh (``read``) and delete, possibly by a newer release of this program.
Two things go wrong with the SDK's defaults, and both are handled here:

- **By reference, from any directory.** A provider class in an importable module is pickled by
  reference (``components.coder_admin.AdminProvider``), so unpickling imports that module: it
  works only where ``components`` is importable, i.e. when the provider process happens to start
  in the project directory. :class:`ProjectProvider` pickles as "add the project root to
  ``sys.path`` (after what is there), import the module, look the class up, restore the plain
  attributes", using only standard-library callables, so it unpickles from any working directory
  while a ``components`` package found first (the project directory) still wins. The module and
  class names stay the contract: moving a class needs an alias module at the old path (README).
- **The serializer leak.** ``pulumi.dynamic.dynamic.serialize_provider`` (SDK 3.272.0) wraps
  ``pickle._Pickler._batch_setitems`` in a sorting wrapper on every call and never restores it,
  so each dynamic resource serialized in one process adds one wrapper: the ~980th raises
  ``RecursionError`` (pulumi/pulumi#17803). :class:`DynamicResource` puts the original method
  back before each serialization, so the chain never grows past one wrapper.
"""

from __future__ import annotations

import copyreg
import importlib
import pickle
import site
from collections.abc import Callable, Mapping
from typing import Any

import pulumi
import pulumi.dynamic

from components.project_root import PROJECT_ROOT

_WRAPPED_NAME = "unsorted_batch_setitems"
"""The closure variable through which the SDK's wrapper calls the method it wrapped."""


def _original_batch_setitems() -> Callable[..., Any]:
    """``pickle._Pickler._batch_setitems`` as the standard library defines it, found by following
    the SDK's wrappers down their closures (whatever was serialized before this module loaded)."""
    method = pickle._Pickler.__dict__["_batch_setitems"]
    while getattr(method, "__module__", "pickle") != "pickle":
        names = method.__code__.co_freevars
        if _WRAPPED_NAME not in names or method.__closure__ is None:
            break  # someone else's wrapper: leave it alone
        method = method.__closure__[names.index(_WRAPPED_NAME)].cell_contents
    return method


_ORIGINAL_BATCH_SETITEMS = _original_batch_setitems()


def reset_sdk_pickler() -> None:
    """Undo what earlier ``serialize_provider`` calls left on ``pickle._Pickler``."""
    pickle._Pickler._batch_setitems = _ORIGINAL_BATCH_SETITEMS  # type: ignore[attr-defined]


class _ProjectOnPath:
    """Unpickles to ``None`` after appending the project root to ``sys.path`` (if absent)."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (site.addsitedir, (str(PROJECT_ROOT),))


class _ModuleRef:
    """Unpickles to the imported module; the project root goes on the path first (the
    ``package`` argument of ``import_module`` receives the ``None`` above)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __reduce__(self) -> tuple[Any, ...]:
        return (importlib.import_module, (self.name, _ProjectOnPath()))


class _ClassRef:
    def __init__(self, cls: type) -> None:
        self.cls = cls

    def __reduce__(self) -> tuple[Any, ...]:
        return (getattr, (_ModuleRef(self.cls.__module__), self.cls.__qualname__))


class ProjectProvider(pulumi.dynamic.ResourceProvider):
    """Base of this project's dynamic providers: pickled by reference to its module and class,
    importable from any working directory. Keep instance attributes plain (numbers, strings)."""

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        state: Mapping[str, Any] = dict(sorted(vars(self).items()))
        return (copyreg._reconstructor, (_ClassRef(type(self)), object, None), state)  # type: ignore[attr-defined]


class DynamicResource(pulumi.dynamic.Resource):
    """``pulumi.dynamic.Resource`` that does not leak the SDK's pickler wrappers."""

    def __init__(
        self,
        provider: pulumi.dynamic.ResourceProvider,
        name: str,
        props: Mapping[str, Any],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        reset_sdk_pickler()
        try:
            super().__init__(provider, name, dict(props), opts)
        finally:
            reset_sdk_pickler()


__all__ = ["DynamicResource", "ProjectProvider", "reset_sdk_pickler"]
