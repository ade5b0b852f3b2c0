"""Remote workspace hosts: Coder's SSH identity for them, and the images pre-pulled on each.

``HostsIdentity`` resolves ``egoengine:secrets.hostsSshKey`` (an ED25519 key from pulumi-tls, a
config secret or a 1Password field), publishes its public key, and builds the files the Coder
container gets (the private key and a ``known_hosts`` of the pinned host keys, uploaded with mode
600 for Coder's user). ``HostImages`` pulls each host's workspace images through one docker
provider per host over ``ssh://`` with strict host key checking, so a host that cannot pull fails
``up`` under its own name.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any, TypedDict

import pulumi
import pulumi_docker as docker
from typing_extensions import NotRequired

from components import settings as cfg
from components import template_variables as tv
from components.errors import ConfigError
from components.settings.hosts import HostSettings, known_hosts
from components.secrets import read_onepassword_now

KEY_CONFIG_KEY = f"{cfg.NAMESPACE}:secrets.hostsSshKey"

CODER_UID = "1000"
"""Coder's user in its image (coder/coder scripts/Dockerfile.base: ``USER 1000:1000``)."""
CODER_SSH_DIR = "/home/coder/.ssh/egoengine-hosts"
CODER_IDENTITY_FILE = f"{CODER_SSH_DIR}/id_ed25519"
CODER_KNOWN_HOSTS_FILE = f"{CODER_SSH_DIR}/known_hosts"

DEPLOY_SSH_DIR_ENV = "EGOENGINE_SSH_DIR"
"""Where the deploy machine keeps its copy of the key and known_hosts (default ~/.ssh/egoengine/<stack>)."""


def ssh_options(identity_file: str, known_hosts_file: str) -> list[str]:
    """ssh flags for ``docker system dial-stdio`` over ``ssh://``: only the pinned host keys are
    trusted (no prompt, no learning new keys), and only our identity is offered."""
    return [
        "-o", "StrictHostKeyChecking=yes",
        "-o", f"UserKnownHostsFile={known_hosts_file}",
        "-o", "GlobalKnownHostsFile=/dev/null",
        "-o", "IdentitiesOnly=yes",
        "-o", "BatchMode=yes",
        "-i", identity_file,
    ]


def template_variables(hosts: list[HostSettings]) -> dict[str, str]:
    """What every template gets to offer the hosts (the same with or without hosts)."""
    listed = [
        {"name": h.name, "uri": h.docker_uri, "gpus": h.gpus, "description": h.description or ""}
        for h in hosts
    ]
    return {
        tv.WORKSPACE_HOSTS: json.dumps(listed, separators=(",", ":")),
        tv.HOSTS_IDENTITY_FILE: CODER_IDENTITY_FILE,
        tv.HOSTS_KNOWN_HOSTS_FILE: CODER_KNOWN_HOSTS_FILE,
    }


def workspace_images(settings: cfg.Settings) -> list[str]:
    """The images the templates start workspaces from (``base`` or child names), sorted."""
    templates = settings.templates
    used = {templates.workspace_image}
    for name in templates.discover():
        override = templates.overrides.get(name)
        if override is not None and override.workspace_image is not None:
            used.add(override.workspace_image)
        else:
            used.add(templates.workspace_image)
    return sorted(used)


def deploy_ssh_dir(stack: str) -> Path:
    configured = os.environ.get(DEPLOY_SSH_DIR_ENV)
    return Path(configured) if configured else Path.home() / ".ssh" / "egoengine" / stack


def _private_files(directory: Path, private_key: str, known_hosts_text: str) -> dict[Path, str]:
    contents = {"id_ed25519": private_key, "known_hosts": known_hosts_text}
    return {directory / name: text if text.endswith("\n") else text + "\n" for name, text in contents.items()}


def write_private_files(directory: Path, private_key: str, known_hosts_text: str) -> tuple[str, str]:
    """Write the key and known_hosts (0700 directory, 0600 files); same content, same bytes."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    directory.chmod(0o700)
    files = _private_files(directory, private_key, known_hosts_text)
    for path, content in files.items():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(content)
        path.chmod(0o600)
    key_path, known_hosts_path = files
    return str(key_path), str(known_hosts_path)


def current_private_files(directory: Path, private_key: str, known_hosts_text: str) -> tuple[str, str] | None:
    """The files' paths when an earlier ``up`` left exactly this content there, else ``None``."""
    files = _private_files(directory, private_key, known_hosts_text)
    for path, content in files.items():
        if not path.is_file() or path.read_text(encoding="utf-8") != content:
            return None
    key_path, known_hosts_path = files
    return str(key_path), str(known_hosts_path)


def deploy_ssh_options(directory: Path, private_key: str, known_hosts_text: str) -> pulumi.Output[list[str]]:
    """ssh options for the pre-pull providers. ``up`` writes the files first; preview writes
    nothing (no side effects): it names the files an earlier ``up`` left current, else the
    options stay unknown and the engine leaves the host providers unconfigured in that preview."""
    if not pulumi.runtime.is_dry_run():
        return pulumi.Output.from_input(ssh_options(*write_private_files(directory, private_key, known_hosts_text)))
    current = current_private_files(directory, private_key, known_hosts_text)
    if current is not None:
        return pulumi.Output.from_input(ssh_options(*current))
    unknown: pulumi.Output[list[str]] = pulumi.Output(set(), _resolved([]), _resolved(False), _resolved(False))
    return unknown


def _resolved(value: Any) -> asyncio.Future[Any]:
    future: asyncio.Future[Any] = asyncio.get_event_loop().create_future()
    future.set_result(value)
    return future


def _check_private_key(value: str) -> str:
    if "BEGIN OPENSSH PRIVATE KEY" not in value:
        raise ConfigError(
            KEY_CONFIG_KEY,
            "does not hold an OpenSSH private key",
            "an unencrypted ED25519 key in OpenSSH format (ssh-keygen -t ed25519 -N '')",
        )
    return value


class HostsIdentityArgs(TypedDict):
    hosts: list[HostSettings]
    key_source: cfg.SecretSource
    deploy_ssh_dir: Path
    """Where this machine keeps the key and known_hosts for the pre-pull providers' ssh."""
    tls_provider: pulumi.ProviderResource
    onepassword_provider: NotRequired[pulumi.ProviderResource]


class HostsIdentity(pulumi.ComponentResource):
    """Coder's SSH key for the workspace hosts, and the files that carry it."""

    private_key: pulumi.Output[str]
    public_key: pulumi.Output[str]
    known_hosts: str
    coder_uploads: list[docker.ContainerUploadArgs]
    deploy_ssh_options: pulumi.Output[list[str]]

    def __init__(
        self, name: str, args: HostsIdentityArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("egoengine:hosts:Identity", name, None, opts)
        import pulumi_tls as tls  # here, not at the top: a stack without hosts never loads it

        source = args["key_source"]
        invoke = pulumi.InvokeOptions(provider=args["tls_provider"], parent=self)
        if source.kind == "generate":
            key = tls.PrivateKey(
                f"{name}-key",
                algorithm="ED25519",
                # A new key would lock Coder out of every host until re-authorized.
                opts=pulumi.ResourceOptions(parent=self, provider=args["tls_provider"], protect=True),
            )
            self.private_key = pulumi.Output.secret(key.private_key_openssh)
            public = key.public_key_openssh
        else:
            # Read and checked now, not in an apply: an error there would fail every resource the
            # key feeds, each with its own "Future exception was never retrieved" traceback.
            if source.kind == "config":
                cfg.config_secret(source.config_key, referenced_by=KEY_CONFIG_KEY)  # set, and a secret
                raw = pulumi.Config(cfg.NAMESPACE).require(source.config_key)
            else:
                assert source.op_ref is not None
                provider = args.get("onepassword_provider")
                if provider is None:
                    raise ConfigError(KEY_CONFIG_KEY, "uses op:// but no 1Password provider is configured", "a 1Password token")
                raw = read_onepassword_now(source.op_ref, provider=provider, key=KEY_CONFIG_KEY, parent=self)
            self.private_key = pulumi.Output.secret(_check_private_key(raw))
            public = tls.get_public_key_output(
                private_key_openssh=self.private_key, opts=invoke
            ).public_key_openssh
        # The public half is for authorized_keys: not a secret (the invoke input was one).
        self.public_key = pulumi.Output.unsecret(pulumi.Output.from_input(public)).apply(str.strip)
        self.known_hosts = known_hosts(args["hosts"])
        self.coder_uploads = [
            docker.ContainerUploadArgs(
                file=CODER_IDENTITY_FILE,
                content=self.private_key,
                permissions="0600",
                owner=CODER_UID,
                group=CODER_UID,
            ),
            docker.ContainerUploadArgs(
                file=CODER_KNOWN_HOSTS_FILE,
                content=self.known_hosts,
                permissions="0600",
                owner=CODER_UID,
                group=CODER_UID,
            ),
        ]
        directory = args["deploy_ssh_dir"]
        known_hosts_text = self.known_hosts
        # The pre-pull providers run ssh on this machine: it needs the same two files, written
        # once the key is known, by ``up`` only.
        written: pulumi.Output[list[str]] = self.private_key.apply(
            lambda key: deploy_ssh_options(directory, key, known_hosts_text)
        )
        self.deploy_ssh_options = pulumi.Output.unsecret(written)
        self.register_outputs({"public_key": self.public_key})


def hosts_identity(
    name: str,
    settings: cfg.Settings,
    parent: pulumi.Resource,
    tls_provider: pulumi.ProviderResource | None,
    onepassword_provider: pulumi.ProviderResource | None,
    ssh_dir: Path | None,
) -> HostsIdentity | None:
    """Coder's SSH identity for ``egoengine:hosts`` (none without remote hosts)."""
    if not settings.hosts:
        return None
    assert tls_provider is not None, "the program creates the tls provider when hosts are configured"
    identity_args = HostsIdentityArgs(
        hosts=settings.hosts,
        key_source=settings.secrets.source("hosts_ssh_key"),
        deploy_ssh_dir=ssh_dir or deploy_ssh_dir(settings.stack),
        tls_provider=tls_provider,
    )
    if onepassword_provider is not None:
        identity_args["onepassword_provider"] = onepassword_provider
    return HostsIdentity(name, identity_args, opts=pulumi.ResourceOptions(parent=parent))


def host_images(
    prefix: str,
    settings: cfg.Settings,
    identity: HostsIdentity | None,
    image_refs: dict[str, pulumi.Output[str]],
    parent: pulumi.Resource,
) -> list[pulumi.Resource]:
    """Each host pulls the images its workspaces start from, before the first workspace."""
    if identity is None:
        return []
    used = workspace_images(settings)
    return [
        HostImages(
            f"{prefix}-{host.name}",
            HostImagesArgs(
                host=host,
                images={image: image_refs[image] for image in used},
                ssh_options=identity.deploy_ssh_options,
            ),
            opts=pulumi.ResourceOptions(parent=parent),
        )
        for host in settings.hosts
    ]


class HostImagesArgs(TypedDict):
    host: HostSettings
    images: dict[str, pulumi.Input[str]]
    """Image name (``base`` or a child) -> pinned reference the host's workspaces use."""
    ssh_options: pulumi.Input[list[str]]


class HostImages(pulumi.ComponentResource):
    """One host's docker provider over ssh:// and the images pulled into that host's store."""

    provider: docker.Provider
    images: dict[str, docker.RemoteImage]

    def __init__(
        self, name: str, args: HostImagesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("egoengine:hosts:HostImages", name, None, opts)
        host = args["host"]
        self.provider = docker.Provider(
            f"{name}-docker",
            host=host.docker_uri,
            ssh_opts=args["ssh_options"],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.images = {
            image: docker.RemoteImage(
                f"{name}-{image}",
                name=ref,
                keep_locally=True,
                opts=pulumi.ResourceOptions(parent=self, provider=self.provider),
            )
            for image, ref in sorted(args["images"].items())
        }
        self.register_outputs({})
