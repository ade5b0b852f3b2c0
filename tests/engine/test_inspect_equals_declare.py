"""What the program declares is what the provider reads back from real Podman, for every docker
resource it declares: so a second ``up`` on Podman changes nothing.

The declared inputs come from the real program on the mocked engine (both stack files, the engine
host pointed at the test's Podman, the engine's own answers about itself). Each resource is then
created on real Podman exactly as pulumi-docker's provider would create it, inspected, and mapped
into state as the provider's read does (``readback.py``). Only what cannot exist here is swapped:
image references (for stand-ins of the same ``repo:tag@sha256:…`` shape in a local registry) and
the image ids the containers use. Containers are created, not started: the stack's fixed host ports
are shared on this machine.
"""

from __future__ import annotations

import os

import pytest

from components import engine_facts
from components.engine_facts import EngineFacts
from tests.engine.conftest import Podman
from tests.engine.readback import NETWORK, REMOTE_IMAGE, VOLUME, ReadBack, integral, mismatches
from tests.engine.readback_container import CONTAINER
from tests.unit.conftest import run_stack
from tools import dev_prereqs
from tools.mock_engine import EngineRun, Registration, unwrap

READBACKS: dict[str, ReadBack] = {
    "docker:index/remoteImage:RemoteImage": REMOTE_IMAGE,
    "docker:index/network:Network": NETWORK,
    "docker:index/volume:Volume": VOLUME,
    "docker:index/container:Container": CONTAINER,
}
"""Every docker resource type the program declares; a new one fails the test until it has a mapping."""
CREATE_ORDER = list(READBACKS)

pytestmark = pytest.mark.integration


def docker_resources(run: EngineRun) -> list[Registration]:
    return [r for r in run.registrations.values() if r.custom and r.type.startswith("docker:")]


def declare(stack: str, podman: Podman, facts: EngineFacts | None) -> EngineRun:
    gid = os.stat(podman.socket_path).st_gid
    return run_stack(stack, overrides={"egoengine:engine": {"host": podman.host}}, socket_gid=gid, engine=facts)


def create_and_compare(run: EngineRun, podman: Podman) -> dict[str, list[str]]:
    """Create the run's docker resources on Podman as the provider would; mismatches by resource."""
    image_ids: dict[str, str] = {}
    found: dict[str, list[str]] = {}
    for registration in sorted(docker_resources(run), key=lambda r: CREATE_ORDER.index(r.type)):
        readback = READBACKS[registration.type]
        declared = readback.complete(integral(unwrap(registration.inputs)))
        if registration.type == "docker:index/remoteImage:RemoteImage":
            stub_id = registration.outputs["imageId"]
            declared["name"] = podman.stand_in(declared["name"])
        elif registration.type == "docker:index/container:Container":
            declared["image"] = image_ids[declared["image"]]
        engine_id = readback.create(podman.api, declared)
        if registration.type == "docker:index/remoteImage:RemoteImage":
            image_ids[stub_id] = podman.api.get(f"/images/{declared['name']}/json")["Id"]
        state = readback.read(podman.api, engine_id)
        found[registration.name] = mismatches(readback, declared, state) + readback.engine_checks(
            podman.api, engine_id, declared
        )
    return found


def test_every_docker_resource_type_the_program_declares_has_a_read_back_mapping() -> None:
    for stack in ("dev", "vermissian"):
        types = {r.type for r in docker_resources(run_stack(stack))}
        assert types <= set(READBACKS), f"add a read-back mapping for {sorted(types - set(READBACKS))}"


def test_the_engine_says_it_is_rootful_podman_and_make_dev_accepts_it(podman: Podman) -> None:
    assert engine_facts.query(str(podman.socket_path)) == EngineFacts(kind="podman", rootless=False)
    report = dev_prereqs.Report()
    assert dev_prereqs.check_engine([podman.host], report) is None
    assert (report.engine_host, report.engine_kind) == (podman.host, "podman")


@pytest.mark.parametrize("stack", ["dev", "vermissian"])
def test_podman_reads_back_every_docker_resource_as_declared(stack: str, podman: Podman) -> None:
    facts = engine_facts.query(str(podman.socket_path))
    run = declare(stack, podman, facts)
    found = create_and_compare(run, podman)
    assert {name: problems for name, problems in found.items() if problems} == {}
    containers = {r.name: unwrap(r.inputs) for r in run.by_type("docker:index/container:Container")}
    for name, declared in containers.items():
        state = CONTAINER.read(podman.api, declared["name"])
        # What survives a reboot on Podman, and what the policy pack keys on.
        assert state["restart"] == "always", name
        assert {"label": "egoengine.engine", "value": "podman"} in declared["labels"]
    if stack == "dev":
        network = NETWORK.read(podman.api, run.one("docker:index/network:Network").inputs["name"])
        assert network["ipamOptions"] == {"driver": "host-local"}


def test_without_the_declared_ipam_options_podman_would_replace_the_network(podman: Podman) -> None:
    """The bug this guards against: declared as for Docker (no IPAM options), Podman reports
    {"driver": "host-local"}, which the provider reads into the ForceNew ``ipamOptions``."""
    run = run_stack("dev", engine=EngineFacts(kind="docker", rootless=False))
    network = unwrap(run.one("docker:index/network:Network").inputs)
    declared = {**network, "name": f"{network['name']}-as-for-docker"}
    state = NETWORK.read(podman.api, NETWORK.create(podman.api, declared))
    assert mismatches(NETWORK, declared, state) == [
        "ipamOptions: not declared (schema default nothing), read back {'driver': 'host-local'}"
    ]
