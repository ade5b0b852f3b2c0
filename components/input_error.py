"""Bad operator input, without pulumi: the helpers in ``tools/`` import this and start fast.

``components.errors.ConfigError`` is the same error as a ``pulumi.RunError`` for the program; the
pure modules the helpers share with the program (``components/image_build.py``) raise this one, and
the program's settings turn it into a ``ConfigError`` where they call them.
"""

from __future__ import annotations


class InputError(Exception):
    """Names the config key (or flag), what is wrong and what is expected; never carries a value
    that may be a secret."""

    def __init__(self, key: str, problem: str, expected: str) -> None:
        self.key = key
        self.problem = problem
        self.expected = expected
        super().__init__(f"config {key}: {problem}; expected {expected}")
