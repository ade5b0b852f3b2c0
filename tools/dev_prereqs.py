"""What ``make dev`` needs on this machine, checked in one pass: every missing piece is reported at
once, each with how to install it on Debian/Ubuntu, macOS and NixOS. Standard library only (this
runs before anything else, and must not need the Pulumi SDK).

- the Pulumi CLI, at least the version the workflows pin (``pulumi-version:`` in
  ``.github/workflows/*.yml``);
- ``pg_dump`` (or the stack's ``egoengine:backup.pgDump``) for the pre-upgrade backup;
- a Docker or Podman socket that answers ``GET /_ping``, that this user may write to, and that is
  rootful: a rootless engine's user namespace does not map the socket's group into the Coder
  container, so Coder could not create workspaces (the program refuses it too).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from components import engine_facts

PROJECT = Path(__file__).resolve().parent.parent
WORKFLOWS = PROJECT / ".github" / "workflows"
SYSTEM_SOCKETS = ("/var/run/docker.sock", "/run/podman/podman.sock")
"""Rootful sockets, in the order tried; then the user's own under $XDG_RUNTIME_DIR."""


@dataclass(frozen=True)
class Missing:
    what: str
    debian: str
    macos: str
    nixos: str

    def render(self) -> str:
        return (f"- {self.what}\n    Debian/Ubuntu: {self.debian}\n    macOS:         {self.macos}\n"
                f"    NixOS:         {self.nixos}")


@dataclass
class Report:
    missing: list[Missing] = field(default_factory=list)
    engine_host: str | None = None
    engine_kind: str | None = None

    def render(self) -> str:
        lines = ["make dev cannot start; missing on this machine (nothing was changed):"]
        return "\n".join(lines + [m.render() for m in self.missing])


def pinned_pulumi_version(workflows: Path = WORKFLOWS) -> tuple[int, ...]:
    """The lowest ``pulumi-version:`` the workflows pin: what the program is known to work with."""
    found = [tuple(int(p) for p in m.group(1).split("."))
             for path in sorted(workflows.glob("*.yml"))
             for m in re.finditer(r"pulumi-version:\s*['\"]?v?(\d+\.\d+\.\d+)", path.read_text())]
    return min(found) if found else (3, 0, 0)


def _version_text(version: tuple[int, ...]) -> str:
    return ".".join(str(part) for part in version)


def check_pulumi(minimum: tuple[int, ...]) -> Missing | None:
    wanted = _version_text(minimum)
    install = Missing(
        f"the Pulumi CLI {wanted} or newer",
        f"curl -fsSL https://get.pulumi.com | sh -s -- --version {wanted}",
        "brew install pulumi/tap/pulumi",
        "environment.systemPackages = [ pkgs.pulumi-bin ];  (or nix profile install nixpkgs#pulumi-bin)",
    )
    if shutil.which("pulumi") is None:
        return install
    try:
        out = subprocess.run(["pulumi", "version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return install
    match = re.search(r"v?(\d+)\.(\d+)\.(\d+)", out)
    have = tuple(int(g) for g in match.groups()) if match else (0,)
    if have < minimum:
        return Missing(f"the Pulumi CLI {wanted} or newer (this one is {out.strip() or 'unknown'})",
                       install.debian, "brew upgrade pulumi", install.nixos)
    return None


def check_pg_dump(pg_dump: str) -> Missing | None:
    found = shutil.which(pg_dump) if "/" not in pg_dump else (pg_dump if os.access(pg_dump, os.X_OK) else None)
    if found:
        return None
    return Missing(
        f"pg_dump ({pg_dump!r}, egoengine:backup.pgDump), for the backup before a Coder upgrade",
        "sudo apt-get install postgresql-client",
        "brew install libpq && brew link --force libpq",
        "environment.systemPackages = [ pkgs.postgresql_15 ];  (or set egoengine:backup.pgDump)",
    )


def socket_candidates(environ: os._Environ[str] | dict[str, str], system: Sequence[str] = SYSTEM_SOCKETS) -> list[str]:
    """``DOCKER_HOST`` alone when set (the user's explicit choice), else the usual places."""
    if environ.get("DOCKER_HOST"):
        return [environ["DOCKER_HOST"]]
    found = [f"unix://{path}" for path in system]
    runtime = environ.get("XDG_RUNTIME_DIR")
    if runtime:
        found += [f"unix://{runtime}/podman/podman.sock", f"unix://{runtime}/docker.sock"]
    return found


ENGINE_INSTALL = (
    "sudo apt-get install podman && sudo systemctl enable --now podman.socket  (socket "
    "/run/podman/podman.sock, root only: run make dev with sudo, or use Docker: sudo apt-get install "
    "docker.io && sudo usermod -aG docker $USER)",
    "Docker Desktop, or podman machine init --rootful && podman machine start",
    "virtualisation.podman = { enable = true; dockerSocket.enable = true; };  and "
    "users.users.<you>.extraGroups = [ \"podman\" ];",
)


def check_engine(candidates: Sequence[str], report: Report) -> Missing | None:
    """The first candidate socket that exists; it must answer, be writable and be rootful."""
    for host in candidates:
        parts = urlsplit(host)
        if parts.scheme != "unix":
            return Missing(f"a local engine socket (DOCKER_HOST={host} is not unix://; the dev stack runs "
                           "PostgreSQL and Coder on this machine)", *ENGINE_INSTALL)
        path = parts.path
        if not os.path.exists(path):
            continue
        if not os.access(path, os.W_OK):
            return Missing(f"write access to the engine socket {path} (this user may not use it)",
                           "sudo usermod -aG $(stat -c %G " + path + ") $USER, then log in again",
                           "use a socket of your own user's engine (Docker Desktop, podman machine)",
                           "users.users.<you>.extraGroups = [ \"podman\" ];  (or \"docker\")")
        facts = engine_facts.query(path) if engine_facts.ping(path) else None
        if facts is None:
            return Missing(f"an engine answering GET /_ping on {path} (nothing answers there)",
                           "sudo systemctl start podman.socket  (or: sudo systemctl start docker)",
                           "start Docker Desktop, or podman machine start", "sudo systemctl start podman.socket")
        if facts.rootless:
            return Missing(f"a rootful engine socket ({path} is rootless {facts.kind}: its user namespace does not "
                           "map the socket's group into the Coder container)", *ENGINE_INSTALL)
        report.engine_host, report.engine_kind = f"unix://{path}", facts.kind
        return None
    return Missing("a Docker or Podman socket (none found at " + ", ".join(candidates) + ")", *ENGINE_INSTALL)


def check_all(*, pg_dump: str, candidates: Sequence[str], minimum: tuple[int, ...]) -> Report:
    report = Report()
    for problem in (check_pulumi(minimum), check_pg_dump(pg_dump), check_engine(candidates, report)):
        if problem is not None:
            report.missing.append(problem)
    return report
