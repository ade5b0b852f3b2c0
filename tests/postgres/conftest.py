"""A throwaway PostgreSQL 15 cluster for the tests in this directory.

PostgreSQL refuses to run as root, so when the tests run as root the cluster is initialised and run
as the ``postgres`` user through ``runuser`` (as another user it simply runs as that user). The
cluster lives in a temp dir the session owns, listens on 127.0.0.1 on a free port, and every
connection needs a password (scram-sha-256), so authentication is really exercised. It is stopped
with ``pg_ctl stop -m fast`` and, failing that, by signalling the postmaster PID it started.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

def _installed_bindir() -> Path:
    """Debian's server binaries: /usr/lib/postgresql/<major>/bin, the newest installed."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    return found[-1].parent if found else Path("/usr/lib/postgresql/15/bin")


PG_BINDIR = Path(os.environ.get("PG_BINDIR") or _installed_bindir())
SERVICE_USER = "postgres"  # the OS account the server runs as when the tests run as root
SUPERUSER = "postgres"  # the database superuser initdb creates
HOST = "127.0.0.1"
START_TIMEOUT_SECONDS = 60

# Every URL-reserved character (RFC 3986 gen-delims and sub-delims), a percent sign (also as a
# valid-looking escape), a space, both quotes and a backslash: what a hand-written URL gets wrong.
CODER_PASSWORD = ":/?#[]@!$&'()*+,;=% \"'\\%41"


@dataclass(frozen=True)
class Account:
    user: str
    password: str
    database: str


@dataclass(frozen=True)
class PgServer:
    """How to reach the running test cluster, plus the superuser chores the tests need."""

    host: str
    port: int
    superuser_password: str = field(repr=False)
    bindir: Path

    def admin_connect(self, dbname: str = "postgres") -> psycopg.Connection:
        return psycopg.connect(host=self.host, port=self.port, user=SUPERUSER,
                               password=self.superuser_password, dbname=dbname,
                               sslmode="disable", autocommit=True)

    def create_role(self, name: str, password: str) -> None:
        # ALTER/CREATE ROLE ... PASSWORD takes a literal, not a bind parameter: quote it properly.
        with self.admin_connect() as conn:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {}")
                         .format(sql.Identifier(name), sql.Literal(password)))

    def create_database(self, name: str, owner: str) -> None:
        with self.admin_connect() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}")
                         .format(sql.Identifier(name), sql.Identifier(owner)))

    def drop_database(self, name: str) -> None:
        with self.admin_connect() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def drop_role(self, name: str) -> None:
        with self.admin_connect() as conn:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))

    def libpq_env(self, account: Account, password: str | None = None) -> dict[str, str]:
        """The process environment minus any ambient PG* setting, plus libpq variables for ``account``."""
        env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
        env.update(PGHOST=self.host, PGPORT=str(self.port), PGUSER=account.user,
                   PGPASSWORD=account.password if password is None else password,
                   PGDATABASE=account.database, PGSSLMODE="disable",
                   PGPASSFILE=os.devnull, PGCONNECT_TIMEOUT="10")
        return env


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


class Cluster:
    """initdb + pg_ctl in ``base``; knows the postmaster PID it started so it can always stop it."""

    def __init__(self, base: Path, port: int, superuser_password: str) -> None:
        self.base = base
        self.data = base / "data"
        self.log = base / "server.log"
        self.port = port
        self.superuser_password = superuser_password
        self.postmaster_pid: int | None = None
        self.as_root = os.geteuid() == 0

    def run(self, *command: str | Path) -> subprocess.CompletedProcess[str]:
        prefix = ["runuser", "-u", SERVICE_USER, "--"] if self.as_root else []
        return subprocess.run([*prefix, *map(str, command)], capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=START_TIMEOUT_SECONDS + 30, check=False)

    def give_to_service_user(self, path: Path) -> None:
        if self.as_root:
            account = pwd.getpwnam(SERVICE_USER)
            os.chown(path, account.pw_uid, account.pw_gid)

    def log_tail(self) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])
        except OSError:
            return "(no server log)"

    def fail(self, step: str, result: subprocess.CompletedProcess[str]) -> None:
        pytest.fail(
            f"PostgreSQL test cluster could not start: {step} exited {result.returncode}\n"
            f"stdout: {result.stdout.strip()}\nstderr: {result.stderr.strip()}\n"
            f"server log (last lines):\n{self.log_tail()}",
            pytrace=False,
        )

    def initdb(self) -> None:
        password_file = self.base / "superuser-password"
        password_file.write_text(self.superuser_password + "\n")
        password_file.chmod(0o600)
        self.give_to_service_user(password_file)
        try:
            result = self.run(PG_BINDIR / "initdb", "-D", self.data, "-U", SUPERUSER,
                              "-A", "scram-sha-256", f"--pwfile={password_file}",
                              "--encoding=UTF8", "--no-locale", "--no-sync")
        finally:
            password_file.unlink()
        if result.returncode != 0:
            self.fail("initdb", result)
        # Only what the tests use, all with a password: the unix socket and TCP on 127.0.0.1.
        (self.data / "pg_hba.conf").write_text(
            "local all all scram-sha-256\n"
            "host  all all 127.0.0.1/32 scram-sha-256\n"
        )

    def start(self) -> None:
        # Durability is irrelevant for a throwaway cluster; turning it off keeps the suite fast.
        options = (f"-p {self.port} -k {self.base} -c listen_addresses={HOST} "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
        result = self.run(PG_BINDIR / "pg_ctl", "-D", self.data, "-l", self.log, "-o", options,
                          "-w", "-t", str(START_TIMEOUT_SECONDS), "start")
        self.postmaster_pid = self.read_postmaster_pid()
        if result.returncode != 0:
            self.fail("pg_ctl start", result)
        if self.postmaster_pid is None:
            pytest.fail(f"PostgreSQL test cluster started but wrote no postmaster.pid\n{self.log_tail()}",
                        pytrace=False)

    def read_postmaster_pid(self) -> int | None:
        try:
            first_line = (self.data / "postmaster.pid").read_text().splitlines()[0]
            return int(first_line)
        except (OSError, IndexError, ValueError):
            return None

    def postmaster_alive(self) -> bool:
        if self.postmaster_pid is None:
            return False
        try:
            os.kill(self.postmaster_pid, 0)
        except ProcessLookupError:
            return False
        return True

    def stop(self) -> None:
        if self.postmaster_pid is None:
            self.postmaster_pid = self.read_postmaster_pid()
        if not self.postmaster_alive():
            return
        self.run(PG_BINDIR / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "-t", "30", "stop")
        # Fallback: the PID we started, immediate shutdown then kill; never anything found by name.
        for sig in (signal.SIGQUIT, signal.SIGKILL):
            if not self.postmaster_alive():
                return
            assert self.postmaster_pid is not None
            os.kill(self.postmaster_pid, sig)
            deadline = time.monotonic() + 10
            while self.postmaster_alive() and time.monotonic() < deadline:
                time.sleep(0.1)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A running PostgreSQL 15 cluster on 127.0.0.1 requiring passwords; FAILS if it cannot start."""
    if not (PG_BINDIR / "initdb").exists():
        pytest.fail(f"PostgreSQL 15 server binaries not found in {PG_BINDIR}; install the "
                    "`postgresql` package (or set PG_BINDIR)", pytrace=False)
    if os.geteuid() == 0 and (shutil.which("runuser") is None or not _user_exists(SERVICE_USER)):
        pytest.fail(f"running as root needs `runuser` and an OS user {SERVICE_USER!r} to run "
                    "PostgreSQL (it refuses to run as root)", pytrace=False)
    # Directly under the system temp dir: pytest's own tmp dirs are 0700 root, which the postgres
    # user could not enter; and the unix socket path must stay short.
    base = Path(tempfile.mkdtemp(prefix="pgtest-"))
    cluster = Cluster(base, free_loopback_port(), secrets.token_urlsafe(24))
    try:
        cluster.give_to_service_user(base)
        cluster.initdb()
        cluster.start()
        yield PgServer(host=HOST, port=cluster.port, superuser_password=cluster.superuser_password,
                       bindir=PG_BINDIR)
    finally:
        cluster.stop()
        shutil.rmtree(base, ignore_errors=True)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


@pytest.fixture(scope="session")
def coder_account(pg_server: PgServer) -> Account:
    """The ``coder`` login role (not superuser) with an awkward password, owning database ``coder``."""
    account = Account(user="coder", password=CODER_PASSWORD, database="coder")
    pg_server.create_role(account.user, account.password)
    pg_server.create_database(account.database, account.user)
    return account


@pytest.fixture
def no_ambient_libpq(monkeypatch: pytest.MonkeyPatch) -> None:
    """Remove every PG* variable and the password file, so a connection gets only what it is given."""
    for key in list(os.environ):
        if key.startswith("PG"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("PGPASSFILE", os.devnull)
