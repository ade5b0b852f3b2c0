"""The offline plan's workspace-hosts section: each host, what it pre-pulls, which templates offer it.

Read from the registered graph (not from the settings), so it shows what the program declared.
"""

from __future__ import annotations

import json
from typing import Any

from tools import mock_engine

HOST_IMAGES = "egoengine:hosts:HostImages"
DOCKER_PROVIDER = "pulumi:providers:docker"
REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage"
TEMPLATE = "pulumi-python:dynamic/coder:Template"


def _template_hosts(reg: mock_engine.Registration) -> dict[str, bool]:
    """Host name -> gpus, as the template is told (its ``workspace_hosts`` variable)."""
    variables = mock_engine.unwrap(reg.inputs.get("variables"))
    listed: Any = variables.get("workspace_hosts", "[]") if isinstance(variables, dict) else "[]"
    try:
        return {str(host["name"]): bool(host.get("gpus")) for host in json.loads(listed)}
    except (TypeError, ValueError, KeyError, AttributeError):
        return {}


def host_lines(registrations: dict[str, mock_engine.Registration]) -> list[str]:
    """``local`` and each remote host: its URI, GPUs, pre-pulls, and the templates that offer it."""
    templates = {
        str(mock_engine.unwrap(reg.inputs.get("name", reg.name))): _template_hosts(reg)
        for reg in registrations.values()
        if reg.type == TEMPLATE
    }
    lines = [f"local: the Coder server's engine; templates: {', '.join(sorted(templates)) or '(none)'}"]
    for component in sorted((r for r in registrations.values() if r.type == HOST_IMAGES), key=lambda r: r.name):
        children = [r for r in registrations.values() if r.parent == component.urn]
        provider = next((r for r in children if r.type == DOCKER_PROVIDER), None)
        uri = mock_engine.unwrap(provider.inputs.get("host")) if provider else "?"
        host = component.name.removeprefix("egoengine-host-")
        pulls = sorted(
            str(mock_engine.unwrap(r.inputs.get("name"))) for r in children if r.type == REMOTE_IMAGE
        )
        offered = sorted(name for name, hosts in templates.items() if host in hosts)
        gpus = any(hosts.get(host) for hosts in templates.values())
        lines.append(f"{host}: {uri}{' (GPU)' if gpus else ''}; templates: {', '.join(offered) or '(none)'}")
        lines += [f"  pre-pulls {ref}" for ref in pulls] or ["  pre-pulls nothing"]
    return lines
