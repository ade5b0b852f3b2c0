"""``components.database.connection_url`` against libpq's own parser and a real PostgreSQL server.

The URL is the only thing handed to ``psycopg.connect`` (no PG* variable, no password file), so a
successful, password-authenticated login proves every part was encoded so libpq decodes it back.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from components.database import connection_url

if TYPE_CHECKING:
    from .conftest import Account, PgServer

# Awkward names and passwords a hand-written URL breaks on: percent escapes that look valid
# ('%41' is 'A'), invalid ones, unicode, separators, quotes, backslashes, edge spaces.
AWKWARD_CASES: list[tuple[str, str, str]] = [
    ("percent%41user", "%41%2F%25%", "db%41"),
    ("ünïcødé-user", "pässwörd ☃ 密码", "база данных"),
    ("we:ird@user/?#", ":@/?#[]", "db/with?chars#frag"),
    ("Mixed Case.User", "  leading and trailing  ", "Mixed.Case-DB"),
    ("emoji🚀", "🚀\\'\"%zz%", "db🚀&x=y"),
    ("plus+and=amp&", "a+b=c&d;e,f", "semi;colon"),
]

# Printable ASCII, tab and newline, and multi-byte characters (two, three and four UTF-8 bytes).
GENERATED_ALPHABET = [chr(c) for c in range(0x20, 0x7F)] + list("\t\näßé€ЖЯ中文☃😀🚀")


def generated_text(rng: random.Random, min_length: int, max_length: int) -> str:
    return "".join(rng.choice(GENERATED_ALPHABET) for _ in range(rng.randint(min_length, max_length)))


def generated_cases(seed: int, count: int) -> list[tuple[str, str, str]]:
    """Deterministic random (user, password, database) triples. Names stay under PostgreSQL's
    63-byte identifier limit (longer ones are silently truncated) and never start with the
    reserved ``pg_`` prefix."""
    rng = random.Random(seed)
    return [
        ("u" + generated_text(rng, 1, 12), generated_text(rng, 1, 40), "d" + generated_text(rng, 1, 12))
        for _ in range(count)
    ]


def url_for(server: PgServer, account: Account, password: str | None = None) -> str:
    return connection_url(user=account.user, password=account.password if password is None else password,
                          host=server.host, port=server.port, database=account.database, sslmode="disable")


def test_libpq_parses_back_every_part() -> None:
    """Property: libpq's URI parser recovers exactly the parts the URL was built from, for
    hand-picked awkward values and 300 generated ones, over IPv4, IPv6 and DNS hosts."""
    cases = AWKWARD_CASES + generated_cases(seed=20261125, count=300)
    hosts = ["127.0.0.1", "db.internal.example", "::1", "2001:db8::5", "localhost"]
    mismatches = []
    for index, (user, password, database) in enumerate(cases):
        host = hosts[index % len(hosts)]
        expected = {"user": user, "password": password, "host": host, "port": "5433",
                    "dbname": database, "sslmode": "verify-full"}
        url = connection_url(user=user, password=password, host=host, port=5433, database=database,
                             sslmode="verify-full")
        parsed = conninfo_to_dict(url)
        if parsed != expected:
            mismatches.append((expected, parsed))

    assert mismatches == []


@pytest.mark.integration
def test_coder_role_logs_in_with_only_the_built_url(
    pg_server: PgServer, coder_account: Account, no_ambient_libpq: None
) -> None:
    url = url_for(pg_server, coder_account)

    with psycopg.connect(url) as conn:
        who = conn.execute("SELECT current_user, current_database(), inet_server_port()").fetchone()
        assert who == ("coder", "coder", pg_server.port)
        assert conn.info.pgconn.used_password, "the login must have been password-authenticated"
        assert not conn.info.pgconn.ssl_in_use, "sslmode=disable from the URL must be honoured"
        # The role can do what Coder needs in its own database: create a table and write to it.
        conn.execute("CREATE TABLE url_login_check (id int PRIMARY KEY, note text)")
        conn.execute("INSERT INTO url_login_check VALUES (%s, %s)", (1, coder_account.password))
        assert conn.execute("SELECT note FROM url_login_check").fetchall() == [(coder_account.password,)]
        conn.rollback()  # leave the shared database as it was


@pytest.mark.integration
def test_coder_role_is_not_superuser(
    pg_server: PgServer, coder_account: Account, no_ambient_libpq: None
) -> None:
    with psycopg.connect(url_for(pg_server, coder_account)) as conn:
        row = conn.execute("SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles "
                           "WHERE rolname = current_user").fetchone()
    assert row == (False, False, False)


@pytest.mark.integration
def test_wrong_password_is_refused(
    pg_server: PgServer, coder_account: Account, no_ambient_libpq: None
) -> None:
    """The server really checks the password, so the login test above proves the URL carried it."""
    wrong = coder_account.password + "x"

    with pytest.raises(psycopg.OperationalError) as refused:
        psycopg.connect(url_for(pg_server, coder_account, password=wrong))

    message = str(refused.value)
    assert 'password authentication failed for user "coder"' in message
    assert wrong not in message


@pytest.mark.integration
@pytest.mark.parametrize(
    ("user", "password", "database"),
    AWKWARD_CASES + generated_cases(seed=7, count=4),
    ids=[f"awkward-{i}" for i in range(len(AWKWARD_CASES))] + [f"generated-{i}" for i in range(4)],
)
def test_awkward_accounts_log_in_with_the_built_url(
    pg_server: PgServer, no_ambient_libpq: None, user: str, password: str, database: str
) -> None:
    """Property: any role/password/database PostgreSQL accepts is reachable through the URL."""
    pg_server.create_role(user, password)
    try:
        pg_server.create_database(database, user)
        url = connection_url(user=user, password=password, host=pg_server.host, port=pg_server.port,
                             database=database, sslmode="disable")
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT current_user, current_database()").fetchone() == (user, database)
            assert conn.info.pgconn.used_password
    finally:
        pg_server.drop_database(database)
        pg_server.drop_role(user)
