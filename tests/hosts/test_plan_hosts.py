"""The offline plan lists the workspace hosts, what each pre-pulls, and which templates offer them."""

from __future__ import annotations

import json

import pytest

from tests.hosts.keys import HOST_KEY, OTHER_HOST_KEY
from tools import plan

HOSTS = [
    {"name": "gpu-box", "uri": "ssh://coder@gpu.lan", "hostKey": HOST_KEY, "gpus": True},
    {"name": "cpu-box", "uri": "ssh://coder@cpu.lan:2222", "hostKey": OTHER_HOST_KEY},
]


def section(text: str) -> list[str]:
    lines = text.splitlines()
    start = lines.index("Workspace hosts:") + 1
    return [line for line in lines[start : lines.index("", start)]]


def test_the_plan_lists_hosts_pre_pulls_and_templates(capsys: pytest.CaptureFixture[str]) -> None:
    assert plan.main(["vermissian", "--config-override", f"egoengine:hosts={json.dumps(HOSTS)}"]) == 0
    lines = section(capsys.readouterr().out)
    assert lines[0] == "  local: the Coder server's engine; templates: docker-envbuilder, docker-shell"
    assert lines[1] == "  cpu-box: ssh://coder@cpu.lan:2222; templates: docker-envbuilder, docker-shell"
    assert lines[2].startswith("    pre-pulls ghcr.io/joshsymonds/nix-config/egoengine:22bba72@")
    assert lines[3] == "  gpu-box: ssh://coder@gpu.lan (GPU); templates: docker-envbuilder, docker-shell"
    assert lines[4] == lines[2]


def test_a_stack_without_hosts_lists_only_local(capsys: pytest.CaptureFixture[str]) -> None:
    assert plan.main(["dev"]) == 0
    assert section(capsys.readouterr().out) == [
        "  local: the Coder server's engine; templates: docker-envbuilder, docker-shell"
    ]
