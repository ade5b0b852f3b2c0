"""Typed, validated stack settings: the only module that reads ``pulumi.Config``.

Every object under the ``egoengine:`` namespace is parsed into a frozen pydantic model
(``extra="forbid"``), so a typo or a bad value fails before any resource is declared, with one
message naming the key, what is wrong and what is expected (``ConfigError``). Values that may
hold a secret are never echoed back: a misplaced secret must not end up in an error message.
"""

from __future__ import annotations

import ipaddress
import os
import re
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal, Union
from urllib.parse import urlsplit

import pulumi
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

from components.errors import ConfigError
from components import image_build
from components.image_build import PinnedRef
from components import hosts_settings
from components.hosts_settings import HostSettings

NAMESPACE = "egoengine"
PROJECT_ROOT = Path(__file__).resolve().parent.parent

_SHA256 = re.compile(r"^sha256:[0-9a-f]{64}$")
_SEMVER_TAG = re.compile(r"^v\d+\.\d+\.\d+$")
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_CONTAINER_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$")
_IMAGE_REF = re.compile(
    r"^(?P<repo>[a-z0-9]+(?:[._-][a-z0-9]+)*(?::\d+)?(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*)"
    r":(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})@(?P<digest>sha256:[0-9a-f]{64})$"
)


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, alias_generator=to_camel
    )


# --- value types ---------------------------------------------------------------------------------


def parse_pinned_image(value: str) -> PinnedRef:
    """Parse ``repo:tag@sha256:<64 hex>``; ``latest`` and a missing tag or digest are rejected.

    Stricter than ``PinnedRef.parse`` (which also takes ``repo@digest``): config must name a tag.
    """
    match = _IMAGE_REF.match(value)
    if not match:
        raise ValueError("is not an image reference pinned by tag and digest")
    if match["tag"] == "latest":
        raise ValueError("uses the mutable tag 'latest'")
    return PinnedRef(match["repo"], match["tag"], match["digest"])


@dataclass(frozen=True)
class OnePasswordRef:
    """``op://vault/item/[section/]field``."""

    vault: str
    item: str
    section: str | None
    field: str

    @property
    def uri(self) -> str:
        middle = f"{self.section}/" if self.section else ""
        return f"op://{self.vault}/{self.item}/{middle}{self.field}"


@dataclass(frozen=True)
class SecretSource:
    """Where one secret comes from: generated, a Pulumi config secret, 1Password, or nowhere."""

    kind: Literal["generate", "config", "onepassword", "none"]
    length: int = 0
    config_key: str = ""
    op_ref: OnePasswordRef | None = None


_GENERATE = re.compile(r"^generate(?::(\d+))?$")
_CONFIG_SOURCE = re.compile(r"^config:([A-Za-z][A-Za-z0-9_]*)$")


def parse_secret_source(value: str, *, default_length: int) -> SecretSource:
    """Parse ``generate[:N]``, ``config:<key>``, ``op://vault/item/[section/]field`` or ``none``.

    Messages never contain the value: an operator may have pasted the secret itself here.
    """
    if value == "none":
        return SecretSource("none")
    if match := _GENERATE.match(value):
        length = int(match[1]) if match[1] else default_length
        if not 16 <= length <= 128:
            raise ValueError("asks for a generated length outside 16..128")
        return SecretSource("generate", length=length)
    if match := _CONFIG_SOURCE.match(value):
        return SecretSource("config", config_key=match[1])
    if value.startswith("op://"):
        return SecretSource("onepassword", op_ref=parse_op_ref(value))
    raise ValueError("is not a known secret source")


def parse_op_ref(value: str) -> OnePasswordRef:
    if "?" in value or "#" in value:
        raise ValueError("is a 1Password reference with query attributes, which are not supported")
    parts = value.removeprefix("op://").split("/")
    if len(parts) not in (3, 4) or any(not p.strip() for p in parts):
        raise ValueError("is a malformed 1Password reference")
    if len(parts) == 3:
        return OnePasswordRef(parts[0], parts[1], None, parts[2])
    return OnePasswordRef(parts[0], parts[1], parts[2], parts[3])


# --- settings models -----------------------------------------------------------------------------

_BIND_DESC = "an IP address to bind on, e.g. 127.0.0.1 (loopback) or 0.0.0.0"


class EngineSettings(_Model):
    host: str = Field(
        "unix:///var/run/docker.sock",
        description="the container engine's Docker-compatible API, e.g. unix:///run/podman/podman.sock",
    )
    socket_gid: int | None = Field(
        None, ge=0, le=2**31 - 1, description="the numeric group id owning the engine socket"
    )

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme == "unix":
            if not parts.path.startswith("/"):
                raise ValueError("is a unix socket URI without an absolute path")
        elif parts.scheme in ("tcp", "ssh"):
            if not parts.hostname:
                raise ValueError("has no host name")
        else:
            raise ValueError("is not a unix://, tcp:// or ssh:// URI")
        return value

    @property
    def socket_path(self) -> str | None:
        """The socket's path when the engine is local (unix://), else None."""
        parts = urlsplit(self.host)
        return parts.path if parts.scheme == "unix" else None


def _check_http_url(value: str, *, what: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"is not an http(s) URL with a host ({what})")
    if parts.username or parts.password:
        raise ValueError("carries credentials in the URL")
    try:
        parts.port
    except ValueError as exc:
        raise ValueError("has an invalid port") from exc
    return value.rstrip("/")


def _check_bind_address(value: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError as exc:
        raise ValueError("is not an IP address") from exc
    return value


class CoderSettings(_Model):
    repository: str = Field(
        "ghcr.io/coder/coder", description="the Coder image repository, ghcr.io/coder/coder"
    )
    version: str = Field(..., description="a Coder release tag such as v2.26.6")
    digest: str = Field(..., description="the image digest for that tag, sha256:<64 hex>")
    access_url: str = Field(
        ...,
        description="the URL users reach Coder at, e.g. https://coder.example.com "
        "(required: without it Coder opens a public tunnel)",
    )
    wildcard_access_url: str | None = Field(
        None, description='a wildcard host such as "*.coder.example.com"'
    )
    port: int = Field(7080, ge=1, le=65535, description="a TCP port number 1..65535")
    bind_address: str = Field("127.0.0.1", description=_BIND_DESC)
    network: Literal["bridge", "host"] = Field(
        "bridge", description="'bridge' (published port) or 'host' (host networking)"
    )
    telemetry: bool = Field(False, description="true or false")
    restart: Literal["no", "on-failure", "always", "unless-stopped"] = Field(
        "unless-stopped", description="a restart policy: no, on-failure, always, unless-stopped"
    )
    health_timeout_seconds: int = Field(
        300, ge=10, le=3600, description="seconds to wait for /healthz, 10..3600"
    )
    container_name: str | None = Field(None, description="a container name [a-zA-Z0-9_.-]")

    @field_validator("version")
    @classmethod
    def _version(cls, value: str) -> str:
        if value == "latest" or not _SEMVER_TAG.match(value):
            raise ValueError("is not a pinned release tag")
        return value

    @field_validator("digest")
    @classmethod
    def _digest(cls, value: str) -> str:
        if not _SHA256.match(value):
            raise ValueError("is not a sha256 digest")
        return value

    @field_validator("access_url")
    @classmethod
    def _access_url(cls, value: str) -> str:
        return _check_http_url(value, what="access URL")

    @field_validator("wildcard_access_url")
    @classmethod
    def _wildcard(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^\*\.[A-Za-z0-9.-]+(:\d+)?$", value):
            raise ValueError("is not a wildcard host")
        return value

    @field_validator("bind_address")
    @classmethod
    def _bind(cls, value: str) -> str:
        return _check_bind_address(value)

    @field_validator("container_name")
    @classmethod
    def _container_name(cls, value: str | None) -> str | None:
        if value is not None and not _CONTAINER_NAME.match(value):
            raise ValueError("is not a valid container name")
        return value

    @property
    def image(self) -> PinnedRef:
        return PinnedRef(self.repository, self.version, self.digest)


# PostgreSQL 15, the major version of the host server on vermissian and of Debian 12's pg_dump
# (pg_dump must not be older than the server it dumps).
DEFAULT_POSTGRES_IMAGE = (
    "docker.io/library/postgres:15-bookworm"
    "@sha256:539ceaaae49b3a7c8a04467cf00cc6788d8e3f1675df41860d86eebc4c40524f"
)


def _check_identifier(value: str) -> str:
    if not _NAME.match(value):
        raise ValueError("is not a lower-case PostgreSQL identifier")
    return value


class _DatabaseCommon(_Model):
    name: str = Field("coder", description="a lower-case PostgreSQL identifier")
    user: str = Field("coder", description="a lower-case PostgreSQL identifier")
    sslmode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] = Field(
        "disable", description="a libpq sslmode: disable, require, verify-ca, verify-full, ..."
    )

    @field_validator("name", "user")
    @classmethod
    def _identifier(cls, value: str) -> str:
        return _check_identifier(value)


class ContainerDatabase(_DatabaseCommon):
    mode: Literal["container"]
    image: str = Field(
        DEFAULT_POSTGRES_IMAGE, description="a postgres image pinned as repo:tag@sha256:<digest>"
    )
    volume_name: str | None = Field(None, description="a volume name [a-zA-Z0-9_.-]")
    host_port: int = Field(
        15432, ge=1024, le=65535, description="a loopback port 1024..65535 for the deploy machine"
    )
    container_name: str | None = Field(None, description="a container name [a-zA-Z0-9_.-]")

    @field_validator("image")
    @classmethod
    def _image(cls, value: str) -> str:
        parse_pinned_image(value)
        return value

    @field_validator("volume_name", "container_name")
    @classmethod
    def _names(cls, value: str | None) -> str | None:
        if value is not None and not _CONTAINER_NAME.match(value):
            raise ValueError("is not a valid container or volume name")
        return value


class ExternalDatabase(_DatabaseCommon):
    mode: Literal["external"]
    host: str = Field(..., description="the PostgreSQL server's host name or IP")
    port: int = Field(5432, ge=1, le=65535, description="a TCP port number 1..65535")
    admin_user: str = Field("postgres", description="a role that may create roles and databases")
    admin_database: str = Field("postgres", description="the database the admin connects to")
    admin_is_superuser: bool = Field(True, description="true or false")
    coder_host: str | None = Field(
        None, description="the host Coder's container uses to reach PostgreSQL (default: host)"
    )

    @field_validator("host", "coder_host")
    @classmethod
    def _host(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^[A-Za-z0-9.:_-]+$", value):
            raise ValueError("is not a host name or IP address")
        return value


DatabaseSettings = Annotated[
    Union[ContainerDatabase, ExternalDatabase], Field(discriminator="mode")
]


class BackupSettings(_Model):
    directory: str = Field(
        "backups", description="a directory for pg_dump files (relative to the project, or absolute)"
    )
    keep: int = Field(7, ge=1, le=1000, description="how many dumps to keep, at least 1")
    pg_dump: str = Field("pg_dump", description="the pg_dump executable (name or absolute path)")

    @field_validator("directory", "pg_dump")
    @classmethod
    def _plain_path(cls, value: str) -> str:
        # Both end up in a command line: keep them to characters that need no quoting.
        if not re.match(r"^[A-Za-z0-9_./-]+$", value) or ".." in value.split("/"):
            raise ValueError("has characters outside [A-Za-z0-9_./-] or a '..' component")
        return value


_SECRET_DESC = "generate[:length], config:<key>, op://vault/item/[section/]field, or none"


class SecretsSettings(_Model):
    database_password: str = Field("generate:32", description=_SECRET_DESC)
    database_admin_password: str = Field("generate:32", description=_SECRET_DESC)
    provisioner_psk: str = Field("generate:48", description=_SECRET_DESC)
    admin_password: str = Field("generate:24", description=_SECRET_DESC)
    op_service_account_token: str = Field("none", description=_SECRET_DESC)
    codex_auth: str = Field("none", description=_SECRET_DESC)
    registry_password: str = Field("none", description=_SECRET_DESC)
    hosts_ssh_key: str = Field("generate", description="generate, config:<key> or op://vault/item/[section/]field")

    @field_validator("*")
    @classmethod
    def _source(cls, value: str) -> str:
        parse_secret_source(value, default_length=32)
        return value

    @model_validator(mode="after")
    def _required(self) -> "SecretsSettings":
        for required in (
            "database_password", "database_admin_password", "provisioner_psk", "admin_password"
        ):
            if getattr(self, required) == "none":
                raise _FieldError(required, "may not be 'none': this secret is required")
        return self

    def source(self, name: str) -> SecretSource:
        return parse_secret_source(getattr(self, name), default_length=32)


class _FieldError(ValueError):
    """A model-level check that belongs to one field, so the error names that field's key."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(problem)
        self.field = field


class AdminSettings(_Model):
    email: str = Field("admin@egoengine.local", description="an e-mail address for the first admin")
    username: str = Field("admin", description="a Coder user name [a-z0-9-], 1..32 characters")
    full_name: str = Field("egoengine admin", description="the admin's display name")
    token_name: str = Field("egoengine-operator", description="a token name [a-z0-9-]")
    token_lifetime_hours: int = Field(
        168, ge=1, le=87600, description="token lifetime in hours, 1..87600"
    )

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        if not re.match(r"^[^@\s]+@[^@\s]+$", value):
            raise ValueError("is not an e-mail address")
        return value

    @field_validator("username", "token_name")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not re.match(r"^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$", value):
            raise ValueError("is not a lower-case name of letters, digits and dashes")
        return value


_GIT_SHA = re.compile(r"^[0-9a-f]{7,40}$")
_IMAGE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_REPOSITORY = re.compile(
    r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::\d+)?(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)+$"
)


def _check_repository(value: str) -> str:
    if not _REPOSITORY.match(value):
        raise ValueError("is not an image repository such as ghcr.io/owner/name")
    return value


def _project_dir(value: str) -> str:
    path = PurePosixPath(value)
    if path.is_absolute() or ".." in path.parts or not (PROJECT_ROOT / path).is_dir():
        raise ValueError("is not a directory inside the project")
    return value


class BaseImageSettings(_Model):
    repository: str = Field(
        "ghcr.io/joshsymonds/nix-config/egoengine", description="the base image repository"
    )
    tag: str = Field(..., description="the git sha the base image's CI pushed (7-40 hex)")
    digest: str | None = Field(
        None,
        description="sha256:<64 hex> to pin offline; when absent the digest is looked up in the registry",
    )
    user: str = Field("joshsymonds", description="the image's user (devcontainer runArgs --user)")

    @field_validator("repository")
    @classmethod
    def _repository(cls, value: str) -> str:
        return _check_repository(value)

    @field_validator("digest")
    @classmethod
    def _digest(cls, value: str | None) -> str | None:
        if value is not None and not _SHA256.match(value):
            raise ValueError("is not a sha256 digest")
        return value

    @model_validator(mode="after")
    def _immutable(self) -> "BaseImageSettings":
        if not _GIT_SHA.match(self.tag) and self.digest is None:
            raise _FieldError(
                "tag", "is not an immutable git sha (and no digest is pinned)"
            )
        return self


class ChildImageSettings(_Model):
    name: str = Field(..., description="a lower-case image name, e.g. creative-lab")
    builder: Literal["containerfile", "nix"] = Field(
        "containerfile", description="'containerfile' or 'nix'"
    )
    repository: str = Field(..., description="where the child is pushed, e.g. ghcr.io/owner/name")
    context: str | None = Field(
        None, description="the build context directory under images/ (containerfile builder)"
    )
    flake: str | None = Field(
        None, description="the directory holding flake.nix (nix builder), not the project root"
    )
    attr: str | None = Field(None, description="the flake attribute: nix build .#<attr>")
    env_local: list[str] = Field(
        default_factory=list, description="lines for the base user's ~/.env.local"
    )
    links: dict[str, str] = Field(
        default_factory=dict, description="link name in ~/.local/bin -> absolute target path"
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _IMAGE_NAME.match(value):
            raise ValueError("is not a lower-case name of letters, digits and dashes")
        return value

    @field_validator("repository")
    @classmethod
    def _repository(cls, value: str) -> str:
        return _check_repository(value)

    @field_validator("context", "flake")
    @classmethod
    def _directory(cls, value: str | None) -> str | None:
        return None if value is None else _project_dir(value)


class RegistrySettings(_Model):
    username: str | None = Field(
        None, description="the registry user for pushes (password: secrets.registryPassword)"
    )
    insecure: bool = Field(False, description="true only for a plain-HTTP test registry")


class ImagesSettings(_Model):
    base: BaseImageSettings
    registry: RegistrySettings = RegistrySettings()
    children: list[ChildImageSettings] = Field(default_factory=list, description="child images")

    @model_validator(mode="after")
    def _unique(self) -> "ImagesSettings":
        names = [child.name for child in self.children]
        for index, name in enumerate(names):
            if name == "base" or names.index(name) != index:
                raise _FieldError(f"children.{index}.name", "is used twice (or is 'base')")
        return self

    def check_children(self) -> None:
        """File-level checks of each child (Containerfile head, flake attr, extras), named by key."""
        for index, child in enumerate(self.children):
            if child.builder == "containerfile":
                if child.context is None:
                    raise ConfigError(
                        image_build.child_key(index, "context"),
                        "is missing for a containerfile child",
                        "a build context directory under images/",
                    )
                image_build.validate_containerfile_context(
                    PROJECT_ROOT / child.context, image_build.child_key(index, "context")
                )
            else:
                if child.flake is None or PurePosixPath(child.flake) == PurePosixPath("."):
                    # The flake's files feed the immutable tag: the whole project would change
                    # it with every unrelated edit.
                    raise ConfigError(
                        image_build.child_key(index, "flake"),
                        "is missing or the project root",
                        "the directory of the child's flake (its files decide the image tag)",
                    )
                if child.attr is None:
                    raise ConfigError(
                        image_build.child_key(index, "attr"),
                        "is missing for a nix child",
                        "a flake attribute such as creative-lab",
                    )
                image_build.validate_flake_attr(child.attr, image_build.child_key(index, "attr"))
                image_build.validate_flake_dir(
                    PROJECT_ROOT / child.flake, image_build.child_key(index, "flake")
                )
            image_build.parse_extras(
                child.env_local, child.links, f"egoengine:images.children[{index}]"
            )


class TemplateOverride(_Model):
    display_name: str | None = Field(None, description="the template's display name")
    description: str | None = Field(None, description="up to 127 bytes of UTF-8 (Coder's limit)")
    icon: str | None = Field(None, description="an icon path or URL, e.g. /icon/docker.png")
    variables: dict[str, str] = Field(
        default_factory=dict, description="extra Terraform variables the template declares"
    )
    provisioner_tags: dict[str, str] | None = Field(
        None, description="provisioner tags for this template (default: templates.provisionerTags)"
    )
    workspace_image: str | None = Field(
        None, description="'base' or the name of a child image (default: templates.workspaceImage)"
    )


    @field_validator("description")
    @classmethod
    def _description(cls, value: str | None) -> str | None:
        if value is not None and len(value.encode()) > 127:
            raise ValueError("is longer than 127 bytes")
        return value


class TemplatesSettings(_Model):
    directory: str = Field(
        "coder-templates", description="the directory whose subdirectories are Coder templates"
    )
    workspace_image: str = Field(
        "base", description="'base' or the name of a child image, passed as workspace_image"
    )
    provisioner_tags: dict[str, str] = Field(
        default_factory=dict, description="provisioner tags, e.g. {scope: organization}"
    )
    import_timeout_seconds: int = Field(
        600, ge=30, le=7200, description="seconds to wait for a template import, 30..7200"
    )
    overrides: dict[str, TemplateOverride] = Field(
        default_factory=dict, description="per-template settings keyed by directory name"
    )

    @field_validator("directory")
    @classmethod
    def _directory(cls, value: str) -> str:
        return _project_dir(value)

    def check_variables(self) -> None:
        """Extra variables must be declared by their template and not be ones the program sets."""
        from components import template_variables

        for name, override in self.overrides.items():
            declared = template_variables.declared_variables(PROJECT_ROOT / self.directory / name)
            for variable in override.variables:
                key = f"{NAMESPACE}:templates.overrides.{name}.variables.{variable}"
                if variable in template_variables.PROGRAM_VARIABLES:
                    raise ConfigError(key, "is set by the program", "a variable the stack does not set")
                if variable not in declared:
                    raise ConfigError(
                        key, f"is not declared by the template {name}", "a variable its main.tf declares"
                    )
                if declared[variable]:
                    raise ConfigError(
                        key,
                        "is a sensitive variable and would be stored in plain config",
                        "a non-sensitive variable (sensitive ones come from egoengine:secrets)",
                    )

    def discover(self) -> list[str]:
        """Template names: the subdirectories holding Terraform, sorted."""
        root = PROJECT_ROOT / self.directory
        return sorted(
            entry.name
            for entry in root.iterdir()
            if entry.is_dir()
            and not entry.name.startswith(".")
            and any(entry.glob("*.tf")) | any(entry.glob("*.tf.json"))
        )


class Settings(_Model):
    """Everything the program reads from a stack's configuration."""

    stack: str
    engine: EngineSettings = EngineSettings()
    coder: CoderSettings
    database: DatabaseSettings = Field(
        default_factory=lambda: ContainerDatabase(mode="container"),
        description="mode: container or external",
    )
    backup: BackupSettings = BackupSettings()
    secrets: SecretsSettings = SecretsSettings()
    admin: AdminSettings = AdminSettings()
    images: ImagesSettings = Field(..., description="an object with at least base.tag (see the README)")
    templates: TemplatesSettings = TemplatesSettings()
    hosts: list[HostSettings] = Field(default_factory=list, description="a list of workspace hosts (see the README)")

    @model_validator(mode="after")
    def _cross_checks(self) -> "Settings":
        local_engine = self.engine.socket_path is not None
        if isinstance(self.database, ContainerDatabase):
            if not local_engine:
                # The provider and pg_dump reach the container on this machine's loopback port.
                raise _FieldError("database.mode", "is container but the engine is not local (unix://)")
            if self.database.sslmode != "disable":
                raise _FieldError("database.sslmode", "must be disable: the postgres image serves no TLS")
        if self.images.children and self.engine.host.startswith("ssh://"):
            raise _FieldError("engine.host", "is ssh://, which child image builds cannot use")
        known_images = {"base", *(child.name for child in self.images.children)}
        if self.templates.workspace_image not in known_images:
            raise _FieldError("templates.workspaceImage", "names no configured image")
        discovered = self.templates.discover()
        for name, override in self.templates.overrides.items():
            if name not in discovered:
                raise _FieldError(f"templates.overrides.{name}", "names no template directory")
            if override.workspace_image not in (None, *known_images):
                raise _FieldError(
                    f"templates.overrides.{name}.workspaceImage", "names no configured image"
                )
        if isinstance(self.database, ExternalDatabase):
            if self.secrets.database_admin_password.startswith("generate"):
                raise _FieldError(
                    "secrets.databaseAdminPassword",
                    "cannot be generated for an external server (its admin password already exists)",
                )
        return self

    @property
    def name_prefix(self) -> str:
        """Prefix of engine-visible names (containers, volumes), stable per stack."""
        return f"egoengine-{self.stack}"


# --- host facts ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class HostFacts:
    """Read-only facts about the deploy machine (injected so tests and the offline plan can stub)."""

    socket_gid: Callable[[str], int | None]


def _stat_socket_gid(path: str) -> int | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_gid if stat.S_ISSOCK(info.st_mode) else None


LOCAL_HOST = HostFacts(socket_gid=_stat_socket_gid)


@dataclass(frozen=True)
class ResolvedSettings:
    """Settings plus what was looked up on the host."""

    settings: Settings
    socket_gid: int | None


# --- loading -------------------------------------------------------------------------------------

_TOP_LEVEL_KEYS = ("engine", "coder", "database", "backup", "secrets", "admin", "images", "templates", "hosts")


def _camel_path(loc: tuple[Any, ...]) -> str:
    """``('images', 'children', 0, 'env_local')`` -> ``images.children[0].envLocal``."""
    path = ""
    for part in loc:
        # Discriminated-union tags ('container' / 'external') appear in the location; not keys.
        if part in ("container", "external"):
            continue
        if isinstance(part, int) or (isinstance(part, str) and part.isdigit()):
            path += f"[{part}]"
        else:
            path += ("." if path else "") + (to_camel(part) if "_" in part else part)
    return path


def _describe(model: type[BaseModel], loc: tuple[Any, ...]) -> str:
    """The ``description`` of the field at ``loc``: what the operator is expected to give."""
    current: Any = model
    description = "a value as documented in the README's configuration reference"
    for part in loc:
        if isinstance(part, int):
            continue  # a list index: the item's model is already current
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part)) or next(
                (f for f in current.model_fields.values() if f.alias == part), None
            )
            if field is None:
                if part in ("container", "external"):
                    current = ContainerDatabase if part == "container" else ExternalDatabase
                    continue
                return description
            description = field.description or description
            annotation = field.annotation
            inner = [a for a in getattr(annotation, "__args__", ()) if isinstance(a, type)]
            current = annotation if isinstance(annotation, type) else (inner[0] if inner else None)
        else:
            return description
    return description


def parse_settings(stack: str, values: Mapping[str, Any]) -> Settings:
    """Validate raw config objects (``{"coder": {...}, ...}``) into ``Settings``.

    Raises ``ConfigError`` naming the first bad key.
    """
    try:
        settings = Settings.model_validate({"stack": stack, **values})
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = tuple(error["loc"])
        problem = error["msg"].removeprefix("Value error, ")
        ctx_error = error.get("ctx", {}).get("error")
        if isinstance(ctx_error, _FieldError):
            loc = loc + tuple(ctx_error.field.split("."))
        if error["type"] == "missing":
            problem = "is missing"
        elif error["type"] == "extra_forbidden":
            problem = "is not a known setting"
        elif error["type"] == "union_tag_invalid":
            problem = "is not a known mode"
            loc = loc + ("mode",)
        elif error["type"] == "union_tag_not_found":
            problem = "is missing"
            loc = loc + ("mode",)
        elif not problem.startswith(("is ", "may ", "has ", "uses ", "asks ", "carries ", "cannot ")):
            problem = f"is invalid ({problem[0].lower()}{problem[1:]})"
        key = f"{NAMESPACE}:{_camel_path(loc)}"
        raise ConfigError(key, problem, _describe(Settings, loc)) from None
    settings.images.check_children()
    settings.templates.check_variables()
    hosts_settings.check(settings)
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
    return ResolvedSettings(settings, gid)


def load(host: HostFacts = LOCAL_HOST) -> ResolvedSettings:
    """Read this stack's config through ``pulumi.Config`` and validate it."""
    config = pulumi.Config(NAMESPACE)
    values: dict[str, Any] = {}
    for key in _TOP_LEVEL_KEYS:
        try:
            value = config.get_object(key)
        except (ValueError, pulumi.ConfigTypeError):
            # Pulumi's own message echoes the value, which may be a misplaced secret.
            raise ConfigError(
                f"{NAMESPACE}:{key}", "is not valid YAML/JSON", "an object (see the README)"
            ) from None
        if value is not None:
            values[key] = value
    return resolve_host_facts(parse_settings(pulumi.get_stack(), values), host)


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
