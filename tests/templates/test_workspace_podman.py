"""The templates' networking and mounts, run on real Podman (in a network namespace of its own).

No Terraform provider can be downloaded here, so the templates are not applied. What is real:
the values come from the program (the mocked-engine run of the dev stack: network name, the Coder
container's alias and port, the template variables) and from the templates themselves (the mount
path and volume name, parsed with python-hcl2 and resolved); Podman then runs containers exactly so.
"""

from __future__ import annotations

import re
import secrets
import time
from typing import Any

import pytest

from components import template_variables
from tests.templates.agent_init import rendered
from tests.templates.podman_workspace import HOME, USER_ID, NamespacedEngine
from tests.templates.test_coder_templates import TEMPLATE_NAMES, Template, expression, load_template
from tests.unit.conftest import run_stack
from tools.mock_engine import unwrap

pytestmark = pytest.mark.integration

WORKSPACE_ID = "4f6c1c1e-0000-4000-8000-00000000abcd"
AGENT_BINARY = '#!/bin/sh\necho "agent-binary-ran $1 $CODER_AGENT_URL"\n'
_REFERENCE = re.compile(r"\$\{([^{}]+)\}")


def resolve(template: Template, text: str, values: dict[str, str]) -> str:
    """Resolve the simple interpolations the templates' names and paths use."""
    volumes = {name: body for name, body in template.resources("docker_volume").items()}

    def lookup(match: re.Match[str]) -> str:
        reference = match[1]
        if reference.startswith("local."):
            return str(template.locals[reference.removeprefix("local.")])
        if reference.startswith("docker_volume.") and reference.endswith(".name"):
            return str(volumes[reference.split(".")[1]]["name"])
        return values[reference]

    for _ in range(10):
        text, count = _REFERENCE.subn(lookup, text)
        if not count:
            return text
    raise AssertionError(f"unresolved: {text}")


def workspace_mounts(template_name: str) -> list[tuple[str, str]]:
    """(volume name, container path) of the template's workspace container, resolved."""
    template = load_template(template_name)
    _, container = template.only_resource("docker_container")
    values = {"var.workspace_user": "joshsymonds", "data.coder_workspace.me.id": WORKSPACE_ID}

    def resolved(value: Any) -> str:
        return resolve(template, "${" + expression(value) + "}", values)

    return [(resolved(mount["volume_name"]), resolved(mount["container_path"])) for mount in container["volumes"]]


# --- Point: a workspace reaches Coder on the stack network ---------------------------------------


@pytest.fixture(scope="module")
def dev_plan() -> dict[str, Any]:
    run = run_stack("dev")
    coder = unwrap(run.one("docker:index/container:Container", "coder-container").inputs)
    (template,) = [r for r in run.by_type("pulumi-python:dynamic/coder:Template") if unwrap(r.inputs)["name"] == "docker-shell"]
    return {
        "network": unwrap(run.one("docker:index/network:Network").inputs)["name"],
        "coder": coder,
        "variables": unwrap(template.inputs)["variables"],
    }


def test_a_workspace_on_the_stack_network_reaches_coder_by_its_alias(
    namespaced_engine: NamespacedEngine, dev_plan: dict[str, Any]
) -> None:
    engine = namespaced_engine
    image = engine.import_image(
        "localhost/egoengine-tpl/net:1",
        {},
        extra_files={"/www/healthz": "ok\n", "/www/bin/coder-linux-amd64": AGENT_BINARY},
    )
    network = dev_plan["network"]
    (attachment,) = dev_plan["coder"]["networksAdvanced"]
    # Numbers cross the engine protocol as floats.
    (published,) = [{k: v if k == "ip" else int(v) for k, v in p.items()} for p in dev_plan["coder"]["ports"]]
    variables = dev_plan["variables"]
    assert attachment["name"] == variables[template_variables.WORKSPACE_NETWORK] == network

    suffix = secrets.token_hex(3)
    engine.docker("network", "create", network)
    coder_name = f"coder-standin-{suffix}"
    # The stand-in listens where Coder does (its port, its alias, published on loopback only).
    engine.docker(
        "run", "-d", "--name", coder_name, "--network", network,
        *[arg for alias in attachment["aliases"] for arg in ("--network-alias", alias)],
        "-p", f"{published['ip']}:{published['external']}:{published['internal']}",
        image, "httpd", "-f", "-p", str(published["internal"]), "-h", "/www",
    )
    try:
        # The init script as docker-shell hands it to the container: the provider's script for the
        # dev access URL, pointed at coder_agent_url by the template's own expressions.
        access_url = dict(e.split("=", 1) for e in dev_plan["coder"]["envs"])["CODER_ACCESS_URL"]
        _, init_script = rendered(
            load_template("docker-shell"),
            access_url=access_url,
            coder_agent_url=variables[template_variables.CODER_AGENT_URL],
        )
        # (Podman 4.3's Docker API reports exit 0 for `run --rm` whatever the command did, so the
        # outcome is printed rather than read from the exit code.)
        bootstrap = init_script.replace("|| exit 1", "|| { echo unreachable; exit 1; }")
        # aardvark-dns learns a new container's alias a moment after it starts: a few tries.
        for _ in range(20):
            joined = engine.docker(
                "run", "--rm", "--user", str(USER_ID), "--network", variables[template_variables.WORKSPACE_NETWORK],
                image, "sh", "-c", bootstrap,
            )
            if "bad address" not in joined.stderr:
                break
            time.sleep(0.5)
        assert joined.stdout.strip() == "agent-binary-ran agent http://coder:7080/", joined.stderr

        # Off the stack network (what the old templates did) the alias does not resolve.
        stranded = engine.docker("run", "--rm", "--user", str(USER_ID), image, "sh", "-c", bootstrap, check=False)
        assert stranded.stdout.strip() == "unreachable" and "bad address" in stranded.stderr

        # The browser keeps the loopback access URL on the machine itself.
        browser = engine.in_namespace("busybox", "wget", "-q", "-O", "-", f"http://127.0.0.1:{published['external']}/healthz")
        assert browser.returncode == 0 and browser.stdout.strip() == "ok"
    finally:
        engine.docker("rm", "-f", coder_name, check=False)
        engine.docker("network", "rm", network, check=False)


# --- Point: the image's home stays current, the user's data persists -----------------------------


@pytest.mark.parametrize("template_name", TEMPLATE_NAMES)
def test_a_new_image_reaches_an_existing_workspace_and_the_users_files_stay(
    namespaced_engine: NamespacedEngine, template_name: str
) -> None:
    engine = namespaced_engine
    tag = secrets.token_hex(3)
    v1 = engine.import_image(f"localhost/egoengine-tpl/home:v1-{tag}", {".env.local": "export EGO_VERSION=1\n"})
    v2 = engine.import_image(
        f"localhost/egoengine-tpl/home:v2-{tag}",
        {".env.local": "export EGO_VERSION=2\n", ".local/bin/newtool": "-> /opt/newtool/bin/newtool"},
    )
    ((volume, path),) = workspace_mounts(template_name)
    assert path == f"{HOME}/workspaces"
    volume = f"{volume}-{tag}"  # unique per run: other tests share this engine
    login = f'echo "version=$EGO_VERSION"; readlink "$HOME/.local/bin/newtool"; cat "{path}/notes.txt"'
    try:
        # Started from v1, the user writes a file into the persistent dir (as the image's user).
        first = engine.docker(
            "run", "--rm", "--user", str(USER_ID), "-v", f"{volume}:{path}", v1,
            "sh", "-lc", f'echo "work in progress" > "{path}/notes.txt" && {login}', check=False,
        )
        assert "version=1" in first.stdout and "work in progress" in first.stdout, first.stderr

        # The next start runs v2 with the same volume: v2's home files, the user's file kept.
        second = engine.docker("run", "--rm", "--user", str(USER_ID), "-v", f"{volume}:{path}", v2, "sh", "-lc", login, check=False)
        assert second.stdout.splitlines() == ["version=2", "/opt/newtool/bin/newtool", "work in progress"], second.stderr
    finally:
        engine.docker("volume", "rm", "-f", volume, check=False)


def test_a_volume_over_the_whole_home_would_hide_the_new_image(namespaced_engine: NamespacedEngine) -> None:
    """The old layout, for contrast: Podman copies the image's home into the volume only once."""
    engine = namespaced_engine
    tag = secrets.token_hex(3)
    v1 = engine.import_image(f"localhost/egoengine-tpl/old:v1-{tag}", {".env.local": "export EGO_VERSION=1\n"})
    v2 = engine.import_image(f"localhost/egoengine-tpl/old:v2-{tag}", {".env.local": "export EGO_VERSION=2\n"})
    volume = f"coder-{WORKSPACE_ID}-home-{tag}"
    try:
        engine.docker("run", "--rm", "-v", f"{volume}:{HOME}", v1, "sh", "-lc", "true")
        stale = engine.docker("run", "--rm", "-v", f"{volume}:{HOME}", v2, "sh", "-lc", 'echo "version=$EGO_VERSION"')
        assert stale.stdout.strip() == "version=1"

        # A workspace made that way keeps its data after the template change: the moved volume
        # is mounted at ~/workspaces, and the new image's home is live around it.
        moved = engine.docker(
            "run", "--rm", "-v", f"{volume}:{HOME}/workspaces", v2,
            "sh", "-lc", f'echo "version=$EGO_VERSION"; cat {HOME}/workspaces/.env.local',
        )
        assert moved.stdout.splitlines() == ["version=2", "export EGO_VERSION=1"]
    finally:
        engine.docker("volume", "rm", "-f", volume, check=False)
