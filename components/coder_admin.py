"""Coder's first admin user and the operator API token, as a Pulumi dynamic resource.

Lifecycle (what the engine calls on :class:`AdminProvider`):

- **create**: wait for ``/healthz``; create the first user if there is none, otherwise log in
  with the configured credentials and adopt that user (or fail clearly when they do not log in);
  then mint an API token with the configured name and lifetime. A token of that name left from
  an earlier run is deleted and minted again (its secret cannot be read back).
- **diff**: compares inputs only and never calls the network, so ``pulumi preview`` stays offline.
  Nothing is ever replaced: the first user cannot be created twice. A change of ``token_name`` or
  ``token_lifetime_hours`` mints a new token and deletes the old one. A change of ``email``,
  ``username``, ``full_name``, ``password`` or ``url`` only re-adopts (logs in again and records
  the new values): the profile and password are set in Coder when the user is first created and
  are not pushed later — change them in Coder first, then in the stack config.
- **read** (``pulumi refresh``, ``up --refresh``): checks the recorded token with one
  authenticated read, no login. A token that was deleted, has expired, expires within
  :data:`components.coder_token.REMINT_BEFORE_EXPIRY`, or was revoked by a password change
  (Coder deletes a user's API keys when its password changes) is recorded as empty; the next
  diff sees that and the update logs in and mints a new one, so the token output is never
  stale. If that login is refused (the first user's password was changed in Coder), ``up``
  fails with one line saying so.
- **delete**: deletes the token (already gone is fine) and leaves the user, who owns templates
  and workspaces.

Create and update log in with the admin credentials (minting needs a session; Owner tokens are
capped by ``CODER_MAX_ADMIN_TOKEN_LIFETIME``, 168h by default); read and the templates use the
token instead, so an unchanged redeploy creates no session.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, NotRequired, TypedDict

import pulumi
import pulumi.dynamic

from components.coder_dynamic import (
    contains_unknown,
    inputs_changed,
    login_as_admin,
    open_client,
    plain,
    provider_outputs,
)
from components.coder_errors import CoderApiError, CoderError, CoderUnavailableError
from components.coder_token import CoderAdminError, mint_token, token_usable
from components.dynamic_pickle import DynamicResource, ProjectProvider
from components.resource_options import child_options

if TYPE_CHECKING:  # the client (and httpx) load only when the provider runs, never at preview
    from components.coder_api import CoderClient

TYPE_TOKEN = "egoengine:coder:Admin"

# Inputs whose change calls update; everything else (health_timeout_seconds) is operational.
_COMPARED_INPUTS = (
    "url",
    "email",
    "username",
    "full_name",
    "password",
    "token_name",
    "token_lifetime_hours",
)
_TOKEN_INPUTS = ("token_name", "token_lifetime_hours")
_INPUT_KEYS = (*_COMPARED_INPUTS, "health_timeout_seconds")

READ_GRACE_SECONDS: Final = 10.0
"""How long read waits for a Coder that does not answer before leaving the state as it is."""


class CoderAdminArgs(TypedDict):
    url: pulumi.Input[str]
    """Internal base URL of the Coder server (reachable from the deploy machine)."""
    email: pulumi.Input[str]
    username: pulumi.Input[str]
    full_name: NotRequired[pulumi.Input[str]]
    password: pulumi.Input[str]
    """The admin's password; treated as a secret whether or not the caller marked it."""
    token_name: pulumi.Input[str]
    token_lifetime_hours: pulumi.Input[int]
    """Above 168 needs ``CODER_MAX_ADMIN_TOKEN_LIFETIME`` raised on the server."""
    health_timeout_seconds: pulumi.Input[float]


class AdminProvider(ProjectProvider):
    """Dynamic provider for the admin user and token. Module-level and stateless apart from
    plain numbers: pickled into the state by reference to this module and class
    (``components.dynamic_pickle``); moving it needs an alias at this path."""

    def __init__(
        self, *, request_timeout_seconds: float = 30.0, poll_interval_seconds: float = 2.0
    ) -> None:
        super().__init__()
        self.request_timeout_seconds = request_timeout_seconds
        self.poll_interval_seconds = poll_interval_seconds

    # -- engine calls ----------------------------------------------------------------------------

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.CheckResult:
        failures: list[pulumi.dynamic.CheckFailure] = []
        for key in ("url", "email", "username", "password", "token_name"):
            value = plain(news.get(key))
            if not contains_unknown(value) and (not isinstance(value, str) or not value):
                failures.append(pulumi.dynamic.CheckFailure(key, "must be a non-empty string"))
        for key in ("token_lifetime_hours", "health_timeout_seconds"):
            value = plain(news.get(key))
            if contains_unknown(value):
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                failures.append(pulumi.dynamic.CheckFailure(key, "must be a positive number"))
        return pulumi.dynamic.CheckResult(news, failures)

    def diff(
        self, _id: str, olds: dict[str, Any], news: dict[str, Any]
    ) -> pulumi.dynamic.DiffResult:
        """Offline: compares recorded inputs with the new ones; never replaces."""
        olds, news = plain(olds), plain(news)
        return pulumi.dynamic.DiffResult(
            # No recorded token: the last read found it gone or expiring.
            changes=not olds.get("token") or inputs_changed(olds, news, _COMPARED_INPUTS),
            replaces=[],
            delete_before_replace=False,
        )

    def read(self, id_: str, props: dict[str, Any]) -> pulumi.dynamic.ReadResult:
        """Records an empty token when the recorded one no longer works or expires soon."""
        props = plain(props)
        outs = dict(props)
        token = str(props.get("token") or "")
        try:
            usable = bool(token) and self._token_usable(props, token)
        except CoderUnavailableError:
            usable = True  # Coder is down: nothing can be told, the state stays as it is
        # Read never logs in: an unusable token is recorded as empty, the update mints one.
        if not usable:
            outs.update(token="", token_id="")
        return pulumi.dynamic.ReadResult(id_, outs)

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        props = plain(props)
        with self._client(props) as client:
            client.wait_until_healthy(float(props["health_timeout_seconds"]))
            user_id, organization_id = _create_or_adopt(client, props)
            token, token_id = mint_token(client, props)
        return pulumi.dynamic.CreateResult(
            user_id, _outputs(props, user_id, organization_id, token, token_id)
        )

    def update(
        self, _id: str, olds: dict[str, Any], news: dict[str, Any]
    ) -> pulumi.dynamic.UpdateResult:
        olds, news = plain(olds), plain(news)
        with self._client(news) as client:
            client.wait_until_healthy(float(news["health_timeout_seconds"]))
            user_id, organization_id = _create_or_adopt(client, news, refused=_refused_on_update)
            old_token = str(olds.get("token") or "")
            old_token_id = str(olds.get("token_id") or "")
            needs_token = (
                inputs_changed(olds, news, _TOKEN_INPUTS)
                or not old_token
                or not self._token_usable({**olds, "url": news["url"]}, old_token)
            )
            if needs_token:
                token, token_id = mint_token(client, news)
                if old_token_id and old_token_id != token_id:
                    client.delete_api_key(old_token_id)  # already gone is fine
            else:
                token, token_id = old_token, old_token_id
        return pulumi.dynamic.UpdateResult(
            _outputs(news, user_id, organization_id, token, token_id)
        )

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        """Deletes the operator token; the user stays (it owns templates and workspaces)."""
        props = plain(props)
        token_id = props.get("token_id")
        if not token_id:
            return
        with self._client(props) as client:
            _login(client, props, purpose="delete the operator token")
            client.delete_api_key(str(token_id))

    # -- helpers ---------------------------------------------------------------------------------

    def _client(self, props: Mapping[str, Any], token: str | None = None) -> CoderClient:
        grace = float(props.get("health_timeout_seconds") or 60.0)
        return open_client(self, str(props["url"]), startup_grace_seconds=grace, token=token)

    def _token_usable(self, props: Mapping[str, Any], token: str) -> bool:
        """One authenticated read: the token authenticates and is not about to expire."""
        url = str(props["url"])
        with open_client(self, url, startup_grace_seconds=READ_GRACE_SECONDS, token=token) as client:
            return token_usable(
                client, token_name=str(props["token_name"]), token_id=str(props.get("token_id") or "")
            )


def _outputs(
    props: Mapping[str, Any], user_id: str, organization_id: str, token: str, token_id: str
) -> dict[str, Any]:
    return provider_outputs(
        props,
        _INPUT_KEYS,
        user_id=user_id,
        organization_id=organization_id,
        token=token,
        token_id=token_id,
    )


def _refused_on_adopt(props: Mapping[str, Any], exc: CoderApiError) -> CoderError:
    return CoderAdminError(
        "a first user already exists and the configured credentials do not log in: "
        f"{exc}. Set the admin email and password in the stack config to that user's "
        f"(configured email: {props['email']})"
    )


def _refused_on_update(props: Mapping[str, Any], exc: CoderApiError) -> CoderError:
    return CoderAdminError(
        f"the first Coder user {props['email']} no longer logs in with the stack's admin "
        f"password ({exc}); was it changed in Coder? Coder then also deleted the operator "
        "token. Put the current password in egoengine:secrets.adminPassword's source, or set "
        "it back in Coder, and run `pulumi up` again"
    )


def _login(client: CoderClient, props: Mapping[str, Any], *, purpose: str) -> None:
    login_as_admin(
        client,
        email=str(props["email"]),
        password=str(props["password"]),
        refused=lambda exc: CoderAdminError(
            f"cannot log in to Coder at {props['url']} as {props['email']} to {purpose}: {exc}"
        ),
    )


def _create_or_adopt(
    client: CoderClient,
    props: Mapping[str, Any],
    *,
    refused: Callable[[Mapping[str, Any], CoderApiError], CoderError] = _refused_on_adopt,
) -> tuple[str, str]:
    """Create the first user, or adopt the existing one; leaves ``client`` logged in as it.
    Returns (user id, organization id). A refused login raises ``refused(props, error)``."""
    email, username = str(props["email"]), str(props["username"])
    created = None
    if not client.first_user_exists():
        try:
            created = client.create_first_user(
                email=email,
                username=username,
                password=str(props["password"]),
                full_name=str(props.get("full_name") or ""),
            )
        except CoderApiError as exc:
            if exc.status != 409:  # 409: someone created it since the check; adopt below
                raise CoderAdminError(
                    f"creating the first Coder user {username!r} failed: {exc}"
                ) from None
    if created is None:
        # Adopting: a refusal means the stack's credentials are not the existing first user's.
        login_as_admin(
            client,
            email=email,
            password=str(props["password"]),
            refused=lambda exc: refused(props, exc),
        )
    else:
        # Just created with these credentials: a refusal here is Coder's fault, not the
        # config's, so its own error goes up unchanged.
        client.login(email=email, password=str(props["password"]))
    me = client.me()
    if not me.is_owner:
        raise CoderAdminError(
            f"the configured admin {me.username!r} ({email}) logs in but is not an Owner in "
            "Coder; use the first user's credentials, or give this user the Owner role"
        )
    organization_id = created.organization_id if created else client.default_organization().id
    return me.id, organization_id


class _AdminResource(DynamicResource, module="coder", name="Admin"):
    user_id: pulumi.Output[str]
    organization_id: pulumi.Output[str]
    token: pulumi.Output[str]
    token_id: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        props: Mapping[str, Any],
        opts: pulumi.ResourceOptions,
        provider: AdminProvider | None = None,
    ) -> None:
        outputs = {"user_id": None, "organization_id": None, "token": None, "token_id": None}
        super().__init__(provider or AdminProvider(), name, {**props, **outputs}, opts)


class CoderAdmin(pulumi.ComponentResource):
    """The first Coder admin and an operator API token (secret)."""

    user_id: pulumi.Output[str]
    organization_id: pulumi.Output[str]
    token: pulumi.Output[str]

    def __init__(
        self, name: str, args: CoderAdminArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE_TOKEN, name, None, opts)
        props: dict[str, Any] = {
            "url": args["url"],
            "email": args["email"],
            "username": args["username"],
            "full_name": args.get("full_name", ""),
            "password": pulumi.Output.secret(args["password"]),
            "token_name": args["token_name"],
            "token_lifetime_hours": args["token_lifetime_hours"],
            "health_timeout_seconds": args["health_timeout_seconds"],
        }
        user = _AdminResource(
            f"{name}-user",
            props,
            child_options(self, opts, additional_secret_outputs=["token", "password"]),
        )
        self.user_id = user.user_id
        self.organization_id = user.organization_id
        self.token = pulumi.Output.secret(user.token)
        self.register_outputs(
            {
                "user_id": self.user_id,
                "organization_id": self.organization_id,
                "token": self.token,
            }
        )


__all__ = [
    "AdminProvider",
    "CoderAdmin",
    "CoderAdminArgs",
    "CoderAdminError",
]
