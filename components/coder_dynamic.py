"""What the Coder dynamic providers (``coder_admin``, ``coder_template``) share.

Both receive values as Pulumi's dynamic provider host hands them over (unknowns kept during
preview, secrets possibly in Pulumi's envelope) and compare plain values; both authenticate with
the operator token when they have one and log in with the admin's password only when it no longer
works (every password login creates a new session key in Coder); and both record their inputs
next to what they created, so the next diff, read and delete see them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final, Protocol

from pulumi.output import Unknown
from pulumi.runtime import rpc

from components.coder_errors import CoderApiError, CoderError

if TYPE_CHECKING:  # the client (and httpx) load only when a provider runs, never at preview
    from components.coder_api import CoderClient

LOGIN_REFUSED_STATUSES: Final = frozenset({400, 401, 403})
"""How Coder refuses a password login: 400 malformed or unknown user, 401 wrong password, 403
login type not allowed (e.g. password auth disabled) or user suspended."""


def login_as_admin(
    client: CoderClient,
    *,
    email: str,
    password: str,
    refused: Callable[[CoderApiError], CoderError],
) -> str:
    """Log ``client`` in with the admin's password; returns the session token.

    A refused login (:data:`LOGIN_REFUSED_STATUSES`) raises ``refused(error)`` instead: the
    caller's own error, saying what it was doing and what to fix. The Coder error in it is
    already redacted by the client (no password). Anything else (server down, 5xx) propagates.
    """
    try:
        return client.login(email=email, password=password)
    except CoderApiError as exc:
        if exc.status in LOGIN_REFUSED_STATUSES:
            raise refused(exc) from None
        raise


class ClientTimeouts(Protocol):
    """What a Coder dynamic provider carries for the clients it opens."""

    request_timeout_seconds: float
    poll_interval_seconds: float


def open_client(
    provider: ClientTimeouts, url: str, *, startup_grace_seconds: float, token: str | None = None
) -> CoderClient:
    """A client for ``url`` with the provider's timeouts (and ``token``, when given)."""
    from components.coder_api import CoderClient

    return CoderClient(
        url,
        session_token=token,
        request_timeout_seconds=provider.request_timeout_seconds,
        startup_grace_seconds=startup_grace_seconds,
        poll_interval_seconds=provider.poll_interval_seconds,
    )


def authenticate(
    client: CoderClient, *, token: str, login: Callable[[CoderClient], object]
) -> bool:
    """Authenticate ``client`` with ``token`` (an API token) if it still works, else call
    ``login(client)`` (a password login). Returns True when the token was used.

    The check is one read (``GET /users/me``); a 401 means the token was deleted, expired, or
    revoked by a password change (Coder deletes a user's API keys when its password changes).
    """
    if token:
        client.use_session_token(token)
        try:
            client.me()
        except CoderApiError as exc:
            if exc.status != 401:
                raise
        else:
            return True
    login(client)
    return False


def provider_outputs(
    props: Mapping[str, Any], input_keys: Iterable[str], **created: Any
) -> dict[str, Any]:
    """A dynamic resource's outputs: the inputs it was given (those in ``input_keys`` that are
    set), plus what it ``created`` (ids, tokens)."""
    outputs = {key: props[key] for key in input_keys if key in props}
    outputs.update(created)
    return outputs


__all__ = ["LOGIN_REFUSED_STATUSES", "authenticate", "login_as_admin", "provider_outputs"]


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
