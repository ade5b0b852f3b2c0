"""bump-base.yml: its triggers and permissions, its handling of the untrusted sha, and the README's variants.

The bump step's shell script is run for real with bash, with a stand-in for the tool that records its
arguments, so the sha check is tested as GitHub runs it, injection attempts included. The README's
two snippets (the dispatch step for the base image's CI, and the ``workflow_run`` variant) are built
into workflows and pass the same schema and zizmor checks as the shipped ones.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.workflows.test_workflows import REPO_ROOT, WORKFLOW_DIR, check_schema, high_severity, load, zizmor_findings

WORKFLOW = WORKFLOW_DIR / "bump-base.yml"
README = REPO_ROOT / "README.md"
SHA = "3f9c2d1"


def bump_job() -> dict[str, Any]:
    [job] = load(WORKFLOW)["jobs"].values()
    return dict(job)


def step(name_start: str) -> dict[str, Any]:
    [found] = [s for s in bump_job()["steps"] if s.get("name", "").startswith(name_start)]
    return dict(found)


def test_triggers_permissions_and_concurrency() -> None:
    workflow: dict[Any, Any] = load(WORKFLOW)
    triggers = workflow[True]  # PyYAML reads the key `on` as the boolean True
    assert triggers["repository_dispatch"] == {"types": ["egoengine-base-published"]}
    assert triggers["workflow_dispatch"]["inputs"]["sha"]["required"] is False
    assert workflow["permissions"] == {}
    assert bump_job()["permissions"] == {"contents": "write", "pull-requests": "write"}
    assert workflow["concurrency"] == {"group": "bump-base-vermissian", "cancel-in-progress": False}


def test_the_untrusted_sha_appears_only_in_the_bump_steps_env() -> None:
    text = WORKFLOW.read_text()
    uses = [line for line in text.splitlines() if re.search(r"\$\{\{[^}]*client_payload", line)]
    assert uses == ["          REQUESTED_SHA: ${{ github.event.client_payload.sha || inputs.sha }}"]
    assert step("Resolve the tag")["env"]["REQUESTED_SHA"] == "${{ github.event.client_payload.sha || inputs.sha }}"


def run_bump_script(tmp_path: Path, requested: str, event: str) -> tuple[subprocess.CompletedProcess[str], str | None]:
    """The step's script under bash, with .venv/bin/python recording its arguments instead of running."""
    work = tmp_path / "checkout"
    (work / ".venv" / "bin").mkdir(parents=True, exist_ok=True)
    record = tmp_path / "argv"
    record.unlink(missing_ok=True)
    stand_in = work / ".venv" / "bin" / "python"
    stand_in.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {record}\n')
    stand_in.chmod(stand_in.stat().st_mode | stat.S_IEXEC)
    env = {
        "PATH": os.environ["PATH"], "REQUESTED_SHA": requested, "GITHUB_EVENT_NAME": event,
        "RUNNER_TEMP": str(tmp_path / "temp"), "GITHUB_OUTPUT": str(tmp_path / "output"),
    }
    result = subprocess.run(["bash", "-e", "-c", step("Resolve the tag")["run"]], cwd=work, env=env,
                            capture_output=True, text=True, timeout=30, check=False)
    return result, record.read_text() if record.exists() else None


@pytest.mark.parametrize("event", ["repository_dispatch", "workflow_dispatch"])
def test_a_sha_is_passed_to_the_tool_as_tag(tmp_path: Path, event: str) -> None:
    result, argv = run_bump_script(tmp_path, SHA, event)
    assert result.returncode == 0, result.stderr
    assert argv == (f"-m\ntools.bump_base\nvermissian\n--tag\n{SHA}\n--summary-file\n{tmp_path}/temp/bump-base.md\n"
                    f"--github-output\n{tmp_path}/output\n")


def test_no_sha_means_newest_by_hand_and_an_error_from_a_dispatch(tmp_path: Path) -> None:
    result, argv = run_bump_script(tmp_path, "", "workflow_dispatch")
    assert result.returncode == 0 and argv is not None and argv.splitlines()[3] == "--newest"
    result, argv = run_bump_script(tmp_path, "", "repository_dispatch")
    assert result.returncode == 2 and argv is None
    assert "repository_dispatch without client_payload.sha" in result.stdout


@pytest.mark.parametrize(
    "requested",
    ["$(touch pwned)", "`touch pwned`", f"{SHA}; touch pwned", f"{SHA}\ntouch pwned", f"{SHA} --newest",
     "--newest", "ABCDEF1", "abc123", "a" * 41, '{"sha": "3f9c2d1"}'],
)
def test_anything_but_a_git_sha_stops_the_job_before_the_tool(tmp_path: Path, requested: str) -> None:
    result, argv = run_bump_script(tmp_path, requested, "repository_dispatch")
    assert result.returncode == 2 and argv is None
    assert not list(tmp_path.rglob("pwned"))
    assert requested not in result.stdout + result.stderr  # never echoed (no workflow-command injection)


def test_one_pull_request_with_the_tools_summary_as_its_body() -> None:
    pull_request = step("Open or update the pull request")
    assert pull_request["uses"].startswith("peter-evans/create-pull-request@")
    assert pull_request["if"] == "steps.bump.outputs.changed == 'true'"
    settings = pull_request["with"]
    assert settings["branch"] == "bump-base/vermissian" and settings["add-paths"] == "Pulumi.vermissian.yaml"
    assert settings["body-path"] == "${{ runner.temp }}/bump-base.md"
    assert '--summary-file "$RUNNER_TEMP/bump-base.md"' in step("Resolve the tag")["run"]


# ------------------------------------------------------------------------------------------------
# The README's snippets
# ------------------------------------------------------------------------------------------------

def readme_block(marker: str) -> str:
    """The fenced yaml block right after ``<!-- marker -->`` in the README."""
    match = re.search(rf"<!-- {marker} -->\n```yaml\n(?P<body>.*?)```", README.read_text(), re.DOTALL)
    assert match, f"README has no yaml block after <!-- {marker} -->"
    return match["body"]


def assert_clean(path: Path) -> None:
    result = check_schema(path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert high_severity(zizmor_findings(path)) == []


def test_the_readme_dispatch_step_for_the_base_ci_is_valid(tmp_path: Path) -> None:
    dispatch_step = readme_block("bump-base-dispatch-step")
    assert "event_type=egoengine-base-published" in dispatch_step and "client_payload[sha]" in dispatch_step
    workflow = {
        "name": "Build Base Image", "on": {"push": {"branches": ["main"]}}, "permissions": {},
        "jobs": {"build": {"runs-on": "ubuntu-22.04", "permissions": {"contents": "read"},
                           "steps": yaml.safe_load(dispatch_step)}},
    }
    path = tmp_path / "build-base.yml"
    path.write_text(yaml.safe_dump(workflow, sort_keys=False))
    assert_clean(path)


def test_the_readme_workflow_run_variant_is_valid(tmp_path: Path) -> None:
    variant = readme_block("bump-base-workflow-run")
    triggers, job_condition, sha_line = re.split(r"^# \d\. .*\n", variant, flags=re.MULTILINE)[1:]
    text = WORKFLOW.read_text()
    on_block = re.search(r"^on:\n(?:  .*\n|\n)*?(?=permissions:)", text, re.MULTILINE)
    assert on_block
    text = text.replace(on_block[0], triggers.strip("\n") + "\n\n")
    text = text.replace("    runs-on: ubuntu-24.04\n", job_condition.strip("\n") + "\n    runs-on: ubuntu-24.04\n")
    old_sha_line = "          REQUESTED_SHA: ${{ github.event.client_payload.sha || inputs.sha }}"
    text = text.replace(old_sha_line, sha_line.strip("\n"))
    path = tmp_path / "bump-base.yml"
    path.write_text(text)
    variant_workflow: dict[Any, Any] = load(path)
    assert list(variant_workflow[True]) == ["workflow_run"]
    assert "workflow_run.head_sha" in text and "github.event.client_payload" not in text
    assert_clean(path)
