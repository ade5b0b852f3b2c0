"""Values as Pulumi's dynamic provider host hands them to the Coder providers.

The host deserializes inputs with unknowns kept during preview, and a secret may arrive wrapped
in Pulumi's secret envelope; the providers compare and use plain values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi.output import Unknown
from pulumi.runtime import rpc


def plain(value: Any) -> Any:
    """``value`` with Pulumi's secret envelopes removed, recursively."""
    value = rpc.unwrap_rpc_secret(value)
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def contains_unknown(value: Any) -> bool:
    """True if ``value`` is, or contains, a value the engine does not know yet (preview)."""
    if isinstance(value, Unknown) or (isinstance(value, str) and value == rpc.UNKNOWN):
        return True
    if isinstance(value, dict):
        return any(contains_unknown(item) for item in value.values())
    if isinstance(value, list):
        return any(contains_unknown(item) for item in value)
    return False


def inputs_changed(olds: Mapping[str, Any], news: Mapping[str, Any], keys: tuple[str, ...]) -> bool:
    """Whether any of ``keys`` differs; an unknown new value counts as a change, and absent or
    empty optional values (None, "", {}) count as equal."""

    def normalized(value: Any) -> Any:
        return None if value in (None, "", {}) else value

    return any(
        contains_unknown(news.get(key)) or normalized(olds.get(key)) != normalized(news.get(key))
        for key in keys
    )
