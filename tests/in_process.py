"""Run a tool's ``main(argv)`` in this process as its command line would: output captured, stdin
and environment variables given, argparse's exit turned into the exit status.

For tests where a subprocess adds nothing but an interpreter start and the imports (~0.3 s for a
tool that loads the SDK); each tool keeps a few real command-line tests for the contract itself
(the ``__main__`` entry, exit codes, nothing but one line on stderr).
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass


@dataclass(frozen=True)
class Completed:
    """What ``subprocess.run(..., capture_output=True, text=True)`` would have returned."""

    returncode: int
    stdout: str
    stderr: str


@contextmanager
def _environment(env: Mapping[str, str] | None) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in env or {}}
    os.environ.update(env or {})
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def _stdin(text: str | None) -> Iterator[None]:
    saved = sys.stdin
    sys.stdin = io.StringIO(text or "")
    try:
        yield
    finally:
        sys.stdin = saved


def call(
    main: Callable[[Sequence[str]], int],
    *args: str,
    stdin: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Completed:
    out, err = io.StringIO(), io.StringIO()
    with _environment(env), _stdin(stdin), redirect_stdout(out), redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exit_:  # argparse's own errors, --help
            code = exit_.code if isinstance(exit_.code, int) else 2
    return Completed(code, out.getvalue(), err.getvalue())
