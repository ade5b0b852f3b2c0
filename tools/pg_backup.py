"""Take a ``pg_dump`` backup of the Coder database and keep the newest N.

    python -m tools.pg_backup --dir DIR --keep N [--label LABEL]

The connection comes only from libpq's environment (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE,
PGSSLMODE, ...), so no secret is ever on a command line or in a process listing. The dump is written
in pg_dump's custom format to a temporary file in DIR and renamed to
``coder-<YYYYmmddTHHMMSSZ>[-<label>].dump`` only when pg_dump succeeded, so a backup file is always
complete. On success the path of the new dump is printed on stdout.

Environment besides libpq's:
  PG_DUMP         path of the pg_dump binary (default: ``pg_dump`` from PATH); pick the one matching
                  the server's major version, e.g. /usr/lib/postgresql/15/bin/pg_dump.
  PG_BACKUP_NOW   for tests only: the UTC timestamp to name the dump with (YYYYmmddTHHMMSSZ).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import FrameType

from tools.child_env import LIBPQ_NAMES, child_environment

TIMESTAMP_FORMAT = "%Y%m%dT%H%M%SZ"
BACKUP_PREFIX = "coder-"
BACKUP_SUFFIX = ".dump"
# Only names this tool writes are ever pruned: the timestamp right after the prefix, then an
# optional sanitised label. Anything else in the directory (coder-manual.dump included) is left alone.
BACKUP_NAME = re.compile(r"^coder-(?P<stamp>\d{8}T\d{6}Z)(?:-[A-Za-z0-9._-]+)?\.dump$")
LABEL_MAX_LENGTH = 64


class BackupError(Exception):
    """An expected failure: printed as one line (plus pg_dump's own message), no traceback."""


@dataclass(frozen=True)
class BackupResult:
    path: Path
    pruned: tuple[Path, ...]


def sanitise_label(label: str) -> str:
    """Map a free-form label (e.g. ``sha256:ab12…`` or ``coder v2.18``) to ``[A-Za-z0-9._-]``.

    Runs of other characters become one ``-``; leading/trailing ``-`` and ``.`` are dropped so the
    label can never make a hidden file or an odd-looking name.
    """
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", label).strip("-.")[:LABEL_MAX_LENGTH].strip("-.")
    if not cleaned:
        raise BackupError(
            f"--label: {label!r} has no usable character; expected letters, digits, '.', '_' or '-'"
        )
    return cleaned


def backup_file_name(timestamp: str, label: str | None) -> str:
    suffix = f"-{sanitise_label(label)}" if label is not None else ""
    return f"{BACKUP_PREFIX}{timestamp}{suffix}{BACKUP_SUFFIX}"


def utc_timestamp(env: Mapping[str, str]) -> str:
    """Now in UTC, or the PG_BACKUP_NOW override (tests get distinct names without sleeping)."""
    override = env.get("PG_BACKUP_NOW")
    if override is None:
        return datetime.now(timezone.utc).strftime(TIMESTAMP_FORMAT)
    try:
        datetime.strptime(override, TIMESTAMP_FORMAT)
    except ValueError:
        raise BackupError(
            f"PG_BACKUP_NOW: {override!r} is not a UTC timestamp; expected YYYYmmddTHHMMSSZ"
        ) from None
    return override


def find_pg_dump(env: Mapping[str, str]) -> str:
    override = env.get("PG_DUMP")
    if override:
        # A bare name (the stack's default is "pg_dump") is looked up on PATH, a path is used as is.
        found = override if "/" in override else shutil.which(override, path=env.get("PATH"))
        if found is None or not (os.path.isfile(found) and os.access(found, os.X_OK)):
            raise BackupError(
                f"PG_DUMP: {override!r} is not an executable file or a command on PATH; "
                "expected pg_dump's name or path"
            )
        return found
    found = shutil.which("pg_dump", path=env.get("PATH"))
    if found is None:
        raise BackupError(
            "pg_dump not found on PATH; install the PostgreSQL client or set PG_DUMP to its path"
        )
    return found


def list_backups(directory: Path) -> list[Path]:
    """This tool's dumps in ``directory``, oldest first (by the timestamp in the name, not mtime,
    so copied or restored files keep their place)."""
    named = [
        (match["stamp"], entry.name)
        for entry in directory.iterdir()
        if (match := BACKUP_NAME.match(entry.name)) and entry.is_file() and not entry.is_symlink()
    ]
    return [directory / name for _, name in sorted(named)]


def prune(directory: Path, keep: int) -> tuple[Path, ...]:
    backups = list_backups(directory)
    doomed = tuple(backups[: max(0, len(backups) - keep)])
    for path in doomed:
        path.unlink()
    return doomed


def ensure_directory(directory: Path) -> None:
    if directory.exists():
        if not directory.is_dir():
            raise BackupError(
                f"--dir: {str(directory)!r} exists and is not a directory; expected a directory"
            )
        return
    directory.mkdir(parents=True, mode=0o700)
    directory.chmod(0o700)  # mkdir's mode is filtered by the umask


def fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def redact(text: str, env: Mapping[str, str]) -> str:
    # pg_dump never prints PGPASSWORD, but a log line must not carry it even if some version did.
    password = env.get("PGPASSWORD")
    return text.replace(password, "***") if password else text


def run_pg_dump(pg_dump: str, target: Path, env: Mapping[str, str]) -> None:
    # --no-password: never prompt (there is no one to answer); a missing password is an error.
    # --file (not stdout) lets pg_dump seek back and write data offsets, so pg_restore -j works.
    command = [pg_dump, "--format=custom", "--no-password", f"--file={target}"]
    # Only libpq's variables and the basics: not the deploy's passphrase or tokens (tools/child_env.py).
    completed = subprocess.run(command, env=child_environment(env, names=LIBPQ_NAMES), stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)
    if completed.returncode != 0:
        message = redact(completed.stderr.strip(), env) or "(no message)"
        raise BackupError(f"pg_dump failed with exit code {completed.returncode}:\n{message}")


def take_backup(
    directory: Path, keep: int, label: str | None = None, env: Mapping[str, str] | None = None
) -> BackupResult:
    """Dump the database libpq's environment points at into ``directory``; keep the newest ``keep``."""
    if keep < 1:
        raise BackupError(f"--keep: {keep} keeps no backup; expected an integer >= 1")
    environment = os.environ if env is None else env
    final_name = backup_file_name(utc_timestamp(environment), label)
    pg_dump = find_pg_dump(environment)
    ensure_directory(directory)
    final_path = directory / final_name
    if final_path.exists():
        raise BackupError(f"{final_path} already exists (a backup was taken this second); retry")

    # A hidden name that never matches BACKUP_NAME, so pruning and listing ignore a dump in progress.
    fd, temp_name = tempfile.mkstemp(dir=directory, prefix=".coder-", suffix=".dump.partial")
    temp_path = Path(temp_name)
    try:
        os.close(fd)  # mkstemp made it 0600; pg_dump truncates and refills it, keeping the mode
        run_pg_dump(pg_dump, temp_path, environment)
        temp_path.chmod(0o600)
        with temp_path.open("rb") as dumped:
            os.fsync(dumped.fileno())
        # link + unlink instead of rename: never overwrite a backup that appeared meanwhile.
        try:
            os.link(temp_path, final_path)
        except FileExistsError:
            raise BackupError(f"{final_path} already exists (a backup was taken this second); retry") from None
    finally:
        temp_path.unlink(missing_ok=True)
    fsync_directory(directory)
    return BackupResult(path=final_path, pruned=prune(directory, keep))


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an integer; expected an integer >= 1"
        ) from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} keeps no backup; expected an integer >= 1")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tools.pg_backup",
        description="pg_dump (custom format) the database named by libpq's PG* environment variables "
        "into DIR, then keep only the newest N coder-*.dump files. Prints the new dump's path.",
    )
    parser.add_argument("--dir", required=True, type=Path,
                        help="backup directory (created 0700 if absent)")
    parser.add_argument("--keep", required=True, type=positive_int,
                        help="how many backups to keep (>= 1)")
    parser.add_argument("--label",
                        help="added to the file name, sanitised to [A-Za-z0-9._-] (e.g. an image digest)")
    return parser.parse_args(argv)


def _exit_on_sigterm(signum: int, _frame: FrameType | None) -> None:
    # Turn SIGTERM into SystemExit so the partial file is removed and pg_dump is killed.
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        result = take_backup(args.dir, args.keep, args.label)
    except (BackupError, OSError) as error:
        print(f"pg_backup: {error}", file=sys.stderr)
        return 1
    for path in result.pruned:
        print(f"pg_backup: pruned {path}", file=sys.stderr)
    print(result.path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
