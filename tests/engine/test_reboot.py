"""The Coder and PostgreSQL containers come back after a host reboot on real Podman.

Podman has no daemon: after a reboot only podman-restart.service starts containers. The test
creates and starts the dev stack's network, volume and containers exactly as the program declares
them (as pulumi-docker's provider would), plus a control container with the restart policy the
program used before (``unless-stopped``), "reboots" the engine (``rebootable_podman``), runs the
command of the podman-restart.service unit this machine's Podman package installs, and looks at
what runs.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import pytest

from components import engine_facts
from tests.engine.conftest import STAND_IN, stand_in_image
from tests.engine.readback import NETWORK, VOLUME, integral, mismatches
from tests.engine.readback_container import CONTAINER
from tests.engine.rebootable_podman import RebootablePodman
from tests.unit.conftest import run_stack
from tools.mock_engine import unwrap

pytestmark = pytest.mark.integration
RESTART_UNITS = (Path("/usr/lib/systemd/system/podman-restart.service"), Path("/lib/systemd/system/podman-restart.service"))


@pytest.fixture(scope="module")
def rebootable(request: pytest.FixtureRequest) -> RebootablePodman:
    return RebootablePodman(request)


def restart_unit_command() -> list[str]:
    """The podman arguments of the installed unit's ExecStart (after ``$LOGGING``)."""
    unit = next((path for path in RESTART_UNITS if path.is_file()), None)
    if unit is None:
        pytest.fail("podman-restart.service is not installed (it comes with Debian's podman package)")
    [exec_start] = [line.split("=", 1)[1] for line in unit.read_text().splitlines() if line.startswith("ExecStart=")]
    words = shlex.split(exec_start)
    return words[words.index("$LOGGING") + 1:] if "$LOGGING" in words else words[1:]


def running_names(engine: RebootablePodman) -> set[str]:
    return {c["Names"][0].lstrip("/") for c in engine.api.get("/containers/json")}


def test_coder_and_postgres_come_back_after_a_reboot(rebootable: RebootablePodman) -> None:
    api = rebootable.api
    run = run_stack("dev", overrides={"egoengine:engine": {"host": rebootable.host}},
                    socket_gid=os.stat(rebootable.socket_path).st_gid,
                    engine=engine_facts.query(str(rebootable.socket_path)))
    stand_in_image(rebootable.directory, rebootable.host)
    image_id = api.get(f"/images/{STAND_IN}/json")["Id"]
    NETWORK.create(api, unwrap(run.one("docker:index/network:Network").inputs))
    VOLUME.create(api, unwrap(run.one("docker:index/volume:Volume").inputs))
    declared = [CONTAINER.complete({**integral(unwrap(r.inputs)), "image": image_id})
                for r in run.by_type("docker:index/container:Container")]
    postgres = next(d for d in declared if d["name"].endswith("-postgres"))
    control = {"name": f"{postgres['name']}-unless-stopped", "image": image_id, "restart": "unless-stopped"}
    for container in [*declared, control]:
        api.post(f"/containers/{CONTAINER.create(api, container)}/start")
    program = {d["name"] for d in declared}
    assert running_names(rebootable) == program | {control["name"]}
    for container in declared:  # running now, so the provider also reads the published ports back
        assert mismatches(CONTAINER, container, CONTAINER.read(api, container["name"])) == []

    rebootable.reboot()
    assert running_names(rebootable) == set()
    command = restart_unit_command()
    started = rebootable.podman(*command)
    assert started.returncode == 0, started.stderr

    states = {n: api.get(f"/containers/{n}/json")["State"] for n in program}
    assert running_names(rebootable) == program, f"after `podman {' '.join(command)}`: {started.stdout} {started.stderr} {states}"
    for name in program:
        assert CONTAINER.read(api, name)["restart"] == "always"
