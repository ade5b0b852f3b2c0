"""Which engine the program is talking to, and what that changes in the graph: the restart policy
that survives a reboot, the engine label the policy pack reads, and Podman's IPAM options."""

from __future__ import annotations

import pytest
import yaml
from pulumi_policy import ResourceValidationArgs
from pulumi_policy.proxy import unknown_checking_proxy

from components.engine_facts import EngineFacts, facts_from
from policy import policies
from tests.unit.conftest import run_stack
from tools.mock_engine import PROJECT_DIR

PODMAN_VERSION = {"Components": [{"Name": "Podman Engine", "Version": "4.3.1"}, {"Name": "Conmon"}]}
DOCKER_VERSION = {"Components": [{"Name": "Engine", "Version": "27.3.1"}, {"Name": "containerd"}]}


@pytest.mark.parametrize(
    ("version", "info", "expected"),
    [
        (PODMAN_VERSION, {"Rootless": False}, EngineFacts("podman", False)),
        (PODMAN_VERSION, {"Rootless": True}, EngineFacts("podman", True)),
        (DOCKER_VERSION, {"SecurityOptions": ["name=seccomp,profile=builtin", "name=cgroupns"]}, EngineFacts("docker", False)),
        (DOCKER_VERSION, {"SecurityOptions": ["name=seccomp,profile=builtin", "name=rootless"]}, EngineFacts("docker", True)),
        ({}, {}, EngineFacts("docker", False)),
    ],
    ids=["podman", "podman rootless", "docker", "docker rootless", "no components"],
)
def test_engine_classified_from_version_and_info(version: dict, info: dict, expected: EngineFacts) -> None:
    assert facts_from(version, info) == expected


def containers(run) -> dict:  # type: ignore[no-untyped-def]
    return {r.name: r.inputs for r in run.by_type("docker:index/container:Container")}


@pytest.mark.parametrize("kind", ["podman", "docker"])
def test_coder_and_postgres_restart_always_and_carry_the_engine(kind: str) -> None:
    run = run_stack("dev", engine=EngineFacts(kind=kind, rootless=False))  # type: ignore[arg-type]
    found = containers(run)
    assert set(found) == {"egoengine-coder-container", "egoengine-database-server"}
    for inputs in found.values():
        assert inputs["restart"] == "always"
        assert {"label": "egoengine.engine", "value": kind} in inputs["labels"]


def test_a_remote_engine_is_labelled_unknown() -> None:
    run = run_stack(
        "vermissian",
        overrides={"egoengine:engine": {"host": "tcp://10.0.0.5:2375", "socketGid": 998}},
        engine=None,
    )
    [inputs] = containers(run).values()
    assert {"label": "egoengine.engine", "value": "unknown"} in inputs["labels"]


def test_podman_networks_declare_the_ipam_options_podman_reports_and_docker_ones_none() -> None:
    podman = run_stack("dev", engine=EngineFacts("podman", False)).one("docker:index/network:Network")
    docker = run_stack("dev", engine=EngineFacts("docker", False)).one("docker:index/network:Network")
    assert podman.inputs["ipamOptions"] == {"driver": "host-local"}
    assert "ipamOptions" not in docker.inputs


def restart_findings(kind: str, restart: str) -> list[str]:
    """What the restart policy says about the real program's Coder container on ``kind``."""
    coder = yaml.safe_load((PROJECT_DIR / "Pulumi.dev.yaml").read_text())["config"]["egoengine:coder"]
    run = run_stack("dev", overrides={"egoengine:coder": {**coder, "restart": restart}},
                    engine=EngineFacts(kind, False))  # type: ignore[arg-type]
    reg = run.one("docker:index/container:Container", "coder-container")
    args = ResourceValidationArgs(reg.type, unknown_checking_proxy(policies.from_wire(reg.inputs)), reg.urn,
                                  reg.name, None, None, None)  # type: ignore[arg-type]
    found: list[str] = []

    def report(message: str, urn: str | None = None) -> None:
        found.append(message)

    policies.validate_restart_always_on_podman(args, report)
    return found


def test_the_policy_pack_rejects_another_restart_policy_on_podman_only() -> None:
    [finding] = restart_findings("podman", "unless-stopped")
    assert "restart policy 'unless-stopped' on engine podman" in finding
    assert restart_findings("docker", "unless-stopped") == []
    assert restart_findings("podman", "always") == []
