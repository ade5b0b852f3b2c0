"""The top ``Settings`` model and the checks that span several objects."""

from collections.abc import Iterable

from pydantic import Field, model_validator

from components.settings.admin import AdminSettings
from components.settings.database import (
    BackupSettings,
    ContainerDatabase,
    DatabaseSettings,
    ExternalDatabase,
)
from components.settings.engine import CoderSettings, EngineSettings
from components.settings.images import ImagesSettings
from components.settings.secrets import SecretsSettings
from components.settings.hosts import HostSettings
from components.settings.templates import TemplatesSettings
from components.settings.values import _empty_list, _FieldError, _Model


def _one_of(names: Iterable[str]) -> str:
    return "one of " + ", ".join(sorted(names))


class Settings(_Model):
    """Everything the program reads from a stack's configuration."""

    stack: str
    engine: EngineSettings = Field(
        EngineSettings(), description="an object such as {host: unix:///run/podman/podman.sock}"
    )
    coder: CoderSettings = Field(
        ..., description="an object with at least version, digest and accessUrl"
    )
    database: DatabaseSettings = Field(
        default_factory=lambda: ContainerDatabase(mode="container"),
        description="mode: container or external",
    )
    backup: BackupSettings = Field(
        BackupSettings(), description="an object such as {directory: backups, keep: 7}"
    )
    secrets: SecretsSettings = Field(
        SecretsSettings(), description="an object of secret sources, e.g. {adminPassword: generate:24}"
    )
    admin: AdminSettings = Field(
        AdminSettings(), description="an object such as {email: admin@example.com, username: admin}"
    )
    images: ImagesSettings = Field(
        ..., description="an object with at least base.tag (see the README)"
    )
    templates: TemplatesSettings = Field(
        TemplatesSettings(), description="an object such as {directory: coder-templates}"
    )
    hosts: list[HostSettings] = Field(
        default_factory=_empty_list, description="a list of workspace hosts, each {name, uri, hostKey, gpus}"
    )

    @model_validator(mode="after")
    def _cross_checks(self) -> "Settings":
        local_engine = self.engine.socket_path is not None
        if isinstance(self.database, ContainerDatabase):
            if not local_engine:
                # The provider and pg_dump reach the container on this machine's loopback port.
                raise _FieldError(
                    "database.mode",
                    "is container but the engine is not local (unix://)",
                    "external (a server this machine reaches), or a unix:// egoengine:engine.host",
                )
            if self.database.sslmode != "disable":
                raise _FieldError(
                    "database.sslmode",
                    "must be disable: the postgres container serves no TLS",
                    "disable (TLS needs database.mode external)",
                )
        if self.images.children and self.engine.host.startswith("ssh://"):
            raise _FieldError(
                "engine.host",
                "is ssh://, which child image builds cannot use",
                "a unix:// or tcp:// engine, or no egoengine:images.children",
            )
        known_images = {"base", *(child.name for child in self.images.children)}
        if self.templates.workspace_image not in known_images:
            raise _FieldError(
                "templates.workspaceImage", "names no configured image", _one_of(known_images)
            )
        discovered = self.templates.discover()
        for name, override in self.templates.overrides.items():
            if name not in discovered:
                raise _FieldError(
                    f"templates.overrides.{name}",
                    f"names no template directory under {self.templates.directory}",
                    _one_of(discovered) if discovered else "a directory holding a template's *.tf",
                )
            if override.workspace_image not in (None, *known_images):
                raise _FieldError(
                    f"templates.overrides.{name}.workspaceImage",
                    "names no configured image",
                    _one_of(known_images),
                )
        if isinstance(self.database, ExternalDatabase):
            if self.secrets.database_admin_password.startswith("generate"):
                raise _FieldError(
                    "secrets.databaseAdminPassword",
                    "cannot be generated for an external server (its admin password already exists)",
                    "config:<key> or op://vault/item/[section/]field: the server's admin password",
                )
        return self

    @property
    def name_prefix(self) -> str:
        """Prefix of engine-visible names (containers, volumes), stable per stack."""
        return f"egoengine-{self.stack}"
