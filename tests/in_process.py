"""Run a tool's ``main(argv)`` in this process as its command line would: output captured, stdin
and environment variables given, argparse's exit turned into the exit status.

For tests where a subprocess adds nothing but an interpreter start and the imports (~0.3 s for a
tool that loads the SDK); each tool keeps a few real command-line tests for the contract itself
(the ``__main__`` entry, exit codes, nothing but one line on stderr).
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Mapping, Sequence
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass

import pytest


@dataclass(frozen=True)
class Completed:
    """What ``subprocess.run(..., capture_output=True, text=True)`` would have returned."""

    returncode: int
    stdout: str
    stderr: str


def call(
    main: Callable[[Sequence[str]], int],
    *args: str,
    stdin: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Completed:
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch, redirect_stdout(out), redirect_stderr(err):
        for key, value in (env or {}).items():
            patch.setenv(key, value)
        patch.setattr(sys, "stdin", io.StringIO(stdin or ""))
        try:
            code = main(list(args))
        except SystemExit as exit_:  # argparse's own errors, --help
            code = exit_.code if isinstance(exit_.code, int) else 2
    return Completed(code, out.getvalue(), err.getvalue())
