"""Names of the Terraform variables the program passes to every Coder template.

Shared by the template component (which sends them) and the template tests (which check that each
``coder-templates/*/main.tf`` declares them, and marks the secret ones ``sensitive``).
"""

from pathlib import Path

import hcl2

WORKSPACE_IMAGE = "workspace_image"
"""Immutable egoengine (or child) image reference, ``repo:tag@sha256:...``; no default in the template."""

WORKSPACE_USER = "workspace_user"
"""The image's user (``joshsymonds``); the agent runs as this user and home is ``/home/<user>``."""

DOCKER_SOCKET = "docker_socket"
"""Engine socket URI the workspace containers are created through."""

OP_SERVICE_ACCOUNT_TOKEN = "op_service_account_token"
"""1Password service-account token handed to workspaces (sensitive; empty disables the Codex step)."""

WORKSPACE_HOSTS = "workspace_hosts"
"""JSON list of the remote hosts (``name``, ``uri``, ``gpus``, ``description``); ``[]`` for none."""

HOSTS_IDENTITY_FILE = "hosts_identity_file"
"""Path of the hosts' SSH private key inside the Coder container."""

HOSTS_KNOWN_HOSTS_FILE = "hosts_known_hosts_file"
"""Path of the ``known_hosts`` built from the pinned host keys, inside the Coder container."""

HOST_VARIABLES: tuple[str, ...] = (WORKSPACE_HOSTS, HOSTS_IDENTITY_FILE, HOSTS_KNOWN_HOSTS_FILE)
PLAIN_VARIABLES: tuple[str, ...] = (WORKSPACE_IMAGE, WORKSPACE_USER, DOCKER_SOCKET, *HOST_VARIABLES)
SECRET_VARIABLES: tuple[str, ...] = (OP_SERVICE_ACCOUNT_TOKEN,)
PROGRAM_VARIABLES: tuple[str, ...] = PLAIN_VARIABLES + SECRET_VARIABLES


def declared_variables(directory: Path) -> dict[str, bool]:
    """``variable`` blocks declared by a template's ``*.tf`` files: name -> sensitive."""
    declared: dict[str, bool] = {}
    for path in sorted(directory.glob("*.tf")):
        with path.open(encoding="utf-8") as handle:
            document = hcl2.load(handle)
        for block in document.get("variable", []):
            for name, body in block.items():
                declared[name.strip('"')] = str(body.get("sensitive", False)).lower() == "true"
    return declared
