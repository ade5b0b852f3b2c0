"""``python -m tools.pg_backup``: a dump that restores to the same data, retention, and failures.

The tool runs as a subprocess exactly as an operator (or the Pulumi program) runs it, with the
connection only in libpq environment variables, as the ``coder`` role (not a superuser).
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
import pytest
from psycopg import sql

from tools.pg_backup import BACKUP_NAME, sanitise_label

if TYPE_CHECKING:
    from .conftest import Account, PgServer

REPO_ROOT = Path(__file__).resolve().parents[2]

# A few tables across two schemas, a standalone sequence used as a default, an identity column,
# a foreign key, jsonb/bytea/unicode values and an empty table.
SOURCE_SCHEMA = """
CREATE SEQUENCE ticket_number START 1000;
CREATE TABLE users (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL
);
CREATE TABLE workspaces (
    id serial PRIMARY KEY,
    owner_id bigint NOT NULL REFERENCES users (id),
    settings jsonb NOT NULL,
    blob bytea
);
CREATE TABLE tickets (number bigint PRIMARY KEY DEFAULT nextval('ticket_number'), title text NOT NULL);
CREATE TABLE audit_log (id int, entry text);
CREATE SCHEMA reports;
CREATE TABLE reports.daily (day date PRIMARY KEY, workspaces int NOT NULL);
INSERT INTO users (name, created_at)
    SELECT 'user ' || g || ' ü☃ ''q''', timestamptz '2024-01-01 00:00Z' + g * interval '1 hour'
    FROM generate_series(1, 50) g;
INSERT INTO workspaces (owner_id, settings, blob)
    SELECT 1 + g % 50, jsonb_build_object('n', g, 'quote', 'it''s "x"'), decode(md5(g::text), 'hex')
    FROM generate_series(1, 120) g;
INSERT INTO tickets (title) SELECT 'ticket ' || g FROM generate_series(1, 30) g;
INSERT INTO reports.daily SELECT date '2024-01-01' + g, g * 3 FROM generate_series(0, 9) g;
"""

Snapshot = dict[str, object]


def snapshot(conn: psycopg.Connection) -> Snapshot:
    """Every user table with its row count and full contents, and every sequence's position."""
    tables = conn.execute(
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema') "
        "ORDER BY 1, 2"
    ).fetchall()
    result: Snapshot = {}
    for schema, table in tables:
        rows = conn.execute(sql.SQL("SELECT t::text FROM {} t ORDER BY 1").format(
            sql.Identifier(schema, table))).fetchall()
        result[f"table {schema}.{table}"] = (len(rows), rows)
    for schema, sequence, last_value in conn.execute(
        "SELECT schemaname, sequencename, last_value FROM pg_sequences ORDER BY 1, 2"
    ).fetchall():
        result[f"sequence {schema}.{sequence}"] = last_value
    return result


def connect_as(server: PgServer, account: Account, database: str) -> psycopg.Connection:
    return psycopg.connect(host=server.host, port=server.port, user=account.user,
                           password=account.password, dbname=database, sslmode="disable")


@pytest.fixture(scope="module")
def source_account(pg_server: PgServer, coder_account: Account) -> Iterator[Account]:
    """A database owned by ``coder``, filled by ``coder``; dumping it is what the tool does in production."""
    account = replace(coder_account, database="backup_source")
    pg_server.create_database(account.database, account.user)
    with connect_as(pg_server, account, account.database) as conn:
        conn.execute(SOURCE_SCHEMA)
    yield account
    pg_server.drop_database(account.database)


def run_backup(args: list[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tools.pg_backup", *args], cwd=REPO_ROOT, env=dict(env),
                          capture_output=True, text=True, timeout=120, check=False)


def tool_env(server: PgServer, account: Account, *, now: str | None = None,
             password: str | None = None) -> dict[str, str]:
    env = server.libpq_env(account, password=password)
    env["PG_DUMP"] = str(server.bindir / "pg_dump")  # the same major version as the server
    if now is not None:
        env["PG_BACKUP_NOW"] = now
    return env


def backups_in(directory: Path) -> list[str]:
    return sorted(entry.name for entry in directory.iterdir() if entry.name.startswith("coder-"))


@pytest.mark.integration
def test_dump_restores_to_the_same_tables_rows_and_sequences(
    pg_server: PgServer, source_account: Account, tmp_path: Path
) -> None:
    backup_dir = tmp_path / "backups"  # absent: the tool creates it, private
    result = run_backup(["--dir", str(backup_dir), "--keep", "2", "--label", "sha256:0a1b2c3d"],
                        tool_env(pg_server, source_account, now="20261125T101500Z"))

    assert result.returncode == 0, result.stderr
    dump = Path(result.stdout.strip())
    assert dump == backup_dir / "coder-20261125T101500Z-sha256-0a1b2c3d.dump"
    assert stat.S_IMODE(backup_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(dump.stat().st_mode) == 0o600
    assert os.listdir(backup_dir) == [dump.name], "no temporary file may be left behind"

    restored = "backup_restored"
    pg_server.create_database(restored, source_account.user)
    try:
        restore = subprocess.run(
            [str(pg_server.bindir / "pg_restore"), "--no-owner", "--exit-on-error", "--no-password",
             f"--dbname={restored}", str(dump)],
            env=pg_server.libpq_env(source_account), capture_output=True, text=True, timeout=120,
            check=False)
        assert restore.returncode == 0, restore.stderr

        with connect_as(pg_server, source_account, source_account.database) as source_conn, \
                connect_as(pg_server, source_account, restored) as restored_conn:
            before, after = snapshot(source_conn), snapshot(restored_conn)
    finally:
        pg_server.drop_database(restored)

    assert sorted(after) == sorted(before)
    assert {name for name in before if name.startswith("table ")} == {
        "table public.users", "table public.workspaces", "table public.tickets", "table public.audit_log",
        "table reports.daily"}
    assert after == before


@pytest.mark.integration
def test_keeps_only_the_newest_n_and_nothing_else_is_touched(
    pg_server: PgServer, source_account: Account, tmp_path: Path
) -> None:
    backup_dir = tmp_path / "backups"
    backup_dir.mkdir()
    bystanders = {"notes.txt": "mine", "coder-manual.dump": "hand-made",
                  "postgres-20200101T000000Z.dump": "x"}
    for name, content in bystanders.items():
        (backup_dir / name).write_text(content)
    # Older by its name although newest by mtime: order comes from the timestamp in the name.
    (backup_dir / "coder-20200101T000000Z.dump").write_text("an old backup")
    env = tool_env(pg_server, source_account)
    del env["PG_DUMP"]  # exercise the PATH lookup too
    env["PATH"] = f"{pg_server.bindir}{os.pathsep}{env.get('PATH', '')}"

    printed = []
    for second, label in ((1, "first"), (2, "second"), (3, "third")):
        result = run_backup(["--dir", str(backup_dir), "--keep", "2", "--label", label],
                            {**env, "PG_BACKUP_NOW": f"20261125T10000{second}Z"})
        assert result.returncode == 0, result.stderr
        printed.append(result.stdout.strip())

    assert backups_in(backup_dir) == [
        "coder-20261125T100002Z-second.dump", "coder-20261125T100003Z-third.dump", "coder-manual.dump"]
    assert printed[1:] == [str(backup_dir / name) for name in backups_in(backup_dir)[:2]]
    for name, content in bystanders.items():
        assert (backup_dir / name).read_text() == content


@pytest.mark.integration
def test_failed_dump_leaves_no_file_prunes_nothing_and_hides_the_password(
    pg_server: PgServer, source_account: Account, tmp_path: Path
) -> None:
    backup_dir = tmp_path / "backups"
    backup_dir.mkdir()
    existing = ["coder-20261124T000000Z.dump", "coder-20261124T000001Z.dump"]
    for name in existing:
        (backup_dir / name).write_text("earlier backup")
    wrong_password = "not-the-password:/?#[]@ %41"

    result = run_backup(["--dir", str(backup_dir), "--keep", "1"],
                        tool_env(pg_server, source_account, password=wrong_password,
                                 now="20261125T120000Z"))

    assert result.returncode != 0
    assert result.stdout == ""
    assert 'password authentication failed for user "coder"' in result.stderr
    assert "Traceback" not in result.stderr
    assert wrong_password not in result.stderr
    assert sorted(os.listdir(backup_dir)) == existing, "no partial dump, and a failed run prunes nothing"


@pytest.mark.parametrize("keep", ["0", "-1", "two"])
def test_keep_below_one_is_rejected_before_anything_happens(tmp_path: Path, keep: str) -> None:
    backup_dir = tmp_path / "backups"

    result = run_backup(["--dir", str(backup_dir), "--keep", keep], {**os.environ, "PG_DUMP": "/bin/false"})

    assert result.returncode == 2
    assert "--keep" in result.stderr and "expected an integer >= 1" in result.stderr
    assert "Traceback" not in result.stderr
    assert not backup_dir.exists()


def test_missing_pg_dump_is_one_clear_error(tmp_path: Path) -> None:
    backup_dir = tmp_path / "backups"

    result = run_backup(["--dir", str(backup_dir), "--keep", "1"],
                        {**os.environ, "PG_DUMP": str(tmp_path / "no-such-pg_dump")})

    assert result.returncode == 1
    assert result.stderr.startswith("pg_backup: PG_DUMP:") and "Traceback" not in result.stderr
    assert not backup_dir.exists()


@pytest.mark.parametrize(
    ("label", "expected"),
    [("sha256:0a1b2c3d", "sha256-0a1b2c3d"), ("v2.18.1", "v2.18.1"), ("../../etc/passwd", "etc-passwd"),
     ("coder v2 (rc)", "coder-v2-rc"), ("ünï", "n"), ("x" * 100, "x" * 64)],
)
def test_label_is_sanitised_to_a_safe_file_name_part(label: str, expected: str) -> None:
    sanitised = sanitise_label(label)

    assert sanitised == expected
    assert BACKUP_NAME.match(f"coder-20261125T000000Z-{sanitised}.dump")


@pytest.mark.integration
def test_documented_restore_over_the_live_database_brings_the_data_back(
    pg_server: PgServer, coder_account: Account, tmp_path: Path
) -> None:
    """The operator procedure (notes/restore.md): pg_restore --clean --if-exists --no-owner --role=coder
    --single-transaction over the damaged database, as the coder role, connection from the environment."""
    account = replace(coder_account, database="backup_restore_over")
    pg_server.create_database(account.database, account.user)
    try:
        with connect_as(pg_server, account, account.database) as conn:
            conn.execute(SOURCE_SCHEMA)
            before = snapshot(conn)
        result = run_backup(["--dir", str(tmp_path), "--keep", "1"], tool_env(pg_server, account))
        assert result.returncode == 0, result.stderr
        with connect_as(pg_server, account, account.database) as conn:  # the damage to undo
            conn.execute("DELETE FROM workspaces WHERE id % 2 = 0")
            conn.execute("UPDATE users SET name = name || ' changed'")
            conn.execute("DROP TABLE reports.daily")
            conn.execute("INSERT INTO tickets (title) VALUES ('after the backup')")

        restore = subprocess.run(
            [str(pg_server.bindir / "pg_restore"), "--clean", "--if-exists", "--no-owner", "--role=coder",
             "--single-transaction", "--exit-on-error", "--no-password", f"--dbname={account.database}",
             result.stdout.strip()],
            env=pg_server.libpq_env(account), capture_output=True, text=True, timeout=120, check=False)
        assert restore.returncode == 0, restore.stderr

        with connect_as(pg_server, account, account.database) as conn:
            assert snapshot(conn) == before
    finally:
        pg_server.drop_database(account.database)


@pytest.mark.integration
def test_the_command_the_program_registers_takes_a_dump(
    pg_server, coder_account, tmp_path: Path, no_ambient_libpq
) -> None:
    """Run exactly the backup command and environment the dev stack registers (its connection
    values pointed at the test cluster): the defaults must work as they are."""
    import shlex

    from tests.unit.conftest import run_stack
    from tools.mock_engine import unwrap

    registered = unwrap(run_stack("dev").one("command:local:Command", "pg-dump").inputs)
    argv = shlex.split(registered["create"])
    assert argv[:3] == [".venv/bin/python", "-m", "tools.pg_backup"]
    argv[0] = sys.executable  # the project's interpreter, wherever this venv lives
    argv[argv.index("--dir") + 1] = str(tmp_path / "backups")
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    env.update(registered["environment"])  # PG_DUMP=pg_dump and PGSSLMODE as registered
    env.update(pg_server.libpq_env(coder_account))  # where the test cluster is
    env["PATH"] = f"{pg_server.bindir}{os.pathsep}{env.get('PATH', '')}"
    env["PG_DUMP"] = registered["environment"]["PG_DUMP"]
    result = subprocess.run(argv, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    dump = Path(result.stdout.strip())
    assert dump.parent == tmp_path / "backups" and dump.name.endswith("-before-v2.25.1-e1f18785.dump")
