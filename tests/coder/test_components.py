"""The CoderAdmin and CoderTemplate components as the engine sees them (type tokens, child
names, parents, secret outputs), and the dynamic providers' trip through dill into a separate
process, as ``pulumi up`` runs them."""

from __future__ import annotations

import base64
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pulumi
import pytest
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.proto import resource_pb2
from pulumi.runtime.sync_await import _sync_await

from components.coder_admin import AdminProvider, CoderAdmin
from components.coder_template import CoderTemplate, TemplateProvider
from tests.coder.conftest import REPO_ROOT

ADMIN_TYPE = "pulumi-python:dynamic/coder:Admin"
TEMPLATE_TYPE = "pulumi-python:dynamic/coder:Template"


class _Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        outs = dict(args.inputs)
        if args.typ == ADMIN_TYPE:
            outs.update(user_id="u-1", organization_id="o-1", token="minted-token", token_id="k-1")
        if args.typ == TEMPLATE_TYPE:
            outs.update(template_id="t-1", active_version_id="v-1", organization_id="o-1")
        return f"{args.name}-id", outs

    def call(
        self, args: pulumi.runtime.MockCallArgs
    ) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None


class _EngineLikeMonitor(MockMonitor):
    """Records each registration and applies additional_secret_outputs, as the engine does."""

    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.requests: dict[str, Any] = {}

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        response = super().RegisterResource(request)
        self.requests[request.name] = request
        if request.type == "pulumi:pulumi:Stack" or not request.additionalSecretOutputs:
            return response
        state = rpc.deserialize_properties(response.object)
        for key in request.additionalSecretOutputs:
            if key in state:
                state[key] = rpc.wrap_rpc_secret(state[key])
        self.resources[response.urn] = MockMonitor.ResourceRegistration(
            response.urn, response.id, state
        )
        return resource_pb2.RegisterResourceResponse(
            urn=response.urn,
            id=response.id,
            object=_sync_await(rpc.serialize_properties(state, {})),
        )


@pytest.fixture
def monitor() -> _EngineLikeMonitor:
    mocks = _Mocks()
    engine = _EngineLikeMonitor(mocks)
    pulumi.runtime.set_mocks(
        mocks, project="egoengine", stack="test", preview=False, monitor=engine
    )
    return engine


def _inputs(request: Any) -> dict[str, Any]:
    return rpc.deserialize_properties(request.object)


@pulumi.runtime.test
def test_admin_component_shape_and_secrets(monitor: _EngineLikeMonitor) -> Any:
    admin = CoderAdmin(
        "coder-admin",
        {
            "url": "http://127.0.0.1:7080",
            "email": "admin@egoengine.test",
            "username": "admin",
            "password": "plain-from-caller",  # not marked secret by the caller
            "token_name": "egoengine-operator",
            "token_lifetime_hours": 168,
            "health_timeout_seconds": 300,
        },
    )

    async def check() -> None:
        # Awaiting the outputs first lets the registrations reach the monitor.
        assert await admin.user_id.future() == "u-1"
        assert await admin.organization_id.future() == "o-1"
        assert await admin.token.future() == "minted-token"
        assert await admin.token.is_secret()
        component = monitor.requests["coder-admin"]
        child = monitor.requests["coder-admin-user"]
        assert component.type == "egoengine:coder:Admin"
        assert child.type == ADMIN_TYPE
        assert child.parent.endswith("egoengine:coder:Admin::coder-admin")
        assert "token" in child.additionalSecretOutputs
        inputs = _inputs(child)
        assert rpc.is_rpc_secret(inputs["password"])
        assert "__provider" in inputs

    return check()


@pulumi.runtime.test
def test_template_component_shape_and_secrets(monitor: _EngineLikeMonitor) -> Any:
    template = CoderTemplate(
        "docker-shell",
        {
            "url": "http://127.0.0.1:7080",
            "admin_email": "admin@egoengine.test",
            "admin_password": "plain-from-caller",
            "name": "docker-shell",
            "directory": "coder-templates/docker-shell",
            "content_hash": "sha256:" + "0" * 64,
            "variables": {"workspace_image": "repo:sha@sha256:" + "1" * 64},
            "secret_variables": {"op_service_account_token": "ops_plain-from-caller"},
        },
    )

    async def check() -> None:
        assert await template.template_id.future() == "t-1"
        assert await template.active_version_id.future() == "v-1"
        component = monitor.requests["docker-shell"]
        child = monitor.requests["docker-shell-template"]
        assert component.type == "egoengine:coder:Template"
        assert child.type == TEMPLATE_TYPE
        assert child.parent.endswith("egoengine:coder:Template::docker-shell")
        assert set(child.additionalSecretOutputs) >= {"admin_password", "secret_variables"}
        inputs = _inputs(child)
        assert rpc.is_rpc_secret(inputs["admin_password"])
        assert rpc.is_rpc_secret(inputs["secret_variables"])
        assert not rpc.is_rpc_secret(inputs["variables"])  # plain values stay readable in diffs
        assert inputs["import_timeout_seconds"] == 600

    return check()


@pytest.mark.parametrize("where", ["project", "elsewhere"])
def test_providers_survive_dill_into_a_separate_process(tmp_path: Path, where: str) -> None:
    """The engine stores the provider dill-pickled in the state and runs it in a new Python
    process; it must load and work there, whatever that process's working directory (``-I``:
    neither the working directory nor PYTHONPATH is on ``sys.path``)."""
    from pulumi.dynamic.dynamic import serialize_provider

    payloads = {
        "admin": serialize_provider(AdminProvider(poll_interval_seconds=0.5)),
        "template": serialize_provider(TemplateProvider()),
    }
    # Pickled by reference: a code change does not churn the serialized provider in the state.
    assert len(base64.b64decode(payloads["admin"])) < 2000
    script = textwrap.dedent(
        """
        import base64, sys, dill
        admin = dill.loads(base64.b64decode(sys.argv[1]))
        template = dill.loads(base64.b64decode(sys.argv[2]))
        assert type(admin).__module__ == "components.coder_admin", type(admin)
        assert admin.poll_interval_seconds == 0.5
        same = {"url": "u", "email": "e", "username": "a", "password": "p",
                "token_name": "t", "token_lifetime_hours": 1, "token": "k"}
        assert admin.diff("id", same, dict(same)).changes is False
        assert template.diff("id", {"name": "a"}, {"name": "b"}).replaces == ["name"]
        print("ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-I", "-c", script, payloads["admin"], payloads["template"]],
        cwd=REPO_ROOT if where == "project" else tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
