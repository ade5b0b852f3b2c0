"""The agent's init script as a template hands it to the workspace, computed the way Terraform would.

How the script is made (sources named in the README's "How workspaces reach Coder"):

- coder/coder ``provisionersdk/agent.go``: the bootstrap script downloads ``${ACCESS_URL}bin/coder-
  linux-<arch>`` and exports ``CODER_AGENT_URL="${ACCESS_URL}"``;
- coder/coder ``provisioner/terraform/provision.go``: the provisioner runs Terraform with
  ``CODER_AGENT_URL`` set to the deployment's access URL;
- coder/terraform-provider-coder ``provider/provider.go`` and ``provider/agent.go``: the provider's
  ``url`` defaults to ``CODER_AGENT_URL``; ``coder_agent.init_script`` replaces ``${ACCESS_URL}``
  with that URL resolved against ``/``, and ``data.coder_workspace.access_url`` is the URL itself.

The stand-in script below has that shape (busybox ``wget`` instead of curl) so that it also runs in
the test containers. The template's own expressions are checked textually, then evaluated here.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin

from tests.templates.test_coder_templates import Template, expression

BOOTSTRAP = (
    "#!/bin/sh\n"
    'wget -q -O /tmp/coder "${ACCESS_URL}bin/coder-linux-${ARCH}" || exit 1\n'
    'export CODER_AGENT_AUTH="${AUTH_TYPE}"\n'
    'export CODER_AGENT_URL="${ACCESS_URL}"\n'
    "exec sh /tmp/coder agent\n"
)
# On a remote workspace host (hosts.tf: local.on_remote_host) the stack network is not there: the
# agent uses the access URL. These tests render the local host (on_remote_host false).
AGENT_URL = 'var.coder_agent_url != "" && !local.on_remote_host ? var.coder_agent_url : data.coder_workspace.me.access_url'
INIT_SCRIPT = (
    'replace(coder_agent.main.init_script, trimsuffix(data.coder_workspace.me.access_url, "/"), '
    'trimsuffix(local.agent_url, "/"))'
)


def _compact(text: str) -> str:
    return re.sub(r"\s+", "", text)


def provider_init_script(access_url: str) -> str:
    """``coder_agent.main.init_script`` for a provider whose url is ``access_url``."""
    return (
        BOOTSTRAP.replace("${ARCH}", "amd64")
        .replace("${ACCESS_URL}", urljoin(access_url, "/"))
        .replace("${AUTH_TYPE}", "token")
    )


def rendered(template: Template, *, access_url: str, coder_agent_url: str) -> tuple[str, str]:
    """(``local.agent_url``, ``local.agent_init_script``) of ``template`` for these inputs."""
    assert _compact(expression(template.locals["agent_url"])) == _compact(AGENT_URL), template.name
    assert _compact(expression(template.locals["agent_init_script"])) == _compact(INIT_SCRIPT), template.name
    agent_url = coder_agent_url if coder_agent_url != "" else access_url
    script = provider_init_script(access_url).replace(access_url.removesuffix("/"), agent_url.removesuffix("/"))
    return agent_url, script
