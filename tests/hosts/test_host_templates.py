"""Host choice in both templates, checked with python-hcl2: an immutable parameter offering every
host (GPU hosts say so), the docker provider on the chosen host's ssh:// URI with only the pinned
host keys trusted, ``gpus = "all"`` on GPU hosts. (The agent URL on remote hosts is checked with
the loopback rewrite in tests/templates.)"""

from __future__ import annotations

import json
import re

import pytest

from components import template_variables, workspace_hosts
from tests.templates.test_coder_templates import TEMPLATES_ROOT, TEMPLATE_NAMES, load_template

templates = pytest.mark.parametrize("name", TEMPLATE_NAMES)


def test_hosts_tf_is_the_same_file_in_every_template() -> None:
    texts = {(TEMPLATES_ROOT / name / "hosts.tf").read_bytes() for name in TEMPLATE_NAMES}
    assert len(texts) == 1


@templates
def test_the_host_is_an_immutable_parameter_offering_local_and_every_configured_host(name: str) -> None:
    template = load_template(name)
    parameter = next(
        block["coder_parameter"]["workspace_host"]
        for block in template.document["data"]
        if "workspace_host" in block.get("coder_parameter", {})
    )
    assert parameter["mutable"] is False, "volumes stay on their host: a rebuild must not move a workspace"
    assert (parameter["type"], parameter["default"]) == ("string", "local")
    (option,) = [d["option"] for d in parameter["dynamic"]]
    assert option["for_each"] == "${local.workspace_hosts}"
    (content,) = option["content"]
    assert content["value"] == "${option.value.name}"
    assert content["name"] == '${option.value.gpus ? "${option.value.name} (GPU)" : option.value.name}'
    hosts = template.locals["workspace_hosts"]
    assert '{name = "local", uri = "", gpus = false' in re.sub(r"\s+", " ", hosts).replace("{ ", "{")
    assert f"jsondecode(var.{template_variables.WORKSPACE_HOSTS})" in hosts


@templates
def test_the_docker_provider_uses_the_hosts_ssh_uri_with_strict_host_key_checking(name: str) -> None:
    template = load_template(name)
    (provider,) = [p["docker"] for p in template.document["provider"] if "docker" in p]
    assert provider["host"].startswith("${local.on_remote_host ? local.host_uri : ")
    assert template.locals["host_uri"] == '${try(local.workspace_host.uri, "")}'
    assert provider["ssh_opts"] == "${local.host_ssh_opts}"
    match = re.fullmatch(r"\$\{local\.on_remote_host \? (\[.*\]) : \[\]\}", template.locals["host_ssh_opts"], re.S)
    assert match, template.locals["host_ssh_opts"]
    listed = (
        match[1]
        .replace("${var.hosts_known_hosts_file}", workspace_hosts.CODER_KNOWN_HOSTS_FILE)
        .replace("var.hosts_identity_file", json.dumps(workspace_hosts.CODER_IDENTITY_FILE))
    )
    # The same flags the pre-pull providers use, with the files mounted into the Coder container.
    assert json.loads(listed) == workspace_hosts.ssh_options(
        workspace_hosts.CODER_IDENTITY_FILE, workspace_hosts.CODER_KNOWN_HOSTS_FILE
    )


@templates
def test_workspaces_on_a_gpu_host_get_all_gpus(name: str) -> None:
    template = load_template(name)
    assert template.locals["host_gpus"] == '${try(local.workspace_host.gpus, false) ? "all" : null}'
    _, container = template.only_resource("docker_container")
    assert container["gpus"] == "${local.host_gpus}"


@templates
def test_the_host_variables_have_harmless_defaults(name: str) -> None:
    variables = load_template(name).variables
    assert variables[template_variables.WORKSPACE_HOSTS]["default"] == "[]"
    for variable in template_variables.HOST_VARIABLES:
        assert variable in variables and not variables[variable].get("sensitive", False)


@templates
def test_a_workspace_whose_host_was_removed_fails_by_name_instead_of_moving(name: str) -> None:
    template = load_template(name)
    guard = template.resources("terraform_data")["workspace_host"]
    (lifecycle,) = guard["lifecycle"]
    (precondition,) = lifecycle["precondition"]
    assert precondition["condition"] == "${local.workspace_host != null}"
    assert "no longer configured in egoengine:hosts" in precondition["error_message"]


@templates
def test_on_a_remote_host_the_agent_uses_the_access_url_and_no_stack_network(name: str) -> None:
    template = load_template(name)
    # The stack network and the Coder alias exist only on the local engine.
    assert "!local.on_remote_host" in template.locals["agent_url"]
    assert template.locals["agent_url"].endswith(": data.coder_workspace.me.access_url}")
    _, container = template.only_resource("docker_container")
    (dynamic,) = [block["networks_advanced"] for block in container["dynamic"] if "networks_advanced" in block]
    assert "local.on_remote_host ? [] :" in dynamic["for_each"]
