"""``--config-override KEY=VALUE`` for the offline plan: merged into the stack's config.

Two forms, as ``pulumi config set`` knows them:

- ``egoengine:coder={"version": "v2.26.0"}``: a JSON object is merged into the stack file's object
  (nested objects merged too, lists replaced); any other value replaces the key.
- ``egoengine:coder.version=v2.26.0`` (``pulumi config set --path``): one nested value, a string
  unless it is a JSON object or list; ``images.children[0].name`` indexes a list.

A key without a namespace is an ``egoengine:`` key. The stack file is never changed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

PROJECT = "egoengine"

_PATH = re.compile(r"([^.\[\]]+)((?:\.[^.\[\]]+|\[\d+\])*)")
_STEP = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]")


class OverrideError(ValueError):
    """A malformed override: the message names it and what is expected."""


def split(text: str, option: str = "--config-override") -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise OverrideError(f"{option} {key or text!r}: expected KEY=VALUE")
    if ":" not in key:
        key = f"{PROJECT}:{key}"
    return key, value


def _path(key: str) -> tuple[str, list[str | int]]:
    """``egoengine:images.children[0].name`` -> (``egoengine:images``, ``["children", 0, "name"]``)."""
    namespace, _, rest = key.partition(":")
    match = _PATH.fullmatch(rest)
    if match is None:
        raise OverrideError(
            f"--config-override {key}: expected a key or a path such as egoengine:coder.version"
        )
    steps = [m[1] if m[1] is not None else int(m[2]) for m in _STEP.finditer(match[2])]
    return f"{namespace}:{match[1]}", steps


def _merge(base: Any, change: Any) -> Any:
    if isinstance(base, Mapping) and isinstance(change, Mapping):
        merged = dict(base)
        for key, value in change.items():
            merged[key] = _merge(merged.get(key), value)
        return merged
    return change


def _set(container: Any, path: list[str | int], value: Any, key: str) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(head, int):
        items = list(container) if isinstance(container, list) else []
        if head > len(items):
            raise OverrideError(f"--config-override {key}: index {head} is past the end of the list")
        if head == len(items):
            items.append(None)
        items[head] = _set(items[head], rest, value, key)
        return items
    mapping = dict(container) if isinstance(container, Mapping) else {}
    mapping[head] = _set(mapping.get(head), rest, value, key)
    return mapping


def _decode(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def merged_overrides(
    texts: Sequence[str], current: Mapping[str, str]
) -> dict[str, Any]:
    """Config keys -> their new values, given the stack's config (``key -> JSON text``)."""
    values: dict[str, Any] = {}

    def now(key: str) -> Any:
        if key in values:
            return values[key]
        return _decode(current[key]) if key in current else None

    for text in texts:
        key, raw = split(text)
        top, path = _path(key)
        if path:
            value: Any = raw
            if raw.lstrip().startswith(("{", "[")):
                try:
                    value = json.loads(raw)
                except ValueError:
                    raise OverrideError(f"--config-override {key}: the value is not valid JSON") from None
            values[top] = _set(now(top), path, value, key)
        else:
            decoded = _decode(raw)
            values[top] = _merge(now(top), decoded) if isinstance(decoded, Mapping) else raw
    return values
