"""Shared pieces of the settings models: the base model, value parsers and field checks.

Values that may hold a secret are never echoed back: a misplaced secret must not end up in an
error message.
"""

import ipaddress
import os
import re
from pathlib import Path, PurePosixPath
from typing import Any, Literal, NamedTuple
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from components.image_build import DIGEST_TEXT, PinnedRef

NAMESPACE = "egoengine"
PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent

_SEMVER_TAG = re.compile(r"^v\d+\.\d+\.\d+$")
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_CONTAINER_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$")
_IMAGE_REF = re.compile(
    r"^(?P<repo>[a-z0-9]+(?:[._-][a-z0-9]+)*(?::\d+)?(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*)"
    rf":(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})@(?P<digest>{DIGEST_TEXT})$"
)


def _empty_list() -> list[Any]:
    """``default_factory`` for an empty list. Not ``list`` itself: pydantic reads a factory's
    signature, and a builtin's is parsed from text by ``tokenize``, whose big regex costs over a
    millisecond to compile at every preview."""
    return []


def _empty_dict() -> dict[str, Any]:
    """``default_factory`` for an empty mapping (not ``dict``: see ``_empty_list``)."""
    return {}


# No pydantic plugin observes these models. Without this, building the first validator scans every
# installed distribution's entry points for plugins, at every preview (~2% of the program's start-up
# over the SDK imports). An operator who sets the variable keeps their value.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")


class _Model(BaseModel):
    # defer_build: a model's validator is built when first used, so Settings builds the whole tree
    # once at validation instead of every class at import (a few ms at every preview).
    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, alias_generator=to_camel, defer_build=True
    )


class _FieldError(ValueError):
    """A model-level check that belongs to one field, so the error names that field's key."""

    def __init__(self, field: str, problem: str, expected: str | None = None) -> None:
        super().__init__(problem)
        self.field = field
        self.expected = expected
        """What to give instead, when the field's description would offer the rejected value."""


# --- value types ---------------------------------------------------------------------------------


def parse_pinned_image(value: str) -> PinnedRef:
    """Parse ``repo:tag@sha256:<64 hex>``; ``latest`` and a missing tag or digest are rejected.

    Stricter than ``PinnedRef.parse`` (which also takes ``repo@digest``): config must name a tag.
    """
    match = _IMAGE_REF.match(value)
    if not match:
        raise ValueError("is not an image reference pinned by tag and digest")
    if match["tag"] == "latest":
        raise ValueError("uses the mutable tag 'latest'")
    return PinnedRef(match["repo"], match["tag"], match["digest"])


class OnePasswordRef(NamedTuple):
    """``op://vault/item/[section/]field``."""

    vault: str
    item: str
    section: str | None
    field: str

    @property
    def uri(self) -> str:
        middle = f"{self.section}/" if self.section else ""
        return f"op://{self.vault}/{self.item}/{middle}{self.field}"


class SecretSource(NamedTuple):
    """Where one secret comes from: generated, a Pulumi config secret, 1Password, or nowhere."""

    kind: Literal["generate", "config", "onepassword", "none"]
    length: int = 0
    config_key: str = ""
    op_ref: OnePasswordRef | None = None


_GENERATE = re.compile(r"^generate(?::(\d+))?$")
_CONFIG_SOURCE = re.compile(r"^config:([A-Za-z][A-Za-z0-9_]*)$")


def parse_secret_source(value: str, *, default_length: int) -> SecretSource:
    """Parse ``generate[:N]``, ``config:<key>``, ``op://vault/item/[section/]field`` or ``none``.

    Messages never contain the value: an operator may have pasted the secret itself here.
    """
    if value == "none":
        return SecretSource("none")
    if match := _GENERATE.match(value):
        length = int(match[1]) if match[1] else default_length
        if not 16 <= length <= 128:
            raise ValueError("asks for a generated length outside 16..128")
        return SecretSource("generate", length=length)
    if match := _CONFIG_SOURCE.match(value):
        return SecretSource("config", config_key=match[1])
    if value.startswith("op://"):
        return SecretSource("onepassword", op_ref=parse_op_ref(value))
    raise ValueError("is not a known secret source")


def parse_op_ref(value: str) -> OnePasswordRef:
    if "?" in value or "#" in value:
        raise ValueError("is a 1Password reference with query attributes, which are not supported")
    parts = value.removeprefix("op://").split("/")
    if len(parts) not in (3, 4) or any(not p.strip() for p in parts):
        raise ValueError("is a malformed 1Password reference")
    if len(parts) == 3:
        return OnePasswordRef(parts[0], parts[1], None, parts[2])
    return OnePasswordRef(parts[0], parts[1], parts[2], parts[3])


# --- field checks ------------------------------------------------------------------------------

_BIND_DESC = "an IP address to bind on, e.g. 127.0.0.1 (loopback) or 0.0.0.0"


def _check_http_url(value: str, *, what: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"is not an http(s) URL with a host ({what})")
    if parts.username or parts.password:
        raise ValueError("carries credentials in the URL")
    try:
        parts.port
    except ValueError as exc:
        raise ValueError("has an invalid port") from exc
    return value.rstrip("/")


def _check_bind_address(value: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError as exc:
        raise ValueError("is not an IP address") from exc
    return value


def _check_identifier(value: str) -> str:
    if not _NAME.match(value):
        raise ValueError("is not a lower-case PostgreSQL identifier")
    return value


_GIT_SHA = re.compile(r"^[0-9a-f]{7,40}$")
_IMAGE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_REPOSITORY = re.compile(
    r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::\d+)?(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)+$"
)


def _check_repository(value: str) -> str:
    if not _REPOSITORY.match(value):
        raise ValueError("is not an image repository such as ghcr.io/owner/name")
    return value


def _project_dir(value: str) -> str:
    path = PurePosixPath(value)
    if path.is_absolute() or ".." in path.parts:
        raise ValueError("is outside the project (absolute or with '..')")
    if not (PROJECT_ROOT / path).is_dir():
        raise ValueError("does not exist in the project (no such directory)")
    return value
