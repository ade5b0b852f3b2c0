"""Run outside the project's virtualenv, every tool says how to run it and exits 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import tools

PROJECT_DIR = Path(tools.PROJECT_DIR)


def outside_python() -> str:
    """The interpreter the virtualenv was made from: the same Python, without the project's packages."""
    for name in ("python3", "python"):
        candidate = Path(sys.base_prefix) / "bin" / name
        if candidate.exists():
            return str(candidate)
    raise AssertionError(f"no interpreter under {sys.base_prefix}")


@pytest.mark.parametrize(
    ("tool", "how"),
    [
        ("plan", "run `make plan STACK=<stack>` or `.venv/bin/python -m tools.plan ...`"),
        ("build_image", "run `.venv/bin/python -m tools.build_image ...`"),
        ("pg_backup", "run `.venv/bin/python -m tools.pg_backup ...`"),
    ],
)
def test_a_tool_outside_the_venv_says_how_to_run_it(tool: str, how: str) -> None:
    python = outside_python()
    env = {key: value for key, value in os.environ.items() if key not in ("VIRTUAL_ENV", "PYTHONPATH")}
    done = subprocess.run(
        [python, "-m", f"tools.{tool}", "--help"],
        cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=30, check=False,
    )
    assert (done.returncode, done.stdout) == (2, "")
    [line] = done.stderr.splitlines()
    real_python = subprocess.run(
        [python, "-c", "import sys; print(sys.executable)"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert line == (
        f"tools.{tool}: this Python ({real_python}) is not the project's virtualenv; "
        f"{how} from {PROJECT_DIR} (`make venv` creates .venv)"
    )


def test_inside_the_venv_the_guard_stays_quiet() -> None:
    assert tools.in_project_venv()
    done = subprocess.run(
        [sys.executable, "-m", "tools.devcontainer", "--help"],
        cwd=PROJECT_DIR, capture_output=True, text=True, timeout=30, check=False,
    )
    assert done.returncode == 0 and done.stderr == ""
