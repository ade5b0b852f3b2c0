"""``egoengine:hosts``: the remote Docker hosts workspaces may run on, reached over SSH.

Each host is ``ssh://user@host[:port]`` with its pinned public host key; the local engine is the
implicit host ``local``. Error messages never echo a key's base64 body.
"""

import base64
import binascii
import ipaddress
import re
import struct
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from components.errors import ConfigError
from components.settings.values import _Model

if TYPE_CHECKING:
    from components.settings.model import Settings

LOCAL_HOST_NAME = "local"
"""The implicit host: the engine the Coder server itself uses (``egoengine:engine.host``)."""

HOST_KEY_TYPES = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-rsa",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
)
_HOST_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$")
_SSH_USER = re.compile(r"^[a-z_][a-z0-9_.-]{0,31}$")
_SSH_HOST = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")


class HostSettings(_Model):
    name: str = Field(..., description="a lower-case host name [a-z0-9-], e.g. gpu-box (not 'local')")
    uri: str = Field(..., description="ssh://user@host[:port], e.g. ssh://coder@gpu-box.lan")
    host_key: str = Field(
        ...,
        description="the host's pinned public key line, e.g. 'ssh-ed25519 AAAA...' "
        "(ssh-keyscan -t ed25519 HOST on a trusted network, or /etc/ssh/ssh_host_ed25519_key.pub)",
    )
    gpus: bool = Field(False, description="true when the host runs Docker Engine with the NVIDIA toolkit")
    description: str | None = Field(None, description="a short text shown with the host option")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if value == LOCAL_HOST_NAME:
            raise ValueError("is 'local', the name of the implicit local engine")
        if not _HOST_NAME.match(value):
            raise ValueError("is not a lower-case name of letters, digits and dashes")
        return value

    @field_validator("uri")
    @classmethod
    def _uri(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme != "ssh":
            raise ValueError("is not an ssh:// URI")
        if not parts.username or not _SSH_USER.match(parts.username):
            raise ValueError("has no user (ssh://user@host)")
        if parts.password is not None:
            raise ValueError("carries a password; hosts authenticate with egoengine:secrets.hostsSshKey")
        if not parts.hostname or not _is_host(parts.hostname):
            raise ValueError("has no valid host name")
        try:
            parts.port
        except ValueError as exc:
            raise ValueError("has an invalid port") from exc
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ValueError("has a path, query or fragment (the remote docker CLI finds its socket)")
        return value

    @field_validator("host_key")
    @classmethod
    def _host_key(cls, value: str) -> str:
        check_host_key(value)
        return value.strip()

    @property
    def user(self) -> str:
        return urlsplit(self.uri).username or ""

    @property
    def hostname(self) -> str:
        return urlsplit(self.uri).hostname or ""

    @property
    def port(self) -> int:
        return urlsplit(self.uri).port or 22

    @property
    def docker_uri(self) -> str:
        """The URI without a trailing slash, as the docker providers and CLI take it."""
        return self.uri.rstrip("/")

    @property
    def known_hosts_line(self) -> str:
        """The host's ``known_hosts`` line: ``host key`` or ``[host]:port key`` off port 22."""
        pattern = self.hostname if self.port == 22 else f"[{self.hostname}]:{self.port}"
        key_type, body = self.host_key.split()[:2]
        return f"{pattern} {key_type} {body}"


def _is_host(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return bool(_SSH_HOST.match(name))


def check_host_key(value: str) -> None:
    """A public key line: a known type, base64 whose blob starts with that same type."""
    fields = value.strip().split()
    if len(fields) < 2:
        raise ValueError("is not a public key line ('<type> <base64> [comment]')")
    key_type, body = fields[0], fields[1]
    if key_type not in HOST_KEY_TYPES:
        raise ValueError("is not a known host key type such as ssh-ed25519")
    try:
        blob = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("is not valid base64 after the key type") from exc
    fields_in_blob: list[bytes] = []
    offset = 0
    while offset < len(blob):
        if offset + 4 > len(blob):
            raise ValueError("is a truncated key")
        (length,) = struct.unpack(">I", blob[offset : offset + 4])
        if offset + 4 + length > len(blob):
            raise ValueError("is a truncated key")
        fields_in_blob.append(blob[offset + 4 : offset + 4 + length])
        offset += 4 + length
    if not fields_in_blob or fields_in_blob[0] != key_type.encode():
        raise ValueError("is malformed (its key data does not match its type)")
    if len(fields_in_blob) < 2 or (key_type == "ssh-ed25519" and len(fields_in_blob[1]) != 32):
        raise ValueError("is a truncated key")


def known_hosts(hosts: list[HostSettings]) -> str:
    """The ``known_hosts`` file built from the pinned keys, one line per host, in config order."""
    return "".join(f"{host.known_hosts_line}\n" for host in hosts)


def _is_loopback_url(url: str) -> bool:
    hostname = urlsplit(url).hostname or ""
    if hostname == "localhost" or hostname.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def check(settings: "Settings") -> None:
    """Checks across hosts and other settings; each failure names its key."""
    names: list[str] = []
    for index, host in enumerate(settings.hosts):
        if host.name in names:
            raise ConfigError(
                f"egoengine:hosts[{index}].name", f"is '{host.name}', which is used twice", "a unique host name"
            )
        names.append(host.name)
    if settings.hosts and _is_loopback_url(settings.coder.access_url):
        raise ConfigError(
            "egoengine:coder.accessUrl",
            "is a loopback URL, which agents on the remote egoengine:hosts "
            f"({', '.join(names)}) cannot reach",
            "an access URL the workspace hosts can reach (or no egoengine:hosts)",
        )
    source = settings.secrets.hosts_ssh_key
    if source.startswith("generate:") or (source == "none" and settings.hosts):
        raise ConfigError(
            "egoengine:secrets.hostsSshKey",
            "is not generate, config:<key> or op://... (an ED25519 key has no length; it is required)",
            "generate, config:<key> or op://vault/item/[section/]field holding an OpenSSH private key",
        )
