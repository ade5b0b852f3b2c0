"""Every ``egoengine:*`` config key is one the program reads.

The rules run on the keys as the engine hands them to the program (``pulumi up`` and the offline
plan's mocked engine alike), each named with its line in ``Pulumi.<stack>.yaml`` when it is there:

- a dotted key (``egoengine:coder.port``, what ``pulumi config set`` writes without ``--path``)
  fails with the ``pulumi config set --path`` line to use instead;
- an unknown top-level key fails, with "did you mean" when it is close to a known one;
- a key a ``config:<key>`` secret source names must be a Pulumi secret (``secure:`` in the file):
  a plaintext password in a committed stack file is a leak, not a configuration.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from components.errors import ConfigError
from components.settings.values import NAMESPACE

TOP_LEVEL_KEYS = ("engine", "coder", "database", "backup", "secrets", "admin", "images", "templates", "hosts")
_PLAIN_VALUE = re.compile(r"^[A-Za-z0-9_.:/@+-]{1,64}$")


class KeyEntry(NamedTuple):
    key: str
    """The full key, e.g. ``egoengine:coder.port``."""
    secret: bool
    value: Any
    """As set; shown in a suggestion only when plainly not a secret."""
    line: int | None = None
    """Its line in the stack file, when it is there."""


def _named(entry: KeyEntry, stack_file: str | None) -> str:
    if entry.line is not None and stack_file:
        return f"{entry.key} ({stack_file} line {entry.line})"
    return entry.key


def _closest(name: str, candidates: Iterable[str]) -> str | None:
    import difflib  # only for an unknown key: not loaded at every preview

    found = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.75)
    return found[0] if found else None


def _suggested_value(entry: KeyEntry, top: str) -> str:
    value = entry.value
    if entry.secret or top == "secrets" or isinstance(value, (dict, list)):
        return "<value>"
    text = "true" if value is True else "false" if value is False else str(value)
    return shlex.quote(text) if _PLAIN_VALUE.match(text) else "<value>"


def _known(top: str) -> str:
    return ", ".join(f"{NAMESPACE}:{key}" for key in TOP_LEVEL_KEYS) if top else ""


def check_names(entries: Iterable[KeyEntry], stack_file: str | None = None) -> None:
    """Dotted keys and near-miss names of the top-level objects (before the objects are parsed,
    so a typo is named instead of the object it leaves missing)."""
    for entry in sorted(entries, key=lambda e: (e.line or 0, e.key)):
        name = entry.key.split(":", 1)[1]
        top = re.split(r"[.\[]", name, maxsplit=1)[0]
        if top != name and top in TOP_LEVEL_KEYS:
            secret = " --secret" if entry.secret else ""
            raise ConfigError(
                _named(entry, stack_file),
                "is a dotted key (set without --path), which the program never reads",
                f"the nested value: pulumi config set --path{secret} '{entry.key}' "
                f"{_suggested_value(entry, top)}",
            )
        if top not in TOP_LEVEL_KEYS and (close := _closest(top, TOP_LEVEL_KEYS)) is not None:
            raise ConfigError(
                _named(entry, stack_file),
                f"is not a known setting (did you mean {NAMESPACE}:{close}?)",
                f"one of {_known(top)}",
            )


def check_references(
    entries: Iterable[KeyEntry], named_secrets: Mapping[str, str], stack_file: str | None = None
) -> None:
    """Keys outside the top-level objects must be secrets that a ``config:<key>`` source names.

    ``named_secrets``: key -> the setting that names it (``egoengine:secrets.databasePassword``).
    """
    for entry in sorted(entries, key=lambda e: (e.line or 0, e.key)):
        name = entry.key.split(":", 1)[1]
        if name in TOP_LEVEL_KEYS:
            continue
        if name in named_secrets:
            if not entry.secret:
                raise ConfigError(
                    _named(entry, stack_file),
                    f"is plain text but {named_secrets[name]} names it as a secret",
                    f"a Pulumi secret: pulumi config set --secret {entry.key} <value> "
                    "(and the plain value rotated: it is in the file's history)",
                )
            continue
        close = _closest(name, [*TOP_LEVEL_KEYS, *named_secrets])
        hint = f" (did you mean {NAMESPACE}:{close}?)" if close else ""
        raise ConfigError(
            _named(entry, stack_file),
            f"is not a known setting{hint}",
            f"one of {_known(name)}, or a secret named by a config:<key> secret source",
        )
