"""Create a stack on its backend with the passphrase secrets provider; safe to run again.

    make stack-init STACK=vermissian [< token-file]
    python -m tools.stack_init STACK

The backend is ``PULUMI_BACKEND_URL``: the Makefile sets it to ``PULUMI_PRODUCTION_BACKEND`` from
``deploy/backend.env`` for the production stack (the file the workflows read too), and to the
project's own file backend for any other. The passphrase comes from ``PULUMI_CONFIG_PASSPHRASE``
or ``PULUMI_CONFIG_PASSPHRASE_FILE`` and is never asked for or printed.

``pulumi stack select --create --secrets-provider passphrase`` creates the stack only when it does
not exist, and writes the passphrase's ``encryptionsalt`` into ``Pulumi.<STACK>.yaml``: commit that
line, or nobody else can decrypt the stack's secrets. When standard input is not a terminal, what
it carries (one line) is the 1Password service-account token: it goes to
``pulumi config set --secret onepassword:serviceAccountToken`` on *its* standard input, never on a
command line. Exit status: 0 done, 1 a Pulumi command failed, 2 something is missing (one line).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
TOKEN_KEY = "onepassword:serviceAccountToken"
_STACK_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_SALT = re.compile(r"^encryptionsalt:\s*\S+", re.MULTILINE)


class InitError(Exception):
    """A missing prerequisite: one line, exit 2."""


def backend_directory(environ: Mapping[str, str]) -> Path | None:
    url = environ.get("PULUMI_BACKEND_URL", "")
    if not url:
        raise InitError("PULUMI_BACKEND_URL is not set; run it as: make stack-init STACK=<stack>")
    return Path(url.removeprefix("file://")) if url.startswith("file://") else None


def check_prerequisites(environ: Mapping[str, str]) -> None:
    directory = backend_directory(environ)
    if directory is not None and not directory.exists() and os.access(directory.parent, os.W_OK | os.X_OK):
        directory.mkdir(mode=0o700)  # a project-local backend; the production one is made by the host's config
    if directory is not None and not (directory.is_dir() and os.access(directory, os.W_OK | os.X_OK)):
        raise InitError(f"the backend directory {directory} is missing or not writable; "
                        f"create it: sudo install -d -m 0700 -o $(id -un) {directory}")
    if not (environ.get("PULUMI_CONFIG_PASSPHRASE") or environ.get("PULUMI_CONFIG_PASSPHRASE_FILE")):
        raise InitError("neither PULUMI_CONFIG_PASSPHRASE nor PULUMI_CONFIG_PASSPHRASE_FILE is set; "
                        "set one to the stack's passphrase (keep it: CI needs the same one)")


def pulumi(arguments: Sequence[str], project: Path, stdin: str | None = None) -> None:
    try:
        completed = subprocess.run(["pulumi", *arguments, "--non-interactive"], cwd=project, input=stdin,
                                   stdout=sys.stderr, text=True, check=False)
    except FileNotFoundError:
        raise InitError("the Pulumi CLI is not on PATH; install it (make doctor says which version)") from None
    if completed.returncode != 0:
        raise subprocess.CalledProcessError(completed.returncode, ["pulumi", arguments[0], arguments[1]])


def read_token(stream: object) -> str | None:
    """The token piped in, if any (a terminal on stdin means none was given)."""
    if not hasattr(stream, "isatty") or stream.isatty() or not hasattr(stream, "read"):
        return None
    token = str(stream.read()).strip()
    if "\n" in token:
        raise InitError("standard input holds more than one line; expected only the service-account token")
    return token or None


def init_stack(stack: str, project: Path, environ: Mapping[str, str], token: str | None) -> list[str]:
    """Run the Pulumi commands; return what the operator should do next."""
    if not _STACK_NAME.match(stack):
        raise InitError(f"STACK {stack!r} is not a stack name; expected letters, digits, '.', '_' or '-'")
    check_prerequisites(environ)
    pulumi(["stack", "select", "--create", "--secrets-provider", "passphrase", stack], project)
    stack_file = project / f"Pulumi.{stack}.yaml"
    if not (stack_file.is_file() and _SALT.search(stack_file.read_text())):
        raise InitError(f"{stack_file.name} has no encryptionsalt after the stack was selected; the stack "
                        f"uses another secrets provider: pulumi stack change-secrets-provider passphrase -s {stack}")
    if token is not None:
        pulumi(["config", "set", "--secret", TOKEN_KEY, "-s", stack], project, stdin=token)
    steps = [f"commit {stack_file.name} (its encryptionsalt belongs to the passphrase)"]
    if token is None:
        steps.append(f"store the 1Password token: op read 'op://…' | make stack-init STACK={stack}")
    return steps


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.stack_init", description=__doc__.split("\n\n")[0])
    parser.add_argument("stack", help="the stack to create, e.g. vermissian")
    parser.add_argument("--project-dir", type=Path, default=PROJECT_DIR, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        token = read_token(sys.stdin)
        steps = init_stack(args.stack, args.project_dir, os.environ, token)
    except InitError as error:
        print(f"stack-init: {error}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as error:
        print(f"stack-init: `{' '.join(map(str, error.cmd))}` failed (exit {error.returncode}); see above",
              file=sys.stderr)
        return 1
    stored = " and the 1Password token stored as a secret" if token else ""
    print(f"stack-init: stack {args.stack} is ready on {os.environ['PULUMI_BACKEND_URL']}{stored}. Next:")
    for step in steps:
        print(f"  - {step}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
