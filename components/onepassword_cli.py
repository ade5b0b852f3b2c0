"""The 1Password CLI that pulumi-onepassword needs on the deploy machine, checked before anything else.

With a service-account token, pulumi-onepassword (a bridge of terraform-provider-onepassword v2)
does not call an API itself: it runs the ``op`` CLI (``onepassword:opCliPath``, else
``OP_CLI_PATH``, else ``op`` on PATH) and refuses one older than 2.23.0
(internal/onepassword/cli/op.go: ``minimumOpCliVersion``). Without this check the first read of
an ``op://`` secret fails deep inside a preview; with it the program stops first, with one line.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping

import pulumi

from components.egoengine import needed_secrets
from components.errors import ConfigError
from components.secrets import needs_onepassword
from components.settings import Settings

MINIMUM_VERSION = (2, 23, 0)
# `op --version` needs no token and no configuration: it gets these and nothing else.
_PROBE_NAMES = ("PATH", "HOME", "LANG", "TMPDIR", "XDG_CONFIG_HOME")
CONFIG_KEY = "onepassword:opCliPath"
_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)")
_EXPECTED = (
    "the 1Password CLI op >= 2.23.0 on the deploy machine (NixOS: pkgs._1password-cli in the "
    "runner's extraPackages; elsewhere: 1Password's CLI install guide), or "
    "onepassword:opCliPath set to its path"
)


def _minimum() -> str:
    return ".".join(map(str, MINIMUM_VERSION))


def find_op(configured: str | None, environ: Mapping[str, str]) -> tuple[str, str | None]:
    """``(what was asked for, the executable found or None)``, in the provider's own order."""
    wanted = configured or environ.get("OP_CLI_PATH") or "op"
    if "/" in wanted:
        found = wanted if os.path.isfile(wanted) and os.access(wanted, os.X_OK) else None
    else:
        found = shutil.which(wanted, path=environ.get("PATH"))
    return wanted, found


def op_version(executable: str, environ: Mapping[str, str]) -> tuple[int, int, int] | None:
    """``op --version`` (e.g. ``2.30.3``), or None when it does not answer with a version."""
    try:
        completed = subprocess.run(
            [executable, "--version"], env={name: environ[name] for name in _PROBE_NAMES if name in environ},
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=20, check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = _VERSION.match(completed.stdout.strip())
    if completed.returncode != 0 or match is None:
        return None
    return int(match[1]), int(match[2]), int(match[3])


def check_op_cli(configured: str | None, environ: Mapping[str, str]) -> str:
    """The usable ``op``'s version, or ``ConfigError`` (one line) naming the install and the key."""
    wanted, found = find_op(configured, environ)
    if found is None:
        where = "is not on PATH" if "/" not in wanted else "is not an executable file"
        raise ConfigError(CONFIG_KEY, f"the 1Password CLI {wanted!r} {where}, and a secret uses op://", _EXPECTED)
    version = op_version(found, environ)
    if version is None:
        raise ConfigError(CONFIG_KEY, f"{found} --version did not print a version", _EXPECTED)
    if version < MINIMUM_VERSION:
        shown = ".".join(map(str, version))
        raise ConfigError(
            CONFIG_KEY, f"the 1Password CLI {found} is {shown}, older than {_minimum()}", _EXPECTED
        )
    return ".".join(map(str, version))


def needs_op(settings: Settings) -> bool:
    """Whether any secret this stack resolves comes from ``op://``."""
    return needs_onepassword(settings.secrets, needed_secrets(settings))


def require_op_cli(settings: Settings) -> None:
    """Stop the program with one line when a secret uses ``op://`` and ``op`` cannot serve it."""
    if needs_op(settings):
        check_op_cli(pulumi.Config("onepassword").get("opCliPath"), os.environ)
