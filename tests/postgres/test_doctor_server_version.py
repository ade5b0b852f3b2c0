"""`make doctor` asks the real PostgreSQL server its major version and compares pg_dump's with it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.setup.doctor_sandbox import Machine, machine  # noqa: F401 - the fixture

if TYPE_CHECKING:
    from .conftest import PgServer

pytestmark = pytest.mark.integration


def pg_dump_line(machine: Machine, capsys: pytest.CaptureFixture[str]) -> str:
    _, lines, err = machine.run(capsys)
    assert err == ""
    return next(line for line in lines if line.split()[1] == "pg_dump:")


def external_stack(machine: Machine, pg_server: PgServer) -> None:
    machine.stack(database={"mode": "external", "host": pg_server.host, "port": pg_server.port,
                            "adminUser": "postgres", "sslmode": "disable"},
                  secrets={"databaseAdminPassword": "config:databaseAdminPassword"}, images={"base": {"tag": "22bba72"}})


def test_pg_dump_is_compared_with_the_servers_own_major(
    machine: Machine, pg_server: PgServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with pg_server.admin_connect() as connection:
        major = connection.info.server_version // 10000
    external_stack(machine, pg_server)
    monkeypatch.setenv("PGPASSWORD", pg_server.superuser_password)
    machine.tool("pg_dump", f"pg_dump (PostgreSQL) {major}.3")
    assert pg_dump_line(machine, capsys) == (
        f"ok   pg_dump: {major}.3 >= the server's {major} (asked postgres@{pg_server.host}:{pg_server.port})")
    machine.tool("pg_dump", f"pg_dump (PostgreSQL) {major - 1}.9")
    line = pg_dump_line(machine, capsys)
    assert line.startswith(f"FAIL pg_dump: {major - 1}.9 is older than the server's {major}")
    assert pg_server.superuser_password not in line


def test_without_the_password_it_says_how_to_let_it_ask(
    machine: Machine, pg_server: PgServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    external_stack(machine, pg_server)
    monkeypatch.setenv("PGPASSFILE", "/dev/null")
    machine.tool("pg_dump", "pg_dump (PostgreSQL) 15.3")
    line = pg_dump_line(machine, capsys)
    assert line.startswith("warn pg_dump: 15.3; cannot ask the server its version (postgres@")
    assert line.endswith("fix: give libpq the admin's password (PGPASSWORD or ~/.pgpass) and rerun")
