"""The PostgreSQL database (a container of its own or an external server) and its backups."""

import re
from typing import Annotated, Literal, Union

from pydantic import Field, field_validator

from components.settings.values import (
    _CONTAINER_NAME,
    _check_identifier,
    _Model,
    parse_pinned_image,
)

# PostgreSQL 15, the major version of the host server on vermissian and of Debian 12's pg_dump
# (pg_dump must not be older than the server it dumps).
DEFAULT_POSTGRES_IMAGE = (
    "docker.io/library/postgres:15-bookworm"
    "@sha256:539ceaaae49b3a7c8a04467cf00cc6788d8e3f1675df41860d86eebc4c40524f"
)


class _DatabaseCommon(_Model):
    name: str = Field("coder", description="a lower-case PostgreSQL identifier")
    user: str = Field("coder", description="a lower-case PostgreSQL identifier")
    sslmode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] = Field(
        "disable", description="a libpq sslmode: disable, require, verify-ca, verify-full, ..."
    )
    existing: Literal["create", "adopt"] = Field(
        "create",
        description="create (make the role and database) or adopt (take over the ones that "
        "exist, e.g. the NixOS module's)",
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
    keep: int = Field(7, ge=1, le=1000, description="how many dumps to keep, 1..1000")
    pg_dump: str = Field("pg_dump", description="the pg_dump executable (name or absolute path)")

    @field_validator("directory", "pg_dump")
    @classmethod
    def _plain_path(cls, value: str) -> str:
        # Both end up in a command line: keep them to characters that need no quoting.
        if not re.match(r"^[A-Za-z0-9_./-]+$", value) or ".." in value.split("/"):
            raise ValueError("has characters outside [A-Za-z0-9_./-] or a '..' component")
        return value
