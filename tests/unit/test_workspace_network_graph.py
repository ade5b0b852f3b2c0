"""How workspaces reach Coder: the stack network and the agent URL the program passes to templates.

Bridged, Coder is published on loopback only; workspaces join the stack network and their agents
use the Coder container's alias there. On the host network they keep the access URL.
"""

from __future__ import annotations

from tests.unit.conftest import run_stack
from tests.unit.test_bad_input import CODER
from tools.mock_engine import EngineRun, unwrap

CONTAINER = "docker:index/container:Container"
NETWORK = "docker:index/network:Network"
TEMPLATE = "pulumi-python:dynamic/coder:Template"


def template_variables(run: EngineRun) -> dict[str, dict]:
    return {unwrap(r.inputs)["name"]: unwrap(r.inputs)["variables"] for r in run.by_type(TEMPLATE)}


def test_dev_workspaces_join_the_stack_network_and_reach_coder_by_its_alias(dev_up: EngineRun) -> None:
    network = unwrap(dev_up.one(NETWORK).inputs)["name"]
    coder = unwrap(dev_up.one(CONTAINER, "coder-container").inputs)
    assert coder["networksAdvanced"] == [{"name": network, "aliases": ["coder"]}]
    # The browser keeps the loopback access URL; only agents use the alias.
    assert coder["ports"] == [{"internal": 7080, "external": 7080, "ip": "127.0.0.1"}]
    variables = template_variables(dev_up)
    assert set(variables) == {"docker-envbuilder", "docker-shell"}
    for values in variables.values():
        assert values["workspace_network"] == network == "egoengine-dev"
        assert values["coder_agent_url"] == "http://coder:7080"


def test_the_agent_url_follows_the_configured_port() -> None:
    run = run_stack(
        "dev",
        overrides={"egoengine:coder": {**CODER, "accessUrl": "http://127.0.0.1:7443", "port": 7443}},
    )
    for values in template_variables(run).values():
        assert values["coder_agent_url"] == "http://coder:7443"


def test_vermissian_on_the_host_network_keeps_the_access_url(vermissian_up: EngineRun) -> None:
    assert not vermissian_up.by_type(NETWORK)
    for values in template_variables(vermissian_up).values():
        # Empty: the templates keep the engine's default network and the provider's access URL.
        assert values["workspace_network"] == ""
        assert values["coder_agent_url"] == ""


def test_a_bridged_coder_with_an_external_database_still_gets_the_network() -> None:
    run = run_stack(
        "dev",
        overrides={
            "egoengine:database": {"mode": "external", "host": "db.internal"},
            "egoengine:secrets": {"databaseAdminPassword": "config:pgAdmin"},
        },
        extra_secrets={"egoengine:pgAdmin": "admin-pw"},
    )
    network = unwrap(run.one(NETWORK).inputs)["name"]
    coder = unwrap(run.one(CONTAINER, "coder-container").inputs)
    assert coder["networksAdvanced"] == [{"name": network, "aliases": ["coder"]}]
    for values in template_variables(run).values():
        assert values["workspace_network"] == network
