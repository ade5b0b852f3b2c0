"""Where the container engine is, and the Coder server container."""

import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from components.image_build import DIGEST_PATTERN, PinnedRef
from components.settings.values import (
    _BIND_DESC,
    _CONTAINER_NAME,
    _SEMVER_TAG,
    _check_bind_address,
    _check_http_url,
    _Model,
)


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
            if parts.netloc or not parts.path.startswith("/"):
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
        # Podman has no daemon: after a reboot only podman-restart.service starts containers, and
        # only those whose policy is `always` (the policy pack rejects any other on Podman).
        "always", description="a restart policy: no, on-failure, always, unless-stopped"
    )
    health_timeout_seconds: int = Field(
        300, ge=10, le=3600, description="seconds to wait for /healthz, 10..3600"
    )
    container_name: str | None = Field(None, description="a container name [a-zA-Z0-9_.-]")
    allow_downgrade: bool = Field(
        False, description="true or false (true lets up start an older Coder than the running one)"
    )

    @field_validator("version")
    @classmethod
    def _version(cls, value: str) -> str:
        if value == "latest" or not _SEMVER_TAG.match(value):
            raise ValueError("is not a pinned release tag")
        return value

    @field_validator("digest")
    @classmethod
    def _digest(cls, value: str) -> str:
        if not DIGEST_PATTERN.match(value):
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
