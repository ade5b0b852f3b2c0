"""The one error type for bad operator input.

It subclasses ``pulumi.RunError`` so the Pulumi CLI prints only the message: no traceback, and the
message never carries a secret value (callers name the key, what is wrong and what is expected).
"""

from __future__ import annotations

import pulumi


class ConfigError(pulumi.RunError):
    """Bad stack configuration: names the config key, what is wrong and what is expected."""

    def __init__(self, key: str, problem: str, expected: str) -> None:
        self.key = key
        self.problem = problem
        self.expected = expected
        super().__init__(f"config {key}: {problem}; expected {expected}")
