"""The adopted role and database as a dynamic resource (``egoengine:database.existing: adopt``).

Lifecycle (what the engine calls on :class:`AdoptionProvider`; the SQL is in
:mod:`components.pg_adopt`):

- **check**/**diff**: offline. The role or database name -> replace (which ``protect`` refuses:
  adopting another database is a decision for the operator, not a deploy). The password or the
  admin connection -> update. The last read finding that the password no longer logs in ->
  update. Nothing else changes anything, so a second ``up`` shows no change.
- **create**/**update**: check that the role exists, is not a superuser and owns the database
  (one line naming the key and the fix otherwise), then set the stack's password.
- **read** (refresh): records the current owner and whether the stack's password still logs in.
- **delete**: nothing. The role and database are never dropped by this program; the resource is
  also ``protect``ed and ``retain_on_delete``, so a destroy neither runs this nor removes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypedDict

import pulumi
import pulumi.dynamic

from components.coder_dynamic import contains_unknown, inputs_changed, plain
from components.dynamic_pickle import DynamicResource, ProjectProvider

if TYPE_CHECKING:  # the SQL side loads only when the provider runs, never at preview
    from components import pg_adopt

_CONNECTION_INPUTS = ("host", "port", "admin_user", "admin_password", "admin_database", "sslmode")
_IDENTITY_INPUTS = ("role", "database")
_INPUT_KEYS = (*_CONNECTION_INPUTS, *_IDENTITY_INPUTS, "password")


class AdoptedDatabaseArgs(TypedDict):
    host: pulumi.Input[str]
    port: pulumi.Input[int]
    admin_user: pulumi.Input[str]
    admin_password: pulumi.Input[str]
    admin_database: pulumi.Input[str]
    sslmode: pulumi.Input[str]
    role: pulumi.Input[str]
    database: pulumi.Input[str]
    password: pulumi.Input[str]
    """The stack's password for ``role`` (secret)."""


def _server(props: Mapping[str, Any]) -> pg_adopt.Server:
    from components import pg_adopt

    return pg_adopt.Server(
        host=str(props["host"]),
        port=int(props["port"]),
        admin_user=str(props["admin_user"]),
        admin_password=str(props["admin_password"]),
        admin_database=str(props["admin_database"]),
        sslmode=str(props["sslmode"]),
    )


class AdoptionProvider(ProjectProvider):
    """Dynamic provider for an adopted role and database; stateless, pickled by reference."""

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.CheckResult:
        values = plain(news)
        failures = [
            pulumi.dynamic.CheckFailure(key, "must be a non-empty string")
            for key in (*_IDENTITY_INPUTS, "host", "admin_user", "admin_database", "password")
            if not contains_unknown(values.get(key))
            and (not isinstance(values.get(key), str) or not values.get(key))
        ]
        return pulumi.dynamic.CheckResult(news, failures)

    def diff(
        self, _id: str, olds: dict[str, Any], news: dict[str, Any]
    ) -> pulumi.dynamic.DiffResult:
        olds, news = plain(olds), plain(news)
        if inputs_changed(olds, news, _IDENTITY_INPUTS):
            return pulumi.dynamic.DiffResult(
                changes=True, replaces=list(_IDENTITY_INPUTS), delete_before_replace=False
            )
        drifted = olds.get("password_logs_in") is False or olds.get("owner") not in (
            None,
            olds.get("role"),
        )
        changed = drifted or inputs_changed(olds, news, (*_CONNECTION_INPUTS, "password"))
        return pulumi.dynamic.DiffResult(changes=changed, replaces=[], delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        props = plain(props)
        outs = self._adopt(props)
        return pulumi.dynamic.CreateResult(f"{props['role']}@{props['database']}", outs)

    def update(
        self, _id: str, _olds: dict[str, Any], news: dict[str, Any]
    ) -> pulumi.dynamic.UpdateResult:
        return pulumi.dynamic.UpdateResult(self._adopt(plain(news)))

    def read(self, id_: str, props: dict[str, Any]) -> pulumi.dynamic.ReadResult:
        from components import pg_adopt

        props = plain(props)
        server = _server(props)
        existing = pg_adopt.inspect(server, role=str(props["role"]), database=str(props["database"]))
        logs_in = pg_adopt.logs_in(
            server,
            role=str(props["role"]),
            database=str(props["database"]),
            password=str(props["password"]),
        )
        return pulumi.dynamic.ReadResult(
            id_, {**props, "owner": existing.owner or "", "password_logs_in": logs_in}
        )

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        """Never drops anything (see the module doc)."""

    def _adopt(self, props: Mapping[str, Any]) -> dict[str, Any]:
        from components import pg_adopt

        try:
            existing = pg_adopt.adopt(
                _server(props),
                role=str(props["role"]),
                database=str(props["database"]),
                password=str(props["password"]),
            )
        except pg_adopt.AdoptionError as exc:
            # One line; the traceback of the provider process adds nothing.
            raise pg_adopt.AdoptionError(str(exc)) from None
        outs = {key: props[key] for key in _INPUT_KEYS if key in props}
        outs.update(owner=existing.owner or "", password_logs_in=True)
        return outs


class _AdoptedResource(DynamicResource, module="database", name="Adoption"):
    role: pulumi.Output[str]
    database: pulumi.Output[str]
    owner: pulumi.Output[str]

    def __init__(
        self, name: str, props: Mapping[str, Any], opts: pulumi.ResourceOptions
    ) -> None:
        super().__init__(
            AdoptionProvider(), name, {**props, "owner": None, "password_logs_in": None}, opts
        )


def adopted_database(
    name: str, args: AdoptedDatabaseArgs, opts: pulumi.ResourceOptions
) -> _AdoptedResource:
    """The adoption resource: secret passwords, protected, retained."""
    props: dict[str, Any] = {
        **args,
        "admin_password": pulumi.Output.secret(args["admin_password"]),
        "password": pulumi.Output.secret(args["password"]),
    }
    return _AdoptedResource(
        name,
        props,
        pulumi.ResourceOptions.merge(
            opts,
            pulumi.ResourceOptions(
                protect=True,
                retain_on_delete=True,
                additional_secret_outputs=["admin_password", "password"],
            ),
        ),
    )


__all__ = ["AdoptedDatabaseArgs", "AdoptionProvider", "adopted_database"]
