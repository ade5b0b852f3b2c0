"""Take over an existing ``coder`` role and database (``egoengine:database.existing: adopt``).

The Coder NixOS module leaves a login role owning Coder's database, full of data. The
postgresql provider's ``Role`` and ``Database`` cannot take them over: their create runs
``CREATE ROLE`` / ``CREATE DATABASE`` and fails "already exists"
(cyrilgdn/terraform-provider-postgresql, ``resource_postgresql_role.go`` /
``resource_postgresql_database.go``), and Pulumi's ``import_`` demands that the declared inputs
match what the provider reads back, which for the role cannot hold: it reads back the stored
SCRAM verifier (``readRolePassword``, from ``pg_shadow``) or nothing, never the plain password, so
the stack's password shows as a difference and the import fails (and with ``ignore_changes`` the
password would never be set). So adoption is this module's job:

- **check**, read-only: the role exists, is not a superuser, and owns the database;
- **adopt**: ``ALTER ROLE ... LOGIN PASSWORD`` with the stack's password, sent as a SCRAM
  verifier computed on this machine (libpq's ``PQencryptPasswordConn``), so the plain password
  never reaches the server's statement log. Nothing else is changed: no row, no owner, no grant.
- **verify**: does the role log in to the database with a given password?

psycopg is imported inside the functions, and the program imports this module only where the
provider runs: preview contacts no database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg

CONNECT_TIMEOUT_SECONDS = 15


class AdoptionError(Exception):
    """The existing role or database cannot be adopted; the message is one line with the fix."""


@dataclass(frozen=True)
class Server:
    """Where PostgreSQL is, and the admin connection (a role that may ALTER ROLE)."""

    host: str
    port: int
    admin_user: str
    admin_password: str = field(repr=False)
    admin_database: str
    sslmode: str

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Existing:
    """What the server has now for the role and database."""

    role_exists: bool
    role_is_superuser: bool
    database_exists: bool
    owner: str | None


def _connect(
    server: Server, *, user: str, password: str, dbname: str
) -> psycopg.Connection[Any]:
    import psycopg

    return psycopg.connect(
        host=server.host,
        port=server.port,
        user=user,
        password=password,
        dbname=dbname,
        sslmode=server.sslmode,
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        autocommit=True,
        # Only what we pass: no ambient PGPASSFILE, service file or PGOPTIONS.
        passfile="/dev/null",
        options="",
    )


def _admin(server: Server) -> psycopg.Connection[Any]:
    import psycopg

    try:
        return _connect(
            server,
            user=server.admin_user,
            password=server.admin_password,
            dbname=server.admin_database,
        )
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise AdoptionError(
            f"cannot connect to PostgreSQL at {server.where} as {server.admin_user!r} "
            f"(database {server.admin_database!r}): {reason}; check egoengine:database's "
            "host, port, adminUser and the admin password (secrets.databaseAdminPassword)"
        ) from None


def inspect(server: Server, *, role: str, database: str) -> Existing:
    """Read-only: what exists of ``role`` and ``database``."""
    with _admin(server) as conn:
        found = conn.execute(
            "SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = %s", (role,)
        ).fetchone()
        owned = conn.execute(
            "SELECT pg_catalog.pg_get_userbyid(datdba) FROM pg_catalog.pg_database "
            "WHERE datname = %s",
            (database,),
        ).fetchone()
    return Existing(
        role_exists=found is not None,
        role_is_superuser=bool(found and found[0]),
        database_exists=owned is not None,
        owner=str(owned[0]) if owned else None,
    )


def check(server: Server, *, role: str, database: str) -> Existing:
    """Raise :class:`AdoptionError` unless ``role`` and ``database`` can be adopted."""
    existing = inspect(server, role=role, database=database)
    key = "egoengine:database"
    if not existing.role_exists:
        raise AdoptionError(
            f"{key}.user: role {role!r} does not exist on {server.where}; adopt takes over an "
            f"existing role: create it, or set {key}.existing to create"
        )
    if existing.role_is_superuser:
        raise AdoptionError(
            f"{key}.user: role {role!r} on {server.where} is a superuser, which Coder's role must "
            f"not be; run ALTER ROLE {role} NOSUPERUSER as an admin first, then adopt"
        )
    if not existing.database_exists:
        raise AdoptionError(
            f"{key}.name: database {database!r} does not exist on {server.where}; adopt takes "
            f"over an existing database: create it, or set {key}.existing to create"
        )
    if existing.owner != role:
        raise AdoptionError(
            f"{key}.name: database {database!r} on {server.where} is owned by "
            f"{existing.owner!r}, not by {role!r}; adopt keeps ownership as it is: run ALTER "
            f"DATABASE {database} OWNER TO {role} as an admin first, or set {key}.user to "
            f"{existing.owner!r}"
        )
    return existing


def adopt(server: Server, *, role: str, database: str, password: str) -> Existing:
    """Check, then give ``role`` the stack's ``password`` (and LOGIN). Idempotent."""
    from psycopg import sql

    existing = check(server, role=role, database=database)
    with _admin(server) as conn:
        # A SCRAM verifier for this role, made by libpq here, with the server's iteration count.
        verifier = conn.pgconn.encrypt_password(
            password.encode(), role.encode(), b"scram-sha-256"
        ).decode()
        conn.execute(
            sql.SQL("ALTER ROLE {} WITH LOGIN PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(verifier)
            )
        )
    return existing


def schema_migration(server: Server) -> tuple[int, bool] | None:
    """Coder's schema version in ``server.admin_database``: golang-migrate's
    ``schema_migrations`` row (version, dirty), or None when there is no such table."""
    with _admin(server) as conn:
        if conn.execute("SELECT to_regclass('public.schema_migrations')").fetchone() == (None,):
            return None
        row = conn.execute("SELECT version, dirty FROM public.schema_migrations").fetchone()
    return (int(row[0]), bool(row[1])) if row else None


def logs_in(server: Server, *, role: str, database: str, password: str) -> bool:
    """Whether ``role`` logs in to ``database`` with ``password``."""
    import psycopg

    try:
        with _connect(server, user=role, password=password, dbname=database) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError:
        return False
    return True


__all__ = [
    "AdoptionError", "Existing", "Server", "adopt", "check", "inspect", "logs_in", "schema_migration",
]
