"""Command-line helpers for operators (run as ``.venv/bin/python -m tools.<name>``, or a ``make`` target).

Importing this package first (as ``python -m tools.<name>`` does) checks that the interpreter is
the project's virtualenv (or another one that has its packages, as the tests' copies of the
project use): a Python without the pinned packages would fail deep inside an import with a
traceback. Otherwise the tool prints how to run it and exits 2. Only ``sys``, ``os`` and a
package look-up that imports nothing are used here, so every tool still starts fast.
"""

from __future__ import annotations

import os
import sys

PROJECT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_DIR = os.path.join(PROJECT_DIR, ".venv")
MAKE_TARGETS: dict[str, tuple[str, ...]] = {
    "dev": ("make dev", "make dev-down", "make preview STACK=<stack>"),
    "plan": ("make plan STACK=<stack>",),
    "preflight": ("make preflight STACK=<stack>",),
    "bench": ("make bench",),
    "doctor": ("make doctor STACK=<stack>",),
    "stack_init": ("make stack-init STACK=<stack>",),
}
"""Tools with a ``make`` target of their own."""


def _tool_name() -> str | None:
    """``plan`` when the command line is ``python -m tools.plan ...``; None when imported."""
    argv = getattr(sys, "orig_argv", [])
    for index, argument in enumerate(argv[:-1]):
        if argument == "-m" and argv[index + 1].startswith("tools."):
            return argv[index + 1].removeprefix("tools.")
    return None


def in_project_venv() -> bool:
    return os.path.realpath(sys.prefix) == os.path.realpath(VENV_DIR)


def has_project_packages() -> bool:
    """A virtualenv with the program's packages (found, not imported)."""
    from importlib.util import find_spec

    return sys.prefix != sys.base_prefix and all(find_spec(name) for name in ("pulumi", "pydantic"))


def how_to_run(tool: str) -> str:
    targets = ", ".join(f"`{target}`" for target in MAKE_TARGETS.get(tool, ()))
    ways = f"{targets} or " if targets else ""
    return (
        f"tools.{tool}: this Python ({sys.executable}) is not the project's virtualenv; "
        f"run {ways}`.venv/bin/python -m tools.{tool} ...` from {PROJECT_DIR} (`make venv` creates .venv)"
    )


def _guard() -> None:
    tool = _tool_name()
    if tool is not None and not (in_project_venv() or has_project_packages()):
        print(how_to_run(tool), file=sys.stderr)
        raise SystemExit(2)


_guard()
