"""Read-only preflight of a live host: what ``pulumi up -s STACK`` will meet there.

    PGPASSWORD=<admin password> python -m tools.preflight STACK [--stack-file FILE]

One line per finding, ``ok``, ``warn`` or ``FAIL``, each problem with its fix:

- PostgreSQL reachable with the stack's admin connection (the password from ``PGPASSWORD``,
  never on the command line; without it the database checks are skipped);
- the role and database: already there means ``egoengine:database.existing: adopt`` is needed,
  and adopting needs a non-superuser role that owns the database;
- Coder's schema in that database (``schema_migrations``), with its migration version;
- a Coder already answering on the configured port (the old service must be stopped first),
  with its version from ``/api/v2/buildinfo``, compared with ``egoengine:coder.version``, and
  whether it has a first user (whose credentials the stack must then carry);
- the engine socket: there, a socket, writable, and answering ``/_ping``;
- the backup directory writable.

Nothing is changed: no write, no login. Exit status 0 when nothing failed, 1 when something
did, 2 for a bad stack name or configuration (one line on stderr).
"""

from __future__ import annotations

import argparse
import http.client
import os
import socket
import stat
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from components import pg_adopt
from components.coder_server import internal_url
from components.errors import ConfigError
from components.project_root import PROJECT_ROOT, project_path
from components.settings import ContainerDatabase, Settings, parse_settings
from tools.downgrade_guard import Version, running_version

NAMESPACE = "egoengine"


@dataclass(frozen=True)
class Finding:
    level: str  # "ok", "warn" or "FAIL"
    area: str
    text: str

    def line(self) -> str:
        return f"{self.level:<4} {self.area}: {self.text}"


def load_settings(stack: str, stack_file: Path | None) -> Settings:
    path = stack_file or PROJECT_ROOT / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        raise ConfigError("stack", f"{stack!r} has no stack file {path}", "an existing stack (dev, vermissian)")
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError:
        raise ConfigError(str(path), "is not valid YAML", "a Pulumi stack file") from None
    values = {
        key.split(":", 1)[1]: value
        for key, value in (document.get("config") or {}).items()
        if key.startswith(f"{NAMESPACE}:")
    }
    return parse_settings(stack, values)


def admin_server(settings: Settings, password: str) -> pg_adopt.Server:
    database = settings.database
    if isinstance(database, ContainerDatabase):
        return pg_adopt.Server("127.0.0.1", database.host_port, "postgres", password, "postgres", "disable")
    return pg_adopt.Server(
        database.host, database.port, database.admin_user, password, database.admin_database, database.sslmode
    )


def database_findings(settings: Settings, env: Mapping[str, str]) -> Iterator[Finding]:
    password = env.get("PGPASSWORD")
    if not password:
        yield Finding("warn", "postgres", "skipped: set PGPASSWORD to the admin password to check the database")
        return
    server = admin_server(settings, password)
    role, name, mode = settings.database.user, settings.database.name, settings.database.existing
    try:
        existing = pg_adopt.inspect(server, role=role, database=name)
    except pg_adopt.AdoptionError as exc:
        yield Finding("FAIL", "postgres", str(exc))
        return
    yield Finding("ok", "postgres", f"{server.where} answers as {server.admin_user!r}")
    yield from _existing_findings(server, existing, role=role, name=name, mode=mode)
    if existing.database_exists:
        yield _schema_finding(server, name)


def _existing_findings(
    server: pg_adopt.Server, existing: pg_adopt.Existing, *, role: str, name: str, mode: str
) -> Iterator[Finding]:
    there = existing.role_exists or existing.database_exists
    if mode == "create" and there:
        yield Finding(
            "FAIL", "database",
            f"role {role!r} exists: {existing.role_exists}, database {name!r} exists: "
            f"{existing.database_exists}; up would fail 'already exists'. Fix: set "
            f"{NAMESPACE}:database.existing to adopt",
        )
    elif mode == "create":
        yield Finding("ok", "database", f"role {role!r} and database {name!r} do not exist yet; up creates them")
    else:
        try:
            pg_adopt.check(server, role=role, database=name)
        except pg_adopt.AdoptionError as exc:
            yield Finding("FAIL", "database", f"cannot adopt: {exc}")
        else:
            yield Finding("ok", "database", f"role {role!r} owns database {name!r} and is no superuser; adopt takes them over")


def _schema_finding(server: pg_adopt.Server, name: str) -> Finding:
    on_coder_db = pg_adopt.Server(server.host, server.port, server.admin_user, server.admin_password, name, server.sslmode)
    try:
        row = pg_adopt.schema_migration(on_coder_db)
    except pg_adopt.AdoptionError as exc:
        return Finding("warn", "coder schema", f"cannot read database {name!r}: {exc}")
    if row is None:
        return Finding("ok", "coder schema", f"database {name!r} has no Coder schema yet (no schema_migrations)")
    version, dirty = row
    if dirty:
        return Finding(
            "FAIL", "coder schema",
            f"migration {version} is marked dirty (interrupted); fix: restore the last backup before up",
        )
    return Finding("ok", "coder schema", f"present, migration version {version}")


def coder_findings(settings: Settings) -> Iterator[Finding]:
    url = internal_url(settings.coder)
    running = running_version(url)
    if running is None:
        yield Finding("ok", "coder", f"nothing answers at {url}; the port is free for the container")
        return
    configured = Version.parse(settings.coder.version)
    yield Finding(
        "FAIL", "coder",
        f"a Coder {running} already answers at {url}; fix: stop the old service first "
        "(NixOS: services.coder.enable = false; nixos-rebuild switch), keep PostgreSQL running",
    )
    if configured is not None and configured < running and not settings.coder.allow_downgrade:
        yield Finding(
            "FAIL", "coder version",
            f"{NAMESPACE}:coder.version {configured} is older than the running {running}; fix: "
            f"configure {running} or newer (an older Coder cannot run on a newer schema)",
        )
    else:
        yield Finding("ok", "coder version", f"running {running}, configured {settings.coder.version}")
    if _first_user_exists(url):
        yield Finding(
            "ok", "coder admin",
            f"a first user exists: the stack adopts it, so {NAMESPACE}:admin.email (now "
            f"{settings.admin.email}) and secrets.adminPassword must be that user's",
        )


def _first_user_exists(url: str) -> bool:
    """``GET /api/v2/users/first`` (no authentication): 200 when the first user exists."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{url}/api/v2/users/first", timeout=10) as answer:
            return bool(answer.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def engine_finding(settings: Settings) -> Finding:
    path = settings.engine.socket_path
    if path is None:
        return Finding("warn", "engine", f"{settings.engine.host} is remote; not checked from here")
    try:
        info = os.stat(path)
    except OSError as exc:
        return Finding("FAIL", "engine", f"{path}: {exc.strerror}; fix: start Docker or Podman (podman.socket)")
    if not stat.S_ISSOCK(info.st_mode):
        return Finding("FAIL", "engine", f"{path} is not a socket; fix: point {NAMESPACE}:engine.host at the engine's socket")
    if not os.access(path, os.W_OK):
        return Finding("FAIL", "engine", f"{path} is not writable by this user; fix: add the user to group {info.st_gid}")
    answer = _ping(path)
    if answer != "OK":
        return Finding("FAIL", "engine", f"{path} does not answer GET /_ping ({answer}); fix: restart the engine")
    return Finding("ok", "engine", f"{path} answers, writable, group {info.st_gid}")


def _ping(path: str) -> str:
    class UnixConnection(http.client.HTTPConnection):
        def connect(self) -> None:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(10)
            self.sock.connect(path)

    connection = UnixConnection("localhost", timeout=10)
    try:
        connection.request("GET", "/_ping")
        return connection.getresponse().read().decode(errors="replace").strip() or "empty answer"
    except OSError as exc:
        return str(exc)
    finally:
        connection.close()


def backup_finding(settings: Settings) -> Finding:
    directory = project_path(settings.backup.directory)
    probe = directory
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        return Finding(
            "FAIL", "backup",
            f"{directory} is not writable by this user ({probe} is not a writable directory); "
            f"fix: create it owned by the deploy user (install -d -m 700 {directory})",
        )
    state = "exists" if probe == directory else f"will be created under {probe}"
    return Finding("ok", "backup", f"{directory} {state}, writable")


def preflight(settings: Settings, env: Mapping[str, str]) -> list[Finding]:
    return [
        *database_findings(settings, env),
        *coder_findings(settings),
        engine_finding(settings),
        backup_finding(settings),
    ]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        print(f"preflight: {message}", file=sys.stderr)
        raise SystemExit(2)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _Parser(prog="python -m tools.preflight", description=__doc__.split("\n\n")[0])
    parser.add_argument("stack", help="the stack whose Pulumi.<stack>.yaml to check against")
    parser.add_argument("--stack-file", type=Path, help="another stack file (default Pulumi.<stack>.yaml)")
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.stack, args.stack_file)
    except ConfigError as exc:
        print(f"preflight: {exc}", file=sys.stderr)
        return 2
    findings = preflight(settings, os.environ)
    for finding in findings:
        print(finding.line())
    failed = sum(f.level == "FAIL" for f in findings)
    print(f"{failed} problem(s) to fix before pulumi up -s {args.stack}" if failed else "ready for pulumi up")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
