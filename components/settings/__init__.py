"""Typed, validated stack settings.

Every object under the ``egoengine:`` namespace is parsed into a frozen pydantic model
(``extra="forbid"``), so a typo or a bad value fails before any resource is declared, with one
message naming the key, what is wrong and what is expected (``ConfigError``). One module per
domain; ``loading`` is the only one that reads ``pulumi.Config``, ``messages`` the only one that
words errors from pydantic. The names below are the package's public interface
(``from components import settings as cfg``).

The model modules do without ``from __future__ import annotations``: with it, pydantic compiles
and evaluates every field's annotation string when the class is created, at every preview.
"""

from components.settings.admin import AdminSettings
from components.settings.database import (
    DEFAULT_POSTGRES_IMAGE,
    BackupSettings,
    ContainerDatabase,
    DatabaseSettings,
    ExternalDatabase,
)
from components.settings.engine import CoderSettings, EngineSettings
from components.settings.images import (
    BaseImageSettings,
    ChildImageSettings,
    ImagesSettings,
    RegistrySettings,
)
from components.settings.loading import (
    LOCAL_HOST,
    HostFacts,
    ResolvedSettings,
    config_secret,
    load,
    onepassword_token,
    parse_settings,
    resolve_host_facts,
)
from components.settings.hosts import HostSettings
from components.settings.model import Settings
from components.settings.secrets import SecretsSettings
from components.settings.templates import TemplateOverride, TemplatesSettings
from components.settings.values import (
    NAMESPACE,
    PROJECT_ROOT,
    OnePasswordRef,
    SecretSource,
    parse_op_ref,
    parse_pinned_image,
    parse_secret_source,
)

__all__ = [
    "AdminSettings",
    "BackupSettings",
    "BaseImageSettings",
    "ChildImageSettings",
    "CoderSettings",
    "ContainerDatabase",
    "DEFAULT_POSTGRES_IMAGE",
    "DatabaseSettings",
    "EngineSettings",
    "ExternalDatabase",
    "HostFacts",
    "HostSettings",
    "ImagesSettings",
    "LOCAL_HOST",
    "NAMESPACE",
    "OnePasswordRef",
    "PROJECT_ROOT",
    "RegistrySettings",
    "ResolvedSettings",
    "SecretSource",
    "SecretsSettings",
    "Settings",
    "TemplateOverride",
    "TemplatesSettings",
    "config_secret",
    "load",
    "onepassword_token",
    "parse_op_ref",
    "parse_pinned_image",
    "parse_secret_source",
    "parse_settings",
    "resolve_host_facts",
]
