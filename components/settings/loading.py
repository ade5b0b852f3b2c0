"""Reading the stack's config: the only module that reads ``pulumi.Config``."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import pulumi
from pydantic import ValidationError

from components import engine_facts
from components.engine_facts import EngineFacts
from components.errors import ConfigError
from components.input_error import InputError
from components.settings import hosts, keys, stack_file
from components.settings import values as settings_values
from components.settings.keys import KeyEntry
from components.settings.messages import config_error
from components.settings.model import Settings
from components.settings.secrets import SecretsSettings
from components.settings.values import NAMESPACE

# --- host facts ----------------------------------------------------------------------------------


class HostFacts(NamedTuple):
    """Read-only facts about the deploy machine (injected so tests and the offline plan can stub)."""

    socket_gid: Callable[[str], int | None]
    engine: Callable[[str], EngineFacts | None] = lambda _path: None
    """What the engine on a local socket says it is (``components.engine_facts``)."""


def _stat_socket_gid(path: str) -> int | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_gid if stat.S_ISSOCK(info.st_mode) else None


LOCAL_HOST = HostFacts(socket_gid=_stat_socket_gid, engine=engine_facts.query)


class ResolvedSettings(NamedTuple):
    """Settings plus what was looked up on the host."""

    settings: Settings
    socket_gid: int
    engine_kind: str = "unknown"
    """``podman`` or ``docker`` as the local engine says; ``unknown`` for a remote engine."""


# --- loading -------------------------------------------------------------------------------------

def parse_settings(stack: str, values: Mapping[str, Any]) -> Settings:
    """Validate raw config objects (``{"coder": {...}, ...}``) into ``Settings``.

    Raises ``ConfigError`` naming the first bad key.
    """
    try:
        settings = Settings.model_validate({"stack": stack, **values})
    except ValidationError as exc:
        raise config_error(exc, Settings) from None
    try:
        settings.images.check_children()
    except InputError as error:  # image_build's checks are pulumi-free (the helpers share them)
        raise ConfigError.of(error) from None
    settings.templates.check_templates()
    hosts.check(settings)
    return settings


def resolve_host_facts(settings: Settings, host: HostFacts) -> ResolvedSettings:
    gid = settings.engine.socket_gid
    if gid is None and settings.engine.socket_path is not None:
        gid = host.socket_gid(settings.engine.socket_path)
        if gid is None:
            raise ConfigError(
                f"{NAMESPACE}:engine.socketGid",
                f"is not set and the engine socket {settings.engine.socket_path} cannot be found here",
                "the numeric group id owning the engine socket, or a reachable "
                "egoengine:engine.host (is Docker or Podman running?)",
            )
    if gid is None:
        raise ConfigError(
            f"{NAMESPACE}:engine.socketGid",
            "is required for a remote engine",
            "the numeric group id owning the engine socket on that host",
        )
    facts = host.engine(settings.engine.socket_path) if settings.engine.socket_path else None
    if facts is not None and facts.rootless:
        # A rootless engine's user namespace does not map the host's groups, so the socket's
        # group added to the Coder container grants nothing: Coder could not create workspaces.
        raise ConfigError(
            f"{NAMESPACE}:engine.host",
            f"is a rootless {facts.kind} socket ({settings.engine.socket_path}), whose user namespace "
            "does not map the socket's group into the Coder container",
            "a rootful socket: unix:///run/podman/podman.sock (sudo systemctl enable --now "
            "podman.socket, or podman system service as root) or Docker's unix:///var/run/docker.sock",
        )
    return ResolvedSettings(settings, gid, facts.kind if facts else "unknown")


def _stack_file(stack: str) -> stack_file.StackFile | None:
    """The stack's file in the project, strictly read (YAML errors, duplicate keys), if there."""
    try:
        return stack_file.read(settings_values.PROJECT_ROOT / f"Pulumi.{stack}.yaml")
    except FileNotFoundError:
        return None


def engine_entries(known_file: stack_file.StackFile | None = None) -> list[KeyEntry]:
    """Every ``egoengine:*`` key the engine handed to the program, secret or not, with its line
    in the stack file when it is there."""
    from pulumi.runtime import config as runtime_config

    config = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    env_secrets = set(runtime_config.get_config_secret_keys_env())
    return [
        KeyEntry(
            key,
            runtime_config.is_config_secret(key) or key in env_secrets,
            value,
            known_file.lines.get(key) if known_file else None,
        )
        for key, value in sorted(config.items())
        if key.startswith(f"{NAMESPACE}:")
    ]


def named_secrets(settings: Settings) -> dict[str, str]:
    """Config keys named by ``config:<key>`` secret sources -> the setting that names them."""
    named: dict[str, str] = {}
    for field, info in SecretsSettings.model_fields.items():
        source = settings.secrets.source(field)
        if source.kind == "config":
            named.setdefault(source.config_key, f"{NAMESPACE}:secrets.{info.alias or field}")
    return named


def load(host: HostFacts = LOCAL_HOST) -> ResolvedSettings:
    """Read this stack's config through ``pulumi.Config`` and validate it: every key, then every
    object (``keys``), the stack file read strictly on the way (``stack_file``)."""
    stack = pulumi.get_stack()
    known_file = _stack_file(stack)
    file_name = known_file.name if known_file else None
    entries = engine_entries(known_file)
    keys.check_names(entries, file_name)
    config = pulumi.Config(NAMESPACE)
    objects: dict[str, Any] = {}
    for key in keys.TOP_LEVEL_KEYS:
        try:
            value = config.get_object(key)
        except (ValueError, pulumi.ConfigTypeError):
            # Pulumi's own message echoes the value, which may be a misplaced secret.
            raise ConfigError(
                f"{NAMESPACE}:{key}", "is not valid YAML/JSON", "an object (see the README)"
            ) from None
        if value is not None:
            objects[key] = value
    settings = parse_settings(stack, objects)
    keys.check_references(entries, named_secrets(settings), file_name)
    return resolve_host_facts(settings, host)


def config_secret(key: str, *, referenced_by: str) -> pulumi.Output[str]:
    """A ``egoengine:<key>`` config secret, named by a ``config:<key>`` secret source."""
    value = pulumi.Config(NAMESPACE).get_secret(key)
    if value is None:
        raise ConfigError(
            f"{NAMESPACE}:{key}",
            f"is not set (it is named by {referenced_by})",
            f"a secret: pulumi config set --secret {NAMESPACE}:{key} <value>",
        )
    return value


def onepassword_token() -> pulumi.Output[str] | None:
    """The 1Password service-account token: the provider's own config secret, or ``None`` when
    ``OP_SERVICE_ACCOUNT_TOKEN`` is set in the deploy's environment (as in CI), which the provider
    SDK then reads itself and keeps as a secret input."""
    value = pulumi.Config("onepassword").get_secret("serviceAccountToken")
    if value is None and not os.environ.get("OP_SERVICE_ACCOUNT_TOKEN"):
        raise ConfigError(
            "onepassword:serviceAccountToken",
            "is not set (nor OP_SERVICE_ACCOUNT_TOKEN) but a secret source uses op://",
            "a service-account token: pulumi config set --secret onepassword:serviceAccountToken "
            "<token>, or OP_SERVICE_ACCOUNT_TOKEN in the deploy's environment",
        )
    return value
