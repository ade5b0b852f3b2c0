"""The one error type for bad operator input in the program.

It subclasses ``pulumi.RunError`` so the Pulumi CLI prints only the message: no traceback, and the
message never carries a secret value (callers name the key, what is wrong and what is expected).
Its pulumi-free base, ``InputError``, is what the helpers in ``tools/`` raise and catch.
"""

from __future__ import annotations

import pulumi

from components.input_error import InputError


class ConfigError(InputError, pulumi.RunError):
    """Bad stack configuration: names the config key, what is wrong and what is expected."""

    @classmethod
    def of(cls, error: InputError) -> ConfigError:
        """The program's form of an ``InputError`` raised by a pulumi-free helper module."""
        if isinstance(error, ConfigError):
            return error
        return cls(error.key, error.problem, error.expected)
