"""The ``host-providers-pinned`` policy: per-host docker providers use ssh:// with a pinned key."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pulumi_policy import ResourceValidationArgs
from pulumi_policy.proxy import UNKNOWN_ARRAY_VALUE, unknown_checking_proxy

from components.workspace_hosts import ssh_options
from policy import policies
from policy.policies import check_resource, from_wire, validate_host_provider_pinned
from tests.hosts.test_hosts_graph import run_with_hosts
from tests.policy.test_policies import options
from tools import plan

HOST_URN = "urn:pulumi:vermissian::egoengine::egoengine:index:EgoEngine$egoengine:hosts:HostImages$pulumi:providers:docker::egoengine-host-gpu-docker"
MAIN_URN = "urn:pulumi:vermissian::egoengine::pulumi:providers:docker::docker"
PINNED = ssh_options("/keys/id_ed25519", "/keys/known_hosts")


def violations(props: dict[str, Any], urn: str = HOST_URN) -> list[str]:
    args = ResourceValidationArgs(
        "pulumi:providers:docker", unknown_checking_proxy(props), urn, urn.rsplit("::", 1)[1],
        options(), None, {},
    )
    found: list[str] = []
    validate_host_provider_pinned(args, lambda message, urn=None: found.append(message))
    return found


def test_a_pinned_ssh_provider_passes() -> None:
    assert violations({"host": "ssh://coder@gpu", "sshOpts": PINNED}) == []
    # As the engine hands provider inputs over: JSON-encoded.
    assert violations({"host": "ssh://coder@gpu", "sshOpts": json.dumps(PINNED)}) == []


@pytest.mark.parametrize(
    "props",
    [
        {"host": "tcp://gpu:2375", "sshOpts": PINNED},
        {"host": "ssh://coder@gpu"},
        {"host": "ssh://coder@gpu", "sshOpts": ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/k"]},
        {"host": "ssh://coder@gpu", "sshOpts": ["-o", "StrictHostKeyChecking=accept-new", "-o", "UserKnownHostsFile=/k"]},
        {"host": "ssh://coder@gpu", "sshOpts": ["-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=/dev/null"]},
        {"host": "ssh://coder@gpu", "sshOpts": json.dumps(["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/k"])},
    ],
    ids=["tcp host", "no ssh options", "checking off", "accept-new", "known_hosts /dev/null", "JSON-encoded, checking off"],
)
def test_unpinned_host_providers_are_violations(props: dict[str, Any]) -> None:
    (message,) = violations(props)
    assert "egoengine-host-gpu-docker" in message


def test_unknown_values_in_preview_and_other_providers_are_not_judged() -> None:
    assert violations({"host": "ssh://coder@gpu", "sshOpts": UNKNOWN_ARRAY_VALUE}) == []
    assert violations({"host": "unix:///run/podman/podman.sock"}, urn=MAIN_URN) == []


def test_the_policy_is_in_the_pack() -> None:
    assert policies.host_providers_pinned in policies.RESOURCE_POLICIES


def test_the_stacks_host_providers_pass_the_whole_pack() -> None:
    run = run_with_hosts()
    providers = [r for r in run.registrations.values() if r.type == "pulumi:providers:docker" and "-host-" in r.name]
    assert len(providers) == 2
    for reg in providers:
        assert check_resource(reg.type, from_wire(reg.inputs), reg.urn, reg.name, options()) == []
    findings = plan.check_policies(plan.Graph.from_run(run), plan.PolicySettings())
    assert [f for f in findings if "host" in f.policy] == []
