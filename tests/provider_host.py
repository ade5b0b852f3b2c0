"""The SDK's real dynamic provider host (``python -m pulumi.dynamic``) for tests: started in a
given directory, driven over gRPC as the engine drives it, stopped by the pid it started."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest
from pulumi.runtime import rpc
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

from tests import processes


@contextmanager
def provider_host(cwd: Path) -> Iterator[provider_pb2_grpc.ResourceProviderStub]:
    """``cwd`` should not be the project: then ``components`` is importable only through the
    pickled providers themselves (``components.dynamic_pickle``)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "pulumi.dynamic", "unused-engine-address"],
        cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert process.stdout is not None and process.stderr is not None
        port = process.stdout.readline().strip()
        if not port.isdigit():
            pytest.fail(f"the dynamic provider host did not start: {process.stderr.read()}", pytrace=False)
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        stub = provider_pb2_grpc.ResourceProviderStub(channel)
        stub.Configure(provider_pb2.ConfigureRequest(acceptSecrets=False))
        try:
            yield stub
        finally:
            channel.close()
    finally:
        processes.stop(process, grace_seconds=10)


def struct(values: dict[str, Any]) -> Any:
    """Properties as the engine sends them. A loop of its own, never made current (as the SDK's
    provider host does): ``asyncio.run`` would leave no current loop for later mocked-engine tests."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(rpc.serialize_properties(values, {}))
    finally:
        loop.close()


def as_dict(properties: Any) -> dict[str, Any]:
    return dict(rpc.deserialize_properties(properties))
