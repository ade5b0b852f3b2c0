"""The SDK's real dynamic provider host (``python -m pulumi.dynamic``), started in a directory
that is not the project, driven over gRPC the way the engine drives it: Create, then a refresh's
Read, then Diff with what Read returned, then Update. The providers arrive as the state holds
them: ``__provider``, serialized by the SDK's own ``serialize_provider``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

from components.coder_admin import AdminProvider
from tests.coder.fake_coder import FakeCoder
from tests.provider_host import as_dict, provider_host, struct

pytestmark = pytest.mark.integration

URN = "urn:pulumi:dev::egoengine::egoengine:coder:Admin$pulumi-python:dynamic/coder:Admin::admin-user"


@pytest.fixture
def host(tmp_path: Path) -> Iterator[provider_pb2_grpc.ResourceProviderStub]:
    with provider_host(tmp_path) as stub:
        yield stub


def test_create_read_diff_update_through_the_sdks_provider_host(
    fake_coder: FakeCoder,
    host: provider_pb2_grpc.ResourceProviderStub,
    admin_props: Callable[..., dict[str, Any]],
) -> None:
    provider = serialize_provider(AdminProvider(request_timeout_seconds=5.0, poll_interval_seconds=0.05))
    inputs = {"__provider": provider, **admin_props()}
    created = host.Create(provider_pb2.CreateRequest(urn=URN, properties=struct(inputs)))
    state = as_dict(created.properties)
    assert created.id == fake_coder.users[0].id and state["token"]

    fake_coder.ui_delete_token("egoengine-operator")  # changed outside Pulumi
    read = host.Read(provider_pb2.ReadRequest(id=created.id, urn=URN, properties=struct(state)))
    refreshed = as_dict(read.properties)
    assert read.id == created.id and refreshed["token"] == "" and refreshed["__provider"] == provider

    diff = host.Diff(
        provider_pb2.DiffRequest(id=created.id, urn=URN, olds=read.properties, news=struct(inputs))
    )
    assert diff.changes == provider_pb2.DiffResponse.DIFF_SOME

    updated = host.Update(
        provider_pb2.UpdateRequest(id=created.id, urn=URN, olds=read.properties, news=struct(inputs))
    )
    repaired = as_dict(updated.properties)
    [token] = fake_coder.tokens()
    assert repaired["token"] and repaired["token_id"] == token.id
