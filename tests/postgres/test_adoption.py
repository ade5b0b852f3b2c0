"""``egoengine:database.existing: adopt`` on a real PostgreSQL, with the NixOS module's layout:
a login role with its own password owning a database that holds tables and rows.

The adoption provider is called the way the engine calls it (create; then diff for the second
``up``; read, diff and update for a refresh), against the test cluster.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from psycopg import sql

from components.database import connection_url
from components.database_adoption import AdoptionProvider
from components.pg_adopt import AdoptionError
from tests.postgres.conftest import SUPERUSER, PgServer

pytestmark = pytest.mark.integration

TABLES = {"users": 3, "workspaces": 5, "schema_migrations": 1}
NEW_PASSWORD = "stack-generated:/?#[]@!$&'()*+,;= %41"


@dataclass(frozen=True)
class Existing:
    role: str
    database: str
    password: str


def _connect(pg: PgServer, user: str, password: str, database: str) -> psycopg.Connection[Any]:
    return psycopg.connect(
        host=pg.host, port=pg.port, user=user, password=password, dbname=database,
        sslmode="disable", autocommit=True, connect_timeout=10,
    )


def _logs_in(pg: PgServer, user: str, password: str, database: str) -> bool:
    try:
        with _connect(pg, user, password, database):
            return True
    except psycopg.OperationalError:
        return False


def _row_counts(pg: PgServer, existing: Existing) -> dict[str, int]:
    with pg.admin_connect(existing.database) as conn:
        return {
            table: int(conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()[0])  # type: ignore[index]
            for table in TABLES
        }


@pytest.fixture
def nixos_layout(pg_server: PgServer) -> Iterator[Existing]:
    """What the Coder NixOS module leaves: role + its own password, owning a database with data."""
    suffix = secrets.token_hex(4)
    existing = Existing(f"coder_{suffix}", f"coder_{suffix}", secrets.token_urlsafe(18))
    pg_server.create_role(existing.role, existing.password)
    pg_server.create_database(existing.database, existing.role)
    with _connect(pg_server, existing.role, existing.password, existing.database) as conn:
        for table, rows in TABLES.items():
            conn.execute(sql.SQL("CREATE TABLE {} (id integer PRIMARY KEY)").format(sql.Identifier(table)))
            conn.execute(
                sql.SQL("INSERT INTO {} SELECT generate_series(1, %s)").format(sql.Identifier(table)),
                (rows,),
            )
    yield existing
    pg_server.drop_database(existing.database)
    pg_server.drop_role(existing.role)


@pytest.fixture
def props(pg_server: PgServer) -> Callable[..., dict[str, Any]]:
    def make(existing: Existing, **overrides: Any) -> dict[str, Any]:
        values: dict[str, Any] = {
            "host": pg_server.host,
            "port": pg_server.port,
            "admin_user": SUPERUSER,
            "admin_password": pg_server.superuser_password,
            "admin_database": "postgres",
            "sslmode": "disable",
            "role": existing.role,
            "database": existing.database,
            "password": NEW_PASSWORD,
        }
        values.update(overrides)
        return values

    return make


def test_adoption_keeps_every_row_and_hands_the_role_the_stacks_password(
    pg_server: PgServer, nixos_layout: Existing, props: Callable[..., dict[str, Any]]
) -> None:
    provider = AdoptionProvider()
    before = _row_counts(pg_server, nixos_layout)

    created = provider.create(props(nixos_layout))

    assert created.id == f"{nixos_layout.role}@{nixos_layout.database}"
    assert created.outs is not None and created.outs["owner"] == nixos_layout.role
    assert _row_counts(pg_server, nixos_layout) == before == TABLES
    url = connection_url(
        user=nixos_layout.role, password=NEW_PASSWORD, host=pg_server.host,
        port=pg_server.port, database=nixos_layout.database, sslmode="disable",
    )
    with psycopg.connect(url, connect_timeout=10) as conn:
        assert conn.execute("SELECT current_user, current_database()").fetchone() == (
            nixos_layout.role, nixos_layout.database,
        )
    assert not _logs_in(pg_server, nixos_layout.role, nixos_layout.password, nixos_layout.database)
    with pg_server.admin_connect() as conn:
        stored = conn.execute(
            "SELECT rolpassword FROM pg_authid WHERE rolname = %s", (nixos_layout.role,)
        ).fetchone()
    assert stored is not None and str(stored[0]).startswith("SCRAM-SHA-256$")

    # The second `up`: same inputs, no change; a refresh finds nothing to repair either.
    assert provider.diff(created.id, created.outs, props(nixos_layout)).changes is False
    read = provider.read(created.id, created.outs)
    assert read.outs is not None and read.outs["password_logs_in"] is True
    assert provider.diff(created.id, read.outs, props(nixos_layout)).changes is False


def test_a_password_changed_by_hand_is_seen_by_refresh_and_set_back(
    pg_server: PgServer, nixos_layout: Existing, props: Callable[..., dict[str, Any]]
) -> None:
    provider = AdoptionProvider()
    created = provider.create(props(nixos_layout))
    assert created.outs is not None
    with pg_server.admin_connect() as conn:
        conn.execute(sql.SQL("ALTER ROLE {} PASSWORD 'by-hand'").format(sql.Identifier(nixos_layout.role)))

    read = provider.read(created.id, created.outs)
    assert read.outs is not None and read.outs["password_logs_in"] is False
    diff = provider.diff(created.id, read.outs, props(nixos_layout))
    assert diff.changes is True and diff.replaces == []
    provider.update(created.id, read.outs, props(nixos_layout))

    assert _logs_in(pg_server, nixos_layout.role, NEW_PASSWORD, nixos_layout.database)
    assert _row_counts(pg_server, nixos_layout) == TABLES


def test_delete_drops_nothing(
    pg_server: PgServer, nixos_layout: Existing, props: Callable[..., dict[str, Any]]
) -> None:
    provider = AdoptionProvider()
    created = provider.create(props(nixos_layout))
    provider.delete(created.id, created.outs or {})
    assert _row_counts(pg_server, nixos_layout) == TABLES
    assert _logs_in(pg_server, nixos_layout.role, NEW_PASSWORD, nixos_layout.database)


def _fails_with_one_line(provider: AdoptionProvider, values: dict[str, Any]) -> str:
    with pytest.raises(AdoptionError) as caught:
        provider.create(values)
    message = str(caught.value)
    assert "\n" not in message
    assert NEW_PASSWORD not in message and str(values["admin_password"]) not in message
    return message


def test_a_superuser_role_is_refused_and_left_as_it_was(
    pg_server: PgServer, nixos_layout: Existing, props: Callable[..., dict[str, Any]]
) -> None:
    with pg_server.admin_connect() as conn:
        conn.execute(sql.SQL("ALTER ROLE {} SUPERUSER").format(sql.Identifier(nixos_layout.role)))

    message = _fails_with_one_line(AdoptionProvider(), props(nixos_layout))

    assert message == (
        f"egoengine:database.user: role '{nixos_layout.role}' on {pg_server.host}:{pg_server.port} "
        f"is a superuser, which Coder's role must not be; run ALTER ROLE {nixos_layout.role} "
        "NOSUPERUSER as an admin first, then adopt"
    )
    assert _logs_in(pg_server, nixos_layout.role, nixos_layout.password, nixos_layout.database)


def test_a_role_that_does_not_own_the_database_is_refused(
    pg_server: PgServer, nixos_layout: Existing, props: Callable[..., dict[str, Any]]
) -> None:
    other = f"{nixos_layout.role}_other"
    pg_server.create_role(other, secrets.token_urlsafe(12))
    try:
        message = _fails_with_one_line(AdoptionProvider(), props(nixos_layout, role=other))
    finally:
        pg_server.drop_role(other)

    assert message.startswith(
        f"egoengine:database.name: database '{nixos_layout.database}' on "
        f"{pg_server.host}:{pg_server.port} is owned by '{nixos_layout.role}', not by '{other}'"
    )
    assert f"ALTER DATABASE {nixos_layout.database} OWNER TO {other}" in message
    assert _logs_in(pg_server, nixos_layout.role, nixos_layout.password, nixos_layout.database)


@pytest.mark.parametrize("missing", ["role", "database"])
def test_a_missing_role_or_database_is_refused(
    nixos_layout: Existing, props: Callable[..., dict[str, Any]], missing: str
) -> None:
    message = _fails_with_one_line(AdoptionProvider(), props(nixos_layout, **{missing: "nosuch_x"}))
    assert "'nosuch_x' does not exist" in message
    assert "existing to create" in message


def test_a_wrong_admin_password_is_one_line_without_the_password(
    nixos_layout: Existing, props: Callable[..., dict[str, Any]]
) -> None:
    message = _fails_with_one_line(
        AdoptionProvider(), props(nixos_layout, admin_password="wrong-admin-pw-1234")
    )
    assert message.startswith("cannot connect to PostgreSQL at ")
    assert "secrets.databaseAdminPassword" in message


def test_adoption_through_the_sdks_provider_host_started_elsewhere(
    pg_server: PgServer, nixos_layout: Existing, props: Callable[..., dict[str, Any]], tmp_path: Any
) -> None:
    """The provider as the state holds it, unpickled and run by ``python -m pulumi.dynamic``."""
    from pulumi.dynamic.dynamic import serialize_provider
    from pulumi.runtime.proto import provider_pb2

    from tests.provider_host import as_dict, provider_host, struct

    urn = "urn:pulumi:vermissian::egoengine::pulumi-python:dynamic/database:Adoption::adopted"
    inputs = {"__provider": serialize_provider(AdoptionProvider()), **props(nixos_layout)}
    with provider_host(tmp_path) as host:
        created = host.Create(provider_pb2.CreateRequest(urn=urn, properties=struct(inputs)))
        read = host.Read(provider_pb2.ReadRequest(id=created.id, urn=urn, properties=created.properties))
        diff = host.Diff(provider_pb2.DiffRequest(id=created.id, urn=urn, olds=read.properties, news=struct(inputs)))

    assert created.id == f"{nixos_layout.role}@{nixos_layout.database}"
    assert as_dict(read.properties)["password_logs_in"] is True
    assert diff.changes == provider_pb2.DiffResponse.DIFF_NONE
    assert _row_counts(pg_server, nixos_layout) == TABLES
    assert _logs_in(pg_server, nixos_layout.role, NEW_PASSWORD, nixos_layout.database)


def test_a_refused_adoption_through_the_provider_host_ends_in_its_one_line(
    pg_server: PgServer, nixos_layout: Existing, props: Callable[..., dict[str, Any]], tmp_path: Any
) -> None:
    """What ``pulumi up`` shows: the host's error text (a short traceback) ends in the line."""
    import grpc
    from pulumi.dynamic.dynamic import serialize_provider
    from pulumi.runtime.proto import provider_pb2

    from tests.provider_host import provider_host, struct

    with pg_server.admin_connect() as conn:
        conn.execute(sql.SQL("ALTER ROLE {} SUPERUSER").format(sql.Identifier(nixos_layout.role)))
    urn = "urn:pulumi:vermissian::egoengine::pulumi-python:dynamic/database:Adoption::adopted"
    inputs = {"__provider": serialize_provider(AdoptionProvider()), **props(nixos_layout)}
    with provider_host(tmp_path) as host, pytest.raises(grpc.RpcError) as caught:
        host.Create(provider_pb2.CreateRequest(urn=urn, properties=struct(inputs)))

    details = caught.value.details()  # type: ignore[attr-defined]
    last = details.strip().splitlines()[-1]
    assert last.startswith("components.pg_adopt.AdoptionError: egoengine:database.user: role ")
    assert "is a superuser" in last
    assert NEW_PASSWORD not in details and pg_server.superuser_password not in details
