"""Command lines for the project's own helpers, run by pulumi-command at ``up``."""

from __future__ import annotations

import shlex

PROJECT_PYTHON = ".venv/bin/python"
"""The project's virtualenv (Pulumi.yaml), relative to the project directory the command runs in:
the command provider does not inherit the program's interpreter, and an absolute path would make
the inputs differ from one machine to the next."""


def python_module(module: str, *arguments: str) -> str:
    """``.venv/bin/python -m <module> <arguments>``, each argument quoted for the shell."""
    return shlex.join([PROJECT_PYTHON, "-m", module, *arguments])
