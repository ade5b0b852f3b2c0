"""What ``tools.doctor`` asks the machine: tool versions, the PostgreSQL server, the socket, directories.

Every probe runs its tool with an allow-listed environment (no deploy secret reaches it) and turns
failures into a value, never an exception: the doctor prints one line per check whatever happens.
"""

from __future__ import annotations

import grp
import os
import re
import shutil
import stat
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tools.child_env import child_environment

Status = Literal["ok", "warn", "FAIL"]
Version = tuple[int, ...]
_VERSION = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")


@dataclass(frozen=True)
class Check:
    status: Status
    name: str
    detail: str
    fix: str = ""

    def line(self) -> str:
        return f"{self.status:<4} {self.name}: {self.detail}" + (f"; fix: {self.fix}" if self.fix else "")


def parse_version(text: str) -> Version:
    """The first ``X.Y[.Z]`` in ``text`` (``pulumi version`` -> ``v3.272.0``, ``pg_dump (PostgreSQL) 15.14``)."""
    match = _VERSION.search(text)
    if match is None:
        return ()
    return tuple(int(part) for part in match.groups() if part is not None)


def show(version: Version) -> str:
    return ".".join(map(str, version))


def executable(name_or_path: str, environ: Mapping[str, str]) -> str | None:
    if "/" in name_or_path:
        return name_or_path if os.path.isfile(name_or_path) and os.access(name_or_path, os.X_OK) else None
    return shutil.which(name_or_path, path=environ.get("PATH"))


def tool_version(name_or_path: str, arguments: Sequence[str], environ: Mapping[str, str]) -> Version | None:
    """The version a tool prints, or None when it is missing or prints none."""
    found = executable(name_or_path, environ)
    if found is None:
        return None
    try:
        completed = subprocess.run([found, *arguments], env=child_environment(environ), stdin=subprocess.DEVNULL,
                                   capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    version = parse_version(completed.stdout + "\n" + completed.stderr) if completed.returncode == 0 else ()
    return version or None


def ask_server_major(*, host: str, port: int, user: str, dbname: str, sslmode: str,
                     environ: Mapping[str, str]) -> tuple[int | None, str]:
    """Connect (the password from libpq's environment or ~/.pgpass) and read ``server_version_num``."""
    import psycopg  # only when there is a server to ask
    from psycopg.conninfo import make_conninfo

    where = f"{user}@{host}:{port}"
    # Only the password sources libpq would use; the rest of the connection comes from the stack.
    credentials = {key: environ[name] for key, name in (("password", "PGPASSWORD"), ("passfile", "PGPASSFILE"))
                   if environ.get(name)}
    try:
        conninfo = make_conninfo(host=host, port=port, user=user, dbname=dbname, sslmode=sslmode,
                                 connect_timeout=5, **credentials)
        with psycopg.connect(conninfo) as connection:
            return connection.info.server_version // 10000, f"asked {where}"
    except psycopg.Error as error:
        lines = str(error).strip().splitlines()
        reason = " ".join(lines[0].split()) if lines else error.__class__.__name__
        password = credentials.get("password")
        return None, f"{where}: {reason.replace(password, '***') if password else reason}"


def socket_access(path: str) -> Check:
    try:
        info = os.stat(path)
    except OSError:
        return Check("FAIL", "socket", f"{path} does not exist",
                     "start the engine's socket (NixOS: virtualisation.podman.enable = true)")
    if not stat.S_ISSOCK(info.st_mode):
        return Check("FAIL", "socket", f"{path} is not a socket", "egoengine:engine.host naming the engine's socket")
    try:
        group = grp.getgrgid(info.st_gid).gr_name
    except KeyError:
        group = str(info.st_gid)
    if not os.access(path, os.R_OK | os.W_OK):
        return Check("FAIL", "socket", f"{path} (group {group}) is not writable by this user",
                     f"add the deploy user to group {group} (NixOS: extraGroups = [ \"{group}\" ]) and log in again")
    return Check("ok", "socket", f"{path} writable (group {group})")


def writable_directory(name: str, directory: Path, *, create: bool) -> Check:
    parent = next((p for p in directory.parents if p.exists()), Path("/"))
    parent_writable = parent.is_dir() and os.access(parent, os.W_OK | os.X_OK)
    fix = f"mkdir -p -m 0700 {directory}" if parent_writable else f"sudo install -d -m 0700 -o $(id -un) {directory}"
    if directory.is_dir():
        if os.access(directory, os.W_OK | os.X_OK):
            return Check("ok", name, f"{directory} writable")
        return Check("FAIL", name, f"{directory} is not writable by this user", fix)
    if directory.exists():
        return Check("FAIL", name, f"{directory} is not a directory", fix)
    if create and parent_writable:
        return Check("ok", name, f"{directory} will be created (0700)")
    return Check("FAIL", name, f"{directory} does not exist", fix)
