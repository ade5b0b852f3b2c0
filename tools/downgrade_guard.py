"""Refuse to start an older Coder than the one whose schema is in the database.

    python -m tools.downgrade_guard --configured vX.Y.Z --url URL [--backup-dir DIR]
                                    [--allow-downgrade]

Run by a pulumi-command ``Command`` at ``up`` (never at preview) after the pre-change
``pg_dump`` and before the Coder container is replaced. An older Coder cannot run on a schema a
newer one has migrated (Coder migrates forward on start and has no down-migration at start), so
a configured version below the running one fails ``up`` with both versions and the restore
procedure, unless ``--allow-downgrade`` (``egoengine:coder.allowDowngrade: true``) says the
database was restored first.

The running version is what Coder reports at ``GET /api/v2/buildinfo`` (no authentication);
when Coder does not answer, it is the version this guard last let through, which pulumi-command
passes to the rerun as ``PULUMI_COMMAND_STDOUT`` (the previous run's stdout). With neither, there
is nothing to compare and the guard passes. On success it prints the configured version.

Exit status: 0 allowed, 1 a refused downgrade, 2 bad arguments (one line on stderr each).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

TIMEOUT_SECONDS = 10
_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)")


class GuardError(Exception):
    """A refused downgrade or a bad argument: one line, no traceback."""


@dataclass(frozen=True, order=True)
class Version:
    major: int
    minor: int
    patch: int

    @classmethod
    def parse(cls, text: str) -> Version | None:
        """``v2.25.1``, ``v2.25.1+e1f1878``, ``2.26.0-rc.1``: the release part, or None."""
        match = _VERSION.match(text.strip())
        return cls(*(int(part) for part in match.groups())) if match else None

    def __str__(self) -> str:
        return f"v{self.major}.{self.minor}.{self.patch}"


def running_version(url: str) -> Version | None:
    """Coder's own answer at ``/api/v2/buildinfo``, or None when nothing answers there."""
    try:
        buildinfo = f"{url.rstrip('/')}/api/v2/buildinfo"
        # No proxy: the deploy machine talks to its own Coder directly.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(buildinfo, timeout=TIMEOUT_SECONDS) as answer:
            body = json.load(answer)
    except (urllib.error.URLError, OSError, ValueError):
        return None
    return Version.parse(str(body.get("version", ""))) if isinstance(body, dict) else None


def newest_dump_before(directory: Path | None, version: Version) -> Path | None:
    """The newest ``coder-<time>-before-<version>-*.dump`` (taken before upgrading to it)."""
    if directory is None or not directory.is_dir():
        return None
    dumps = sorted(directory.glob(f"coder-*-before-{version}-*.dump"))
    return dumps[-1] if dumps else None


def check(
    configured: Version,
    *,
    url: str,
    allow_downgrade: bool,
    backup_dir: Path | None,
    env: Mapping[str, str],
) -> Version:
    """The configured version if it may start; :class:`GuardError` for a refused downgrade."""
    running = running_version(url)
    source = f"GET {url}/api/v2/buildinfo"
    if running is None:
        previous = env.get("PULUMI_COMMAND_STDOUT", "").strip().splitlines()
        running = Version.parse(previous[-1]) if previous else None
        source = "the version the last up started (Coder is not answering)"
    if running is None or configured >= running or allow_downgrade:
        return configured
    dump = newest_dump_before(backup_dir, running)
    dump_text = str(dump) if dump else f"the dump named coder-<time>-before-{running}-<digest>.dump"
    raise GuardError(
        f"refusing to downgrade Coder: {running} is running ({source}) and egoengine:coder.version "
        f"is {configured}; an older Coder cannot run on a schema a newer one has migrated. To roll "
        f"back: stop Coder, restore {dump_text} with pg_restore --clean --if-exists "
        "--single-transaction (README, Restoring a backup), then run up with "
        "egoengine:coder.allowDowngrade: true; otherwise set egoengine:coder.version to "
        f"{running} or newer"
    )


def _version_argument(text: str) -> Version:
    version = Version.parse(text)
    if version is None or not text.startswith("v"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a release tag; expected vX.Y.Z")
    return version


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"downgrade_guard: {message}", file=sys.stderr)
        raise SystemExit(2)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = _Parser(prog="python -m tools.downgrade_guard", description=__doc__.split("\n\n")[0])
    parser.add_argument("--configured", required=True, type=_version_argument,
                        help="egoengine:coder.version, e.g. v2.25.1")
    parser.add_argument("--url", required=True, help="where the deploy machine reaches Coder")
    parser.add_argument("--backup-dir", type=Path, help="backup.directory, to name the dump to restore")
    parser.add_argument("--allow-downgrade", action="store_true",
                        help="egoengine:coder.allowDowngrade: the database was restored first")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        allowed = check(
            args.configured,
            url=args.url,
            allow_downgrade=args.allow_downgrade,
            backup_dir=args.backup_dir,
            env=os.environ,
        )
    except GuardError as error:
        print(f"downgrade_guard: {error}", file=sys.stderr)
        return 1
    print(allowed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
