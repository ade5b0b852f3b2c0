"""Checks on .github/workflows: schema-valid, no high-severity zizmor finding, every action pinned.

Both tools run offline: check-jsonschema ships the GitHub workflow schema ("vendor.github-workflows")
inside the package, and zizmor runs with --offline. Each check also runs once on a deliberately bad
workflow, so a check that silently stopped working would fail here.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKFLOW_DIR = REPO_ROOT / ".github" / "workflows"
WORKFLOWS = sorted(WORKFLOW_DIR.glob("*.yml")) + sorted(WORKFLOW_DIR.glob("*.yaml"))
ZIZMOR = Path(sys.executable).parent / "zizmor"

# `uses: owner/repo[/path]@<40 hex> # v1.2.3` (local `./` actions need no pin).
_USES_LINE = re.compile(r"^\s*(?:-\s*)?uses:\s*(?P<ref>[^\s#]+)\s*(?:#\s*(?P<comment>.*))?$")
_PINNED_REF = re.compile(r"^[^@\s]+@[0-9a-f]{40}$")
_VERSION_COMMENT = re.compile(r"^v\d+(\.\d+)*\b")

BAD_WORKFLOW = """\
name: bad
on: pull_request
jobs:
  echo-title:
    runs-on: ubuntu-24.04
    steps:
      - uses: actions/checkout@v4
      - run: echo "${{ github.event.pull_request.title }}"
"""


def test_the_expected_workflows_exist() -> None:
    assert {path.name for path in WORKFLOWS} >= {"test.yml", "preview.yml", "deploy.yml"}


# ------------------------------------------------------------------------------------------------
# JSON schema (check-jsonschema, vendored GitHub workflow schema)
# ------------------------------------------------------------------------------------------------

def check_schema(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows",
                           *map(str, paths)], capture_output=True, text=True, timeout=120)


def test_workflows_match_the_github_workflow_schema() -> None:
    result = check_schema(*WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_schema_check_rejects_an_invalid_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("name: broken\non: pull_request\njobs:\n  job:\n    steps: not-a-list\n")
    result = check_schema(broken)
    assert result.returncode != 0 and "broken.yml" in result.stdout + result.stderr


# ------------------------------------------------------------------------------------------------
# zizmor
# ------------------------------------------------------------------------------------------------

def zizmor_findings(target: Path) -> list[dict[str, Any]]:
    """zizmor's JSON findings for a file or directory; the auditor persona reports the most."""
    assert ZIZMOR.is_file(), f"zizmor is not installed next to {sys.executable}; pip install zizmor==1.32.0"
    result = subprocess.run([str(ZIZMOR), "--offline", "--no-exit-codes", "--no-progress", "--persona", "auditor",
                             "--format", "json", str(target)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"zizmor failed to run:\n{result.stderr}"
    return json.loads(result.stdout)


def high_severity(findings: list[dict[str, Any]]) -> list[str]:
    return [f"{finding['ident']}: {finding['desc']} "
            f"({finding['locations'][0]['symbolic']['key']['Local']['verbatim_path']})"
            for finding in findings if finding["determinations"]["severity"] == "High"]


def test_zizmor_finds_nothing_of_high_severity() -> None:
    assert high_severity(zizmor_findings(WORKFLOW_DIR)) == []


def test_zizmor_reports_template_injection_in_a_bad_workflow(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(BAD_WORKFLOW)
    assert any("template-injection" in finding for finding in high_severity(zizmor_findings(bad)))


# ------------------------------------------------------------------------------------------------
# Pinning and hygiene (read directly from the YAML)
# ------------------------------------------------------------------------------------------------

def uses_lines(text: str) -> Iterator[re.Match[str]]:
    for line in text.splitlines():
        match = _USES_LINE.match(line)
        if match:
            yield match


def unpinned(text: str) -> list[str]:
    """Every `uses:` that is not a local action and not `@<40-hex SHA> # v<version>`."""
    problems = []
    for match in uses_lines(text):
        ref, comment = match["ref"], (match["comment"] or "").strip()
        if ref.startswith("./"):
            continue
        if not _PINNED_REF.match(ref):
            problems.append(f"{ref}: not pinned to a full commit SHA")
        elif not _VERSION_COMMENT.match(comment):
            problems.append(f"{ref}: no '# vX.Y.Z' comment naming the pinned version")
    return problems


def load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def steps(workflow: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for job in workflow["jobs"].values():
        yield from job.get("steps", [])


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.name)
def test_every_action_is_pinned_to_a_commit_sha(path: Path) -> None:
    text = path.read_text()
    assert unpinned(text) == []
    # The line scan must see every `uses:` the YAML has (no exotic formatting slipping past it).
    uses_in_yaml = [step["uses"] for step in steps(load(path)) if "uses" in step]
    assert [match["ref"] for match in uses_lines(text)] == uses_in_yaml


def test_pin_check_rejects_tags_and_short_shas() -> None:
    text = ("- uses: actions/checkout@v4\n"
            "- uses: actions/setup-python@e797f83 # v6.0.0\n"
            "- uses: pulumi/actions@8e5e406f4007fca908480587cb9893c07090f58d\n"
            "- uses: ./.github/actions/local\n")
    assert unpinned(text) == ["actions/checkout@v4: not pinned to a full commit SHA",
                              "actions/setup-python@e797f83: not pinned to a full commit SHA",
                              "pulumi/actions@8e5e406f4007fca908480587cb9893c07090f58d: no '# vX.Y.Z' comment "
                              "naming the pinned version"]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.name)
def test_least_privilege_and_no_expressions_in_shell(path: Path) -> None:
    workflow = load(path)
    assert workflow["permissions"] in ({}, {"contents": "read"}), "top-level permissions must be {} or read-only"
    assert "group" in workflow["concurrency"]
    for job_name, job in workflow["jobs"].items():
        assert set(job.get("permissions", {}).values()) <= {"read", "write", "none"}, job_name
        assert "write-all" not in str(job.get("permissions"))
    for step in steps(workflow):
        # Untrusted input reaches shell only through env:, never through ${{ }} in the script.
        assert "${{" not in step.get("run", ""), step.get("name")
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step.get("with", {}).get("persist-credentials") is False, path.name


def test_preview_and_deploy_share_one_stack_lock_and_use_the_policy_pack() -> None:
    preview, deploy = load(WORKFLOW_DIR / "preview.yml"), load(WORKFLOW_DIR / "deploy.yml")
    for workflow in (preview, deploy):
        assert workflow["concurrency"] == {"group": "pulumi-vermissian", "cancel-in-progress": False}
        pulumi_steps = [step for step in steps(workflow) if step.get("uses", "").startswith("pulumi/actions@")]
        assert pulumi_steps and all(step["with"]["policyPacks"] == "./policy" for step in pulumi_steps)
        assert all(step["with"]["stack-name"] == "vermissian" for step in pulumi_steps)
    [deploy_job] = deploy["jobs"].values()
    assert deploy_job["environment"] == "production"
    commands = [(step["with"]["command"], step["with"].get("expect-no-changes", False))
                for step in steps(deploy) if step.get("uses", "").startswith("pulumi/actions@")]
    assert commands == [("up", False), ("preview", True)], "deploy must end with the idempotency gate"
