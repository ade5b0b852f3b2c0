"""The operator API token: minting it, and telling whether a recorded one is still usable.

Owner tokens are capped by ``CODER_MAX_ADMIN_TOKEN_LIFETIME`` (168h by default); a refused
lifetime says how to raise it. A recorded token is usable when it authenticates, is the one
recorded (same id under the configured name) and does not expire within
:data:`REMINT_BEFORE_EXPIRY`, so the next refresh and ``up`` mint a new one before it lapses.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from components.coder_errors import CoderApiError, CoderError

if TYPE_CHECKING:
    from components.coder_api import CoderClient


class CoderAdminError(CoderError):
    """The admin could not be created, adopted or given a token."""


REMINT_BEFORE_EXPIRY: Final = timedelta(hours=24)
"""A token that expires sooner than this is minted again at the next refresh and up."""


def token_usable(client: CoderClient, *, token_name: str, token_id: str) -> bool:
    """One authenticated read with ``client`` (which carries the token under test)."""
    try:
        listed = client.get_token(token_name)
    except CoderApiError as exc:
        if exc.status == 401:  # deleted, expired, or revoked by a password change
            return False
        raise
    if listed is None or listed.id != token_id:
        return False
    expires = parse_time(listed.expires_at)
    return expires is None or expires - datetime.now(UTC) > REMINT_BEFORE_EXPIRY


def parse_time(text: str) -> datetime | None:
    """Coder's RFC 3339 timestamps (``2026-12-08T09:00:00.123456789Z``: nanoseconds, ``Z``)."""
    if not text:
        return None
    head, _, tail = text.replace("Z", "+00:00").partition(".")
    if tail:  # keep at most microseconds, which is what fromisoformat reads
        digits = "".join(c for c in tail if c.isdigit())
        head += "." + digits[:6] + tail[len(digits):]
    try:
        parsed = datetime.fromisoformat(head)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def mint_token(client: CoderClient, props: Mapping[str, Any]) -> tuple[str, str]:
    """Mint the operator token; a same-named token is deleted and minted again. Returns
    (token, token id)."""
    name = str(props["token_name"])
    hours = float(props["token_lifetime_hours"])
    try:
        token = _create_token(client, name, hours)
    except CoderApiError as exc:
        if exc.status != 409:
            raise
        existing = client.get_token(name)
        if existing is not None:
            client.delete_api_key(existing.id)
        token = _create_token(client, name, hours)
    minted = client.get_token(name)
    if minted is None:
        raise CoderAdminError(f"Coder minted the token {name!r} but does not list it")
    return token, minted.id


def _create_token(client: CoderClient, name: str, hours: float) -> str:
    try:
        return client.create_token(token_name=name, lifetime=timedelta(hours=hours))
    except CoderApiError as exc:
        refused_lifetime = exc.status == 400 and "lifetime" in f"{exc.message} {exc.detail}".lower()
        if refused_lifetime:
            raise CoderAdminError(
                f"Coder refused an operator token lifetime of {hours:g} hours: {exc}. Owner "
                "tokens are capped by CODER_MAX_ADMIN_TOKEN_LIFETIME (168h by default): raise "
                f"CODER_MAX_ADMIN_TOKEN_LIFETIME on the server (e.g. to {hours:g}h), or lower "
                "the admin token lifetime in the stack config"
            ) from None
        raise
