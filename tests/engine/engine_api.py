"""A small client for the engine's Docker-compatible API on a unix socket (what the provider calls)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

API_VERSION = "v1.41"
"""Docker API 1.41 (Docker 20.10), which Podman 4's compat API serves."""


class EngineApi:
    def __init__(self, socket_path: str) -> None:
        self._client = httpx.Client(
            transport=httpx.HTTPTransport(uds=socket_path), base_url=f"http://engine/{API_VERSION}", timeout=120
        )

    def close(self) -> None:
        self._client.close()

    def _check(self, response: httpx.Response, what: str) -> Any:
        if response.status_code >= 300:
            raise AssertionError(f"{what} answered {response.status_code}: {response.text[:500]}")
        if "json" not in response.headers.get("content-type", ""):
            return response.text  # e.g. network connect answers "OK"
        return response.json()

    def get(self, path: str, params: dict[str, str] | None = None) -> Any:
        return self._check(self._client.get(quote(path, safe="/:@"), params=params), f"GET {path}")

    def delete(self, path: str, params: dict[str, str] | None = None) -> Any:
        return self._check(self._client.delete(quote(path, safe="/:@"), params=params), f"DELETE {path}")

    def post(self, path: str, body: Any = None, params: dict[str, str] | None = None) -> Any:
        return self._check(self._client.post(quote(path, safe="/:@"), json=body, params=params), f"POST {path}")

    def pull(self, reference: str) -> None:
        """Pull as the provider does through the Docker Go client's ``ImagePull``: ``fromImage`` is
        the repository, ``tag`` the digest when the reference has one (``getAPITagFromNamedRef``)."""
        name, _, digest = reference.partition("@")
        repository, tag = name, "latest"
        if ":" in name.rsplit("/", 1)[-1]:
            repository, tag = name.rsplit(":", 1)
        params = {"fromImage": repository, "tag": digest or tag}
        response = self._client.post("/images/create", params=params)
        if response.status_code >= 300:
            raise AssertionError(f"pull {reference} answered {response.status_code}: {response.text[:500]}")
        if '"error"' in response.text:
            raise AssertionError(f"pull {reference} failed: {response.text[-500:]}")
