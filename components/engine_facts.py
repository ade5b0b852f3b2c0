"""What the local container engine says about itself: Podman or Docker, rootful or rootless.

Read-only look-ups over the engine's Docker-compatible API on its unix socket (``GET /version``,
``GET /info``), with the standard library only, so loading the settings stays cheap and nothing is
changed on the engine (preview stays free of side effects).

- Podman names itself in ``/version``: a component named ``Podman Engine``; Docker's is ``Engine``.
- Rootless: Podman's ``/info`` has ``Rootless: true``; Docker lists ``name=rootless`` in
  ``SecurityOptions`` (Docker Engine API, ``SystemInfo.SecurityOptions``).
"""

from __future__ import annotations

import http.client
import json
import socket
from typing import Any, Literal, NamedTuple

EngineKind = Literal["podman", "docker"]
PODMAN_COMPONENT = "Podman Engine"
TIMEOUT_SECONDS = 5.0


class EngineFacts(NamedTuple):
    kind: EngineKind
    rootless: bool


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, socket_path: str) -> None:
        super().__init__("localhost", timeout=TIMEOUT_SECONDS)
        self._socket_path = socket_path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(TIMEOUT_SECONDS)
        self.sock.connect(self._socket_path)


def _get(socket_path: str, path: str) -> bytes:
    connection = _UnixConnection(socket_path)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise OSError(f"GET {path} answered {response.status}")
        return body
    finally:
        connection.close()


def _get_json(socket_path: str, path: str) -> Any:
    return json.loads(_get(socket_path, path))


def ping(socket_path: str) -> bool:
    """Whether an engine answers ``GET /_ping`` with ``OK`` on ``socket_path``."""
    try:
        return _get(socket_path, "/_ping").strip() == b"OK"
    except (OSError, http.client.HTTPException):
        return False


def facts_from(version: Any, info: Any) -> EngineFacts:
    """Classify an engine from its ``/version`` and ``/info`` documents."""
    components = version.get("Components") or [] if isinstance(version, dict) else []
    names = {c.get("Name") for c in components if isinstance(c, dict)}
    kind: EngineKind = "podman" if PODMAN_COMPONENT in names else "docker"
    info = info if isinstance(info, dict) else {}
    rootless = info.get("Rootless") is True or "name=rootless" in (info.get("SecurityOptions") or [])
    return EngineFacts(kind=kind, rootless=rootless)


def query(socket_path: str) -> EngineFacts | None:
    """The engine's facts, or None when nothing answers on ``socket_path``."""
    try:
        return facts_from(_get_json(socket_path, "/version"), _get_json(socket_path, "/info"))
    except (OSError, ValueError, http.client.HTTPException):
        return None
