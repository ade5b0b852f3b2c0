"""Check the deploy machine's prerequisites for a stack: one line each, with the fix.

    python -m tools.doctor STACK          (make doctor STACK=vermissian)

Reads ``Pulumi.<STACK>.yaml`` (never a secret) and checks the Pulumi CLI, Python and the pinned
packages, ``pg_dump`` against the PostgreSQL server's major version (it asks the server), skopeo
and the docker CLI when the stack builds child images, the 1Password CLI when a secret uses
``op://``, write access to the engine socket, the Pulumi backend directory and the backup
directory. The backend is ``PULUMI_BACKEND_URL``, which the Makefile sets per stack.

Exit status: 0 when nothing failed (a ``warn`` line is a check that could not be made), 1 when a
prerequisite is missing, 2 for a bad stack file (one line on stderr).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from components import settings as cfg
from components.errors import ConfigError
from components.onepassword_cli import check_op_cli, needs_op
from tools import doctor_probes as probes
from tools.doctor_probes import Check

PROJECT_DIR = Path(__file__).resolve().parent.parent
MINIMUM_PYTHON = (3, 11)


@dataclass(frozen=True)
class Context:
    stack: str
    project: Path
    settings: cfg.Settings
    op_cli_path: str | None
    environ: Mapping[str, str]


def pins(project: Path) -> dict[str, str]:
    """``name -> version`` of every ``name==version`` line in requirements.txt."""
    found = {}
    for line in (project / "requirements.txt").read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==([^\s;#]+)", line.strip())
        if match:
            found[match[1].lower()] = match[2]
    return found


def check_pulumi(ctx: Context) -> Check:
    wanted = pins(ctx.project)["pulumi"]
    fix = f"install the Pulumi CLI {wanted} (NixOS: pkgs.pulumi-bin; the workflows install it with pulumi/actions)"
    version = probes.tool_version("pulumi", ["version"], ctx.environ)
    if version is None:
        return Check("FAIL", "pulumi", "the Pulumi CLI is not on PATH", fix)
    if version < probes.parse_version(wanted):
        return Check("FAIL", "pulumi", f"{probes.show(version)} is older than the SDK's {wanted}", fix)
    return Check("ok", "pulumi", f"CLI {probes.show(version)} (SDK {wanted})")


def check_python(ctx: Context) -> Check:
    running = ".".join(map(str, sys.version_info[:3]))
    if sys.version_info[:2] < MINIMUM_PYTHON:
        return Check("FAIL", "python", f"{running} is older than 3.11", "python3 >= 3.11, then make venv")
    wrong = []
    for name, version in pins(ctx.project).items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = "missing"
        if installed != version:
            wrong.append(f"{name} {installed} (pinned {version})")
    if wrong:
        return Check("FAIL", "python", f"{running}, but {', '.join(wrong)}", "make venv")
    return Check("ok", "python", f"{running} in {sys.prefix}, packages as pinned")


def server_major(ctx: Context) -> tuple[int | None, str]:
    """The PostgreSQL server's major version and where it came from (or why it is unknown)."""
    database = ctx.settings.database
    if isinstance(database, cfg.ContainerDatabase):
        match = re.search(r":(\d+)", database.image.split("@")[0].rsplit("/", 1)[-1])
        return (int(match[1]), "the stack's postgres image") if match else (None, "the image tag has no major")
    return probes.ask_server_major(
        host=database.host, port=database.port, user=database.admin_user,
        dbname=database.admin_database, sslmode=database.sslmode, environ=ctx.environ,
    )


def check_pg_dump(ctx: Context) -> Check:
    configured = ctx.settings.backup.pg_dump
    fix_install = "PostgreSQL client tools of the server's major (NixOS: backup.pgDump = /run/current-system/sw/bin/pg_dump)"
    executable = probes.executable(configured, ctx.environ)
    version = probes.tool_version(executable, ["--version"], ctx.environ) if executable else None
    if version is None:
        return Check("FAIL", "pg_dump", f"{configured!r} (egoengine:backup.pgDump) is not found", fix_install)
    major, source = server_major(ctx)
    if major is None:
        fix = ("give libpq the admin's password (PGPASSWORD or ~/.pgpass) and rerun" if "password" in source
               else "check egoengine:database.host/port and that PostgreSQL is running")
        return Check("warn", "pg_dump", f"{probes.show(version)}; cannot ask the server its version ({source})", fix)
    if version[0] < major:
        return Check("FAIL", "pg_dump", f"{probes.show(version)} is older than the server's {major} ({source})",
                     f"set egoengine:backup.pgDump to a pg_dump >= {major}; {fix_install}")
    return Check("ok", "pg_dump", f"{probes.show(version)} >= the server's {major} ({source})")


def builds_images(ctx: Context) -> bool:
    return bool(ctx.settings.images.children)


def needs_docker(ctx: Context) -> bool:
    return any(child.builder == "containerfile" or child.env_local or child.links
               for child in ctx.settings.images.children)


def check_tool(name: str, needed: Callable[[Context], bool], why: str, fix: str) -> Callable[[Context], Check]:
    def check(ctx: Context) -> Check:
        if not needed(ctx):
            return Check("ok", name, f"not needed ({why})")
        version = probes.tool_version(name, ["--version"], ctx.environ)
        if version is None:
            return Check("FAIL", name, "is not on PATH", fix)
        return Check("ok", name, probes.show(version))
    return check


def check_op(ctx: Context) -> Check:
    if not needs_op(ctx.settings):
        return Check("ok", "op", "not needed (no secret uses op://)")
    try:
        return Check("ok", "op", f"1Password CLI {check_op_cli(ctx.op_cli_path, ctx.environ)}")
    except ConfigError as error:
        return Check("FAIL", "op", error.problem, error.expected)


def check_socket(ctx: Context) -> Check:
    path = ctx.settings.engine.socket_path
    if path is None:
        return Check("ok", "socket", f"{ctx.settings.engine.host} is remote (not checked here)")
    return probes.socket_access(path)


def check_backend(ctx: Context) -> Check:
    url = ctx.environ.get("PULUMI_BACKEND_URL", "")
    if not url:
        return Check("warn", "backend", "PULUMI_BACKEND_URL is not set", "run it as make doctor STACK=...")
    if not url.startswith("file://"):
        return Check("ok", "backend", f"{url} (not a local directory)")
    return probes.writable_directory("backend", Path(url.removeprefix("file://")), create=False)


def check_backup_directory(ctx: Context) -> Check:
    directory = Path(ctx.settings.backup.directory)
    return probes.writable_directory("backups", directory if directory.is_absolute() else ctx.project / directory,
                                     create=True)


CHECKS: tuple[Callable[[Context], Check], ...] = (
    check_pulumi,
    check_python,
    check_pg_dump,
    check_tool("skopeo", builds_images, "no child images", "skopeo (NixOS: pkgs.skopeo)"),
    check_tool("docker", needs_docker, "no child built on the engine", "the docker CLI (NixOS: pkgs.docker-client)"),
    check_op,
    check_socket,
    check_backend,
    check_backup_directory,
)


def load_context(stack: str, project: Path, environ: Mapping[str, str]) -> Context:
    path = project / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        raise ConfigError("STACK", f"{stack!r} has no {path.name} in {project}", "an existing stack, e.g. vermissian")
    try:
        document: Any = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError:
        raise ConfigError(path.name, "is not valid YAML", "the stack file Pulumi writes") from None
    config = document.get("config") if isinstance(document, dict) else None
    if not isinstance(config, dict):
        raise ConfigError(path.name, "has no config mapping", "the stack file Pulumi writes (config: ...)")
    prefix = f"{cfg.NAMESPACE}:"
    values = {key.removeprefix(prefix): value for key, value in config.items()
              if key.startswith(prefix) and "." not in key}
    op_cli_path = config.get("onepassword:opCliPath")
    return Context(stack, project, cfg.parse_settings(stack, values),
                   op_cli_path if isinstance(op_cli_path, str) else None, environ)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.doctor", description=__doc__.split("\n\n")[0])
    parser.add_argument("stack", help="stack name: reads Pulumi.<stack>.yaml")
    parser.add_argument("--project-dir", type=Path, default=PROJECT_DIR, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        ctx = load_context(args.stack, args.project_dir, os.environ)
    except ConfigError as error:
        print(f"doctor: {error}", file=sys.stderr)
        return 2
    results = [check(ctx) for check in CHECKS]
    for result in results:
        print(result.line())
    failed = [result.name for result in results if result.status == "FAIL"]
    print(f"doctor: {len(failed)} of {len(results)} failed" + (f" ({', '.join(failed)})" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
