"""``python -m tools.preflight`` as an operator runs it, against a real PostgreSQL, the fake Coder
and a stand-in engine socket (a unix socket answering ``GET /_ping``)."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from psycopg import sql

from tests.coder.fake_coder import FakeCoder
from tests.postgres.conftest import SUPERUSER, PgServer

pytestmark = pytest.mark.integration
REPO_ROOT = Path(__file__).resolve().parents[2]


class _UnixHTTPServer(HTTPServer):
    address_family = socket.AF_UNIX

    def server_bind(self) -> None:
        self.socket.bind(self.server_address)  # type: ignore[arg-type]
        self.server_name, self.server_port = "engine", 0


class _Ping(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        body = b"OK" if self.path == "/_ping" else b"not found"
        self.send_response(200 if self.path == "/_ping" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@pytest.fixture
def engine_socket() -> Iterator[Path]:
    # Short path: unix socket paths are limited to 108 bytes.
    path = Path("/tmp") / f"preflight-{secrets.token_hex(4)}.sock"
    server = _UnixHTTPServer(str(path), _Ping)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield path
    server.shutdown()
    server.server_close()
    path.unlink(missing_ok=True)


@pytest.fixture
def old_coder() -> Iterator[FakeCoder]:
    fake = FakeCoder(version="v2.26.6+ab12cd3")
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def names(pg_server: PgServer) -> Iterator[str]:
    name = f"coder_{secrets.token_hex(4)}"
    yield name
    pg_server.drop_database(name)
    pg_server.drop_role(name)


@pytest.fixture
def stack_file(
    tmp_path: Path, pg_server: PgServer, engine_socket: Path, names: str
) -> Callable[..., Path]:
    def write(*, port: int, existing: str = "create", backups: Path | None = None, engine: Path | None = None) -> Path:
        config = {
            "egoengine:engine": {"host": f"unix://{engine or engine_socket}", "socketGid": 0},
            "egoengine:coder": {
                "version": "v2.25.1", "digest": "sha256:" + "e" * 64,
                "accessUrl": "https://coder.example.com", "port": port, "bindAddress": "127.0.0.1",
                "network": "host",
            },
            "egoengine:database": {
                "mode": "external", "host": pg_server.host, "port": pg_server.port,
                "adminUser": SUPERUSER, "name": names, "user": names, "existing": existing,
            },
            "egoengine:secrets": {"databaseAdminPassword": "config:pgAdmin"},
            "egoengine:backup": {"directory": str(backups or tmp_path / "backups")},
            "egoengine:images": {"base": {"tag": "22bba72"}},
        }
        path = tmp_path / "Pulumi.host.yaml"
        path.write_text(yaml.safe_dump({"config": config}))
        return path

    return write


def preflight(stack_file: Path, password: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    if password is not None:
        env["PGPASSWORD"] = password
    return subprocess.run(
        [sys.executable, "-m", "tools.preflight", "host", "--stack-file", str(stack_file)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120,
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _nixos_layout(pg: PgServer, name: str, *, superuser: bool = False) -> None:
    pg.create_role(name, secrets.token_urlsafe(16))
    pg.create_database(name, name)
    with pg.admin_connect(name) as conn:
        conn.execute("CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL)")
        conn.execute("INSERT INTO schema_migrations VALUES (280, false)")
        if superuser:
            conn.execute(sql.SQL("ALTER ROLE {} SUPERUSER").format(sql.Identifier(name)))


def test_a_fresh_host_is_ready(pg_server: PgServer, stack_file: Callable[..., Path]) -> None:
    result = preflight(stack_file(port=_free_port()), pg_server.superuser_password)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert all(line.startswith("ok ") for line in lines[:-1]), lines
    assert any(line.startswith("ok   database:") and "up creates them" in line for line in lines)
    assert any(line.startswith("ok   engine:") for line in lines)
    assert lines[-1] == "ready for pulumi up"


def test_the_nixos_host_says_adopt_stop_the_old_coder_and_keep_its_version(
    pg_server: PgServer, stack_file: Callable[..., Path], old_coder: FakeCoder, names: str
) -> None:
    _nixos_layout(pg_server, names)
    port = int(old_coder.url.rsplit(":", 1)[1])

    result = preflight(stack_file(port=port), pg_server.superuser_password)

    assert result.returncode == 1
    out = result.stdout
    assert "FAIL database:" in out and "set egoengine:database.existing to adopt" in out
    assert "ok   coder schema: present, migration version 280" in out
    assert f"FAIL coder: a Coder v2.26.6 already answers at {old_coder.url}; fix: stop the old service" in out
    assert "FAIL coder version: egoengine:coder.version v2.25.1 is older than the running v2.26.6" in out
    assert "ok   coder admin: a first user exists" not in out  # the fake has none yet
    old_coder.add_first_user(email="josh@example.com", username="josh", password="pw-1234567")
    with_user = preflight(stack_file(port=port), pg_server.superuser_password).stdout
    assert "ok   coder admin: a first user exists: the stack adopts it" in with_user
    assert pg_server.superuser_password not in out + result.stderr
    assert old_coder.writes == [] and old_coder.logins == 0  # read-only

    adopting = preflight(stack_file(port=port, existing="adopt"), pg_server.superuser_password)
    assert "ok   database: role" in adopting.stdout and "adopt takes them over" in adopting.stdout


def test_adopting_a_superuser_role_fails_with_its_fix(
    pg_server: PgServer, stack_file: Callable[..., Path], names: str
) -> None:
    _nixos_layout(pg_server, names, superuser=True)
    result = preflight(stack_file(port=_free_port(), existing="adopt"), pg_server.superuser_password)
    assert result.returncode == 1
    assert f"FAIL database: cannot adopt: egoengine:database.user: role '{names}'" in result.stdout
    assert "is a superuser" in result.stdout and "NOSUPERUSER" in result.stdout


def test_a_missing_socket_an_unwritable_backup_dir_and_no_password(
    tmp_path: Path, stack_file: Callable[..., Path]
) -> None:
    not_a_dir = tmp_path / "a-file"
    not_a_dir.write_text("")
    result = preflight(
        stack_file(port=_free_port(), backups=not_a_dir / "backups", engine=tmp_path / "none.sock"),
        password=None,
    )
    assert result.returncode == 1
    out = result.stdout
    assert "warn postgres: skipped: set PGPASSWORD" in out
    assert f"FAIL engine: {tmp_path / 'none.sock'}: No such file or directory" in out
    assert f"FAIL backup: {not_a_dir / 'backups'} is not writable" in out


def test_an_unknown_stack_is_one_line_exit_2() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tools.preflight", "nosuchstack"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("preflight: config stack: 'nosuchstack' has no stack file")
