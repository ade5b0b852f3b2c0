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


def pulumi_steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    """The pulumi/actions steps that run a command (the install-only step has none)."""
    return [step for step in steps(workflow)
            if step.get("uses", "").startswith("pulumi/actions@") and "command" in step.get("with", {})]


def test_preview_and_deploy_share_one_stack_lock_and_use_the_policy_pack() -> None:
    preview, deploy = load(WORKFLOW_DIR / "preview.yml"), load(WORKFLOW_DIR / "deploy.yml")
    for workflow in (preview, deploy):
        assert workflow["concurrency"] == {"group": "pulumi-vermissian", "cancel-in-progress": False}
        assert pulumi_steps(workflow) and all(step["with"]["policyPacks"] == "./policy" for step in pulumi_steps(workflow))
        assert all(step["with"]["stack-name"] == "vermissian" for step in pulumi_steps(workflow))
    [deploy_job] = deploy["jobs"].values()
    assert deploy_job["environment"] == "production"
    commands = [(step["with"]["command"], step["with"].get("expect-no-changes", False)) for step in pulumi_steps(deploy)]
    assert commands == [("up", False), ("preview", True)], "deploy must end with the idempotency gate"


PULUMI_WORKFLOWS = ("preview.yml", "deploy.yml")
DEPLOY_SECRETS = {"PULUMI_CONFIG_PASSPHRASE", "OP_SERVICE_ACCOUNT_TOKEN"}


@pytest.mark.parametrize("name", PULUMI_WORKFLOWS)
def test_every_pulumi_operation_refreshes_first(name: str) -> None:
    # pulumi/actions v6+: `refresh: true` runs `up`/`preview` with --refresh (its README and action.yml),
    # so a container stopped or removed by hand is a change that `up` repairs and the gate catches.
    assert all(step["with"].get("refresh") is True for step in pulumi_steps(load(WORKFLOW_DIR / name)))


@pytest.mark.parametrize("name", PULUMI_WORKFLOWS)
def test_the_deploy_secrets_are_given_to_the_pulumi_steps_only(name: str) -> None:
    workflow = load(WORKFLOW_DIR / name)
    assert "env" not in workflow and all("env" not in job for job in workflow["jobs"].values())
    for step in steps(workflow):
        uses_secrets = {key for key, value in step.get("env", {}).items() if "secrets." in str(value)}
        if step in pulumi_steps(workflow):
            assert uses_secrets == DEPLOY_SECRETS, step["name"]
        else:
            assert not uses_secrets and "secrets." not in str(step.get("with", {})).replace("secrets.GITHUB_TOKEN", ""), \
                step.get("name")


def test_the_backend_comes_from_deploy_backend_env(tmp_path: Path) -> None:
    backend_env = REPO_ROOT / "deploy" / "backend.env"
    for name in PULUMI_WORKFLOWS:
        workflow = load(WORKFLOW_DIR / name)
        all_steps = list(steps(workflow))
        [reader] = [step for step in all_steps if "deploy/backend.env" in step.get("run", "")]
        assert all(all_steps.index(reader) < all_steps.index(step) for step in pulumi_steps(workflow))
        assert all(step["with"]["cloud-url"] == "${{ env.PULUMI_PRODUCTION_BACKEND }}" for step in pulumi_steps(workflow))
        # The step's own shell line, run as the runner would: only KEY=VALUE lines reach $GITHUB_ENV.
        github_env = tmp_path / f"{name}.env"
        subprocess.run(["bash", "-e", "-c", reader["run"]], cwd=REPO_ROOT, env={"GITHUB_ENV": str(github_env),
                       "PATH": "/usr/bin:/bin"}, check=True, timeout=30)
        [line] = github_env.read_text().splitlines()
        assert line.startswith("PULUMI_PRODUCTION_BACKEND=file:///") and line in backend_env.read_text()


def test_the_runner_is_checked_with_make_doctor_before_pulumi_runs() -> None:
    assert re.search(r"^doctor:", (REPO_ROOT / "Makefile").read_text(), re.MULTILINE)
    for name in PULUMI_WORKFLOWS:
        workflow = load(WORKFLOW_DIR / name)
        all_steps = list(steps(workflow))
        [doctor] = [step for step in all_steps if step.get("run") == "make doctor STACK=vermissian"]
        [install] = [step for step in all_steps
                     if step.get("uses", "").startswith("pulumi/actions@") and "command" not in step["with"]]
        assert all_steps.index(install) < all_steps.index(doctor)
        assert all(all_steps.index(doctor) < all_steps.index(step) for step in pulumi_steps(workflow))


def test_the_cli_version_is_the_sdks() -> None:
    [pin] = re.findall(r"^pulumi==(\S+)$", (REPO_ROOT / "requirements.txt").read_text(), re.MULTILINE)
    for name in PULUMI_WORKFLOWS:
        for step in steps(load(WORKFLOW_DIR / name)):
            if step.get("uses", "").startswith("pulumi/actions@"):
                assert step["with"]["pulumi-version"] == pin, f"{name}: {step['name']}"
