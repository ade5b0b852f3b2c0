"""Names of the Terraform variables the program passes to every Coder template.

Shared by the template component (which sends them), the preview check
(:mod:`components.template_check`: each template declares them, the secret ones ``sensitive``) and
the template tests.
"""

WORKSPACE_IMAGE = "workspace_image"
"""Immutable egoengine (or child) image reference, ``repo:tag@sha256:...``; no default in the template."""

WORKSPACE_USER = "workspace_user"
"""The image's user (``joshsymonds``); the agent runs as this user and home is ``/home/<user>``."""

DOCKER_SOCKET = "docker_socket"
"""Engine socket URI the workspace containers are created through."""

OP_SERVICE_ACCOUNT_TOKEN = "op_service_account_token"
"""1Password service-account token handed to workspaces (sensitive; empty disables the Codex step)."""

WORKSPACE_NETWORK = "workspace_network"
"""Engine network the workspace container joins: the stack network when Coder is bridged, so the
agent reaches Coder there; empty (Coder on the host network) keeps the engine's default network."""

CODER_AGENT_URL = "coder_agent_url"
"""URL the agent downloads its binary from and connects to: the Coder container's alias and port on
the stack network (``http://coder:7080``) when Coder is bridged; empty (host network) means the
access URL, which the provisioner already gives the coder provider as ``CODER_AGENT_URL``."""

WORKSPACE_HOSTS = "workspace_hosts"
"""JSON list of the remote hosts (``name``, ``uri``, ``gpus``, ``description``); ``[]`` for none."""

HOSTS_IDENTITY_FILE = "hosts_identity_file"
"""Path of the hosts' SSH private key inside the Coder container."""

HOSTS_KNOWN_HOSTS_FILE = "hosts_known_hosts_file"
"""Path of the ``known_hosts`` built from the pinned host keys, inside the Coder container."""

HOST_VARIABLES: tuple[str, ...] = (WORKSPACE_HOSTS, HOSTS_IDENTITY_FILE, HOSTS_KNOWN_HOSTS_FILE)
PLAIN_VARIABLES: tuple[str, ...] = (
    WORKSPACE_IMAGE,
    WORKSPACE_USER,
    DOCKER_SOCKET,
    WORKSPACE_NETWORK,
    CODER_AGENT_URL,
    *HOST_VARIABLES,
)
SECRET_VARIABLES: tuple[str, ...] = (OP_SERVICE_ACCOUNT_TOKEN,)
PROGRAM_VARIABLES: tuple[str, ...] = PLAIN_VARIABLES + SECRET_VARIABLES

