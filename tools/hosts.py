"""Check a stack's workspace hosts (``egoengine:hosts``) from this machine, read-only.

    python -m tools.hosts check STACK [--stack-file FILE] [--identity FILE] [--image REF]

For each host, one line per check, each failure with its fix: SSH with the pinned host key,
``docker version`` through ``DOCKER_HOST=ssh://`` (what the providers do: ``docker system
dial-stdio`` on the host), the engine socket's permissions, a pull from the configured registry,
and a GPU runtime where ``gpus: true``. The same ssh flags as the stack's providers are used, with
a ``known_hosts`` built from the stack's pinned keys. Exit 0 when all pass, 1 when one fails, 2 on
bad input (one line, no traceback).
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from components.errors import ConfigError
from components.settings import HostSettings, Settings, parse_settings
from components.settings.hosts import known_hosts
from components.workspace_hosts import deploy_ssh_dir, ssh_options

PROJECT_DIR = Path(__file__).resolve().parent.parent
TIMEOUT_SECONDS = 60


class UsageError(Exception):
    """Bad input: printed as one line, exit 2."""


@dataclass(frozen=True)
class Result:
    host: str
    check: str
    ok: bool
    detail: str
    fix: str = ""

    def line(self) -> str:
        if self.ok:
            return f"{self.host}: {self.check}: ok ({self.detail})"
        return f"{self.host}: {self.check}: FAIL ({self.detail}); fix: {self.fix}"


def load_settings(stack: str, stack_file: Path | None) -> Settings:
    path = stack_file or PROJECT_DIR / f"Pulumi.{stack}.yaml"
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError:
        raise UsageError(f"stack {stack}: no stack file {path}") from None
    except yaml.YAMLError:
        raise UsageError(f"stack {stack}: {path.name} is not valid YAML") from None
    values = {
        key.removeprefix("egoengine:"): value
        for key, value in (document.get("config") or {}).items()
        if key.startswith("egoengine:") and "." not in key and not (isinstance(value, dict) and set(value) == {"secure"})
    }
    return parse_settings(stack, values)


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else "no output"


class HostChecker:
    """Runs the checks of one host with the stack's ssh flags."""

    def __init__(self, host: HostSettings, identity: Path, workdir: Path, image: str, timeout: float) -> None:
        self.host, self.image, self.timeout = host, image, timeout
        self.known_hosts = workdir / f"{host.name}.known_hosts"
        self.known_hosts.write_text(known_hosts([host]))
        self.known_hosts.chmod(0o600)
        self.flags = ssh_options(str(identity), str(self.known_hosts))
        # The docker CLI has no ssh-options flag: a shim `ssh` first on PATH adds the stack's.
        shim_dir = workdir / f"{host.name}-bin"
        shim_dir.mkdir()
        real_ssh = shutil.which("ssh") or "/usr/bin/ssh"
        (shim_dir / "ssh").write_text(
            f"#!/bin/sh\nexec {shlex.quote(real_ssh)} " + " ".join(shlex.quote(f) for f in self.flags) + ' "$@"\n'
        )
        (shim_dir / "ssh").chmod(0o755)
        self.docker_env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        self.docker_env.update({"DOCKER_HOST": host.docker_uri, "DOCKER_CLI_HINTS": "false"})
        self.docker_env["PATH"] = f"{shim_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}"

    def _run(self, argv: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=self.timeout, check=False)
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess(argv, 124, "", f"timed out after {self.timeout:.0f}s")
        except FileNotFoundError:
            return subprocess.CompletedProcess(argv, 127, "", f"{argv[0]} is not installed here")

    def ssh(self, command: str) -> subprocess.CompletedProcess[str]:
        return self._run(["ssh", *self.flags, "-p", str(self.host.port), f"{self.host.user}@{self.host.hostname}", command])

    def docker(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self._run(["docker", *args], env=self.docker_env)

    def result(self, check: str, ok: bool, detail: str, fix: str = "") -> Result:
        return Result(self.host.name, check, ok, detail, fix)

    def check_ssh(self) -> Result:
        done = self.ssh("true")
        if done.returncode == 0:
            return self.result("ssh", True, f"{self.host.user}@{self.host.hostname}:{self.host.port}, pinned key matched")
        error = done.stderr
        if "Host key verification failed" in error or "REMOTE HOST IDENTIFICATION HAS CHANGED" in error:
            return self.result(
                "ssh", False, "the host's key is not the pinned egoengine:hosts hostKey",
                "compare the host's /etc/ssh/ssh_host_ed25519_key.pub (read on the host itself) and set hostKey to it",
            )
        if "Permission denied" in error:
            return self.result(
                "ssh", False, "the host refused the key",
                f"add the stack output hostsPublicKey to ~{self.host.user}/.ssh/authorized_keys on the host",
            )
        return self.result("ssh", False, _first_line(error), "check the host name, port and that sshd runs")

    def check_docker_version(self) -> Result:
        done = self.docker("version", "--format", "{{.Server.Version}} (API {{.Server.APIVersion}})")
        if done.returncode == 0:
            return self.result("docker version over ssh://", True, f"server {done.stdout.strip()}")
        return self.result(
            "docker version over ssh://", False, _first_line(done.stderr or done.stdout),
            "install a docker CLI on the host (Debian: apt install docker.io; Podman 4.x has no "
            "`system dial-stdio`) and point it at the engine (DOCKER_HOST for the ssh user)",
        )

    def check_socket(self) -> Result:
        script = (
            'h="${DOCKER_HOST:-unix:///var/run/docker.sock}"; case "$h" in unix://*) ;; *) echo "endpoint $h"; exit 0;; esac; '
            's="${h#unix://}"; stat -Lc "%n mode %a owner %u:%g" "$s" && test -r "$s" -a -w "$s"'
        )
        done = self.ssh(f"sh -c {shlex.quote(script)}")
        detail = " ".join(done.stdout.split()) or _first_line(done.stderr)
        if done.returncode == 0:
            return self.result("socket permissions", True, detail)
        return self.result(
            "socket permissions", False, detail,
            f"let {self.host.user} read and write the engine socket (e.g. add it to the socket's group)",
        )

    def check_pull(self) -> Result:
        done = self.docker("pull", "--quiet", self.image)
        if done.returncode == 0:
            return self.result("pull from the registry", True, self.image)
        return self.result(
            "pull from the registry", False, _first_line(done.stderr),
            "let the host reach the registry (network, credentials in the ssh user's docker config)",
        )

    def check_gpu(self) -> Result:
        done = self.docker("info", "--format", "{{json .Runtimes}}")
        if done.returncode == 0 and "nvidia" in done.stdout:
            return self.result("GPU runtime", True, "nvidia runtime present")
        return self.result(
            "GPU runtime", False, "no nvidia runtime in docker info" if done.returncode == 0 else _first_line(done.stderr),
            "install Docker Engine with the NVIDIA container toolkit (nvidia-ctk runtime configure --runtime=docker); Podman ignores gpus",
        )

    def run(self) -> list[Result]:
        results = [self.check_ssh()]
        if not results[0].ok:
            return results  # every other check goes over the same ssh
        results += [self.check_docker_version(), self.check_socket(), self.check_pull()]
        if self.host.gpus:
            results.append(self.check_gpu())
        return results


def default_image(settings: Settings) -> str:
    base = settings.images.base
    return f"{base.repository}:{base.tag}" + (f"@{base.digest}" if base.digest else "")


def check(args: argparse.Namespace) -> int:
    settings = load_settings(args.stack, args.stack_file)
    if not settings.hosts:
        print(f"stack {args.stack}: egoengine:hosts is empty; nothing to check")
        return 0
    identity = args.identity or deploy_ssh_dir(args.stack) / "id_ed25519"
    if not identity.is_file():
        raise UsageError(
            f"--identity {identity}: no such key file (written by `pulumi up` once hosts are configured, or give --identity)"
        )
    failed = False
    with tempfile.TemporaryDirectory(prefix="egoengine-hosts-") as workdir:
        for host in settings.hosts:
            checker = HostChecker(host, identity, Path(workdir), args.image or default_image(settings), args.timeout)
            for result in checker.run():
                print(result.line(), flush=True)
                failed |= not result.ok
    return 1 if failed else 0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.hosts", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    checking = commands.add_parser("check", help="check every host of a stack (read-only)")
    checking.add_argument("stack", help="stack name: reads Pulumi.<stack>.yaml")
    checking.add_argument("--stack-file", type=Path, help="another stack file (default: Pulumi.<stack>.yaml)")
    checking.add_argument("--identity", type=Path, help="the hosts' private key (default: the copy `up` writes)")
    checking.add_argument("--image", help="the image to pull (default: the base image of the stack)")
    checking.add_argument("--timeout", type=float, default=TIMEOUT_SECONDS, help="seconds per command")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return check(args)
    except (UsageError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
