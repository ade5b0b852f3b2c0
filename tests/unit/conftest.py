"""Run the real program, with the real stack files, on the engine-like mocked engine.

The stacks' default runs, shared by the tests that only read them (``dev_up``, ``vermissian_up``),
are fixtures of tests/conftest.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from components.engine_facts import EngineFacts
from tools import mock_engine, plan_stubs
from tools.plan_stubs import OP_TOKEN_KEY  # noqa: F401 - re-exported for the tests

SOCKET_GID = 998


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


def run_stack(
    stack: str,
    *,
    preview: bool = False,
    overrides: dict[str, Any] | None = None,
    extra_secrets: dict[str, str] | None = None,
    stubs: mock_engine.Stubs | None = None,
    socket_gid: int | None = SOCKET_GID,
    op_token: str | None = "deploy-token",
    engine: EngineFacts | None = plan_stubs.PLACEHOLDER_ENGINE,
) -> mock_engine.EngineRun:
    """The real program on the mocked engine (the runner ``tools.plan`` uses), with 1Password
    answering the items above unless ``stubs`` says otherwise."""
    return plan_stubs.run_stack_offline(
        stack,
        preview=preview,
        overrides=overrides,
        secret_overrides=extra_secrets,
        stubs=stubs or mock_engine.Stubs(onepassword_items=vermissian_items()),
        socket_gid=socket_gid,
        op_token=op_token,
        engine=engine,
    )
