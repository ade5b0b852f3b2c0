"""Run the real program, with the real stack files, on the engine-like mocked engine."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from components import settings as cfg
from components.program import build
from tools import mock_engine

SOCKET_GID = 998
OP_TOKEN_KEY = "onepassword:serviceAccountToken"


def vermissian_items(marker: Callable[[str], str] = lambda s: f"value-of-{s}") -> dict:
    """1Password items the vermissian stack file names, in the shapes getItem returns."""
    return {
        ("egoengine", "vermissian postgres"): {"password": marker("pg-admin")},
        ("egoengine", "Coder Admin"): {"password": marker("admin-password")},
        ("egoengine", "Coder Service Account"): {
            "sections": [
                {
                    "id": "add more",
                    "label": "",
                    "fields": [
                        {"id": "token", "label": "token", "purpose": "", "type": "CONCEALED", "value": marker("op-token")}
                    ],
                }
            ]
        },
        ("egoengine", "GHCR Push"): {"credential": marker("registry-token")},
        ("egoengine", "Codex Auth"): {
            "files": [
                {"id": "f1", "name": "auth.json", "content": marker("codex-auth"), "contentBase64": ""}
            ]
        },
    }


def stack_config(
    stack: str, overrides: dict[str, Any] | None = None, *, op_token: str | None = "deploy-token"
) -> tuple[dict[str, str], list[str]]:
    """The stack file's config, the deploy's 1Password token set, and object keys replaced."""
    config, secret_keys = mock_engine.load_stack_config(stack)
    if op_token is not None:
        config.setdefault(OP_TOKEN_KEY, op_token)
        secret_keys.append(OP_TOKEN_KEY)
    for key, value in (overrides or {}).items():
        config[key] = value if isinstance(value, str) else json.dumps(value)
    return config, secret_keys


def run_stack(
    stack: str,
    *,
    preview: bool = False,
    overrides: dict[str, Any] | None = None,
    extra_secrets: dict[str, str] | None = None,
    stubs: mock_engine.Stubs | None = None,
    socket_gid: int | None = SOCKET_GID,
    op_token: str | None = "deploy-token",
) -> mock_engine.EngineRun:
    config, secret_keys = stack_config(stack, overrides, op_token=op_token)
    for key, value in (extra_secrets or {}).items():
        config[key] = value
        secret_keys.append(key)
    host = cfg.HostFacts(socket_gid=lambda _path: socket_gid)
    return mock_engine.run(
        lambda: build(cfg.load(host)),
        stack=stack,
        config=config,
        secret_keys=secret_keys,
        preview=preview,
        stubs=stubs or mock_engine.Stubs(onepassword_items=vermissian_items()),
    )


@pytest.fixture(scope="module")
def dev_up() -> mock_engine.EngineRun:
    return run_stack("dev")


@pytest.fixture(scope="module")
def vermissian_up() -> mock_engine.EngineRun:
    return run_stack("vermissian")
