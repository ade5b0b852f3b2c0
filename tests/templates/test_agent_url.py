"""Both templates attach the workspace to the stack network and point the agent at coder_agent_url."""

from __future__ import annotations

import pytest

from components import template_variables
from tests.templates.agent_init import rendered
from tests.templates.test_coder_templates import TEMPLATE_NAMES, _compact, expression, load_template

templates = pytest.mark.parametrize("template_name", TEMPLATE_NAMES)


@templates
def test_the_workspace_joins_workspace_network_when_it_is_set(template_name: str) -> None:
    network = template_variables.WORKSPACE_NETWORK
    _, container = load_template(template_name).only_resource("docker_container")
    (dynamic,) = [block["networks_advanced"] for block in container["dynamic"] if "networks_advanced" in block]
    # Never on a remote workspace host (hosts.tf): the stack network exists only on the local engine.
    assert _compact(expression(dynamic["for_each"])) == _compact(
        f'var.{network} == "" || local.on_remote_host ? [] : [var.{network}]'
    )
    assert [expression(content["name"]) for content in dynamic["content"]] == ["networks_advanced.value"]
    assert "networks_advanced" not in container and "network_mode" not in container


@templates
def test_the_agent_uses_coder_agent_url_and_nothing_points_at_the_host_gateway(template_name: str) -> None:
    template = load_template(template_name)
    _, container = template.only_resource("docker_container")
    assert "host" not in container and "host.docker.internal" not in template.source
    # The provider keeps its default url, the access URL: data.coder_workspace.me.access_url.
    (coder_provider,) = [p["coder"] for p in template.document["provider"] if "coder" in p]
    assert "url" not in coder_provider
    if template_name == "docker-shell":
        assert expression(container["entrypoint"][-1]) == "local.agent_init_script"
    else:
        env = template.locals["envbuilder_env"]
        assert expression(env["ENVBUILDER_INIT_SCRIPT"]) == "local.agent_init_script"
        assert expression(env["CODER_AGENT_URL"]) == "local.agent_url"


@templates
@pytest.mark.parametrize("access_url", ["http://127.0.0.1:7080", "http://127.0.0.1:7080/"])
def test_a_bridged_stack_points_the_init_script_at_the_coder_alias(template_name: str, access_url: str) -> None:
    agent_url, script = rendered(load_template(template_name), access_url=access_url, coder_agent_url="http://coder:7080")
    assert agent_url == "http://coder:7080"
    assert '"http://coder:7080/bin/coder-linux-amd64"' in script
    assert 'CODER_AGENT_URL="http://coder:7080/"' in script
    assert "127.0.0.1" not in script


@templates
def test_the_host_network_keeps_the_access_url(template_name: str) -> None:
    access_url = "https://coder.husbuddies.gay"
    agent_url, script = rendered(load_template(template_name), access_url=access_url, coder_agent_url="")
    assert agent_url == access_url
    assert f'CODER_AGENT_URL="{access_url}/"' in script and f'"{access_url}/bin/coder-linux-amd64"' in script
