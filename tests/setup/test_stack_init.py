"""`make stack-init`: run for real with a stand-in Pulumi CLI that keeps stacks in a file backend."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]
TOKEN = "ops_canary-service-account-token-6b0d"

# Records each call (argv, stdin) and behaves like the CLI for the commands stack-init uses.
STAND_IN = r'''#!{python}
import json, os, sys
from pathlib import Path
args = sys.argv[1:]
stdin = "" if sys.stdin.isatty() else sys.stdin.read()
with open(os.environ["CALLS"], "a") as calls:
    calls.write(json.dumps({{"argv": args, "stdin": stdin}}) + "\n")
backend = Path(os.environ["PULUMI_BACKEND_URL"].removeprefix("file://"))
if args[:2] == ["stack", "select"]:
    stack = [a for a in args[2:] if not a.startswith("-") and a != "passphrase"][0]
    marker = backend / ".pulumi" / "stacks" / "egoengine" / f"{{stack}}.json"
    if not marker.exists():
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text("{{}}")
        stack_file = Path(f"Pulumi.{{stack}}.yaml")
        text = stack_file.read_text() if stack_file.exists() else "config: {{}}\n"
        stack_file.write_text("encryptionsalt: v1:c2FsdA==:v1:abc:def\n" + text)
        print(f"Created stack '{{stack}}'")
elif args[:3] == ["config", "set", "--secret"]:
    stack = args[args.index("-s") + 1]
    with open(f"Pulumi.{{stack}}.yaml", "a") as stack_file:
        stack_file.write(f"  {{args[3]}}:\n    secure: v1:encrypted-{{len(stdin)}}\n")
'''


@pytest.fixture()
def box(tmp_path: Path) -> dict:
    project, bin_dir, backend = tmp_path / "project", tmp_path / "bin", tmp_path / "backend"
    for directory in (project, bin_dir, backend):
        directory.mkdir()
    shutil.copy(PROJECT / "Pulumi.vermissian.yaml", project / "Pulumi.vermissian.yaml")
    (bin_dir / "pulumi").write_text(STAND_IN.format(python=sys.executable))
    (bin_dir / "pulumi").chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "CALLS": str(tmp_path / "calls"), "HOME": str(tmp_path),
           "PULUMI_BACKEND_URL": f"file://{backend}", "PULUMI_CONFIG_PASSPHRASE": "passphrase-never-printed"}
    return {"project": project, "bin": bin_dir, "backend": backend, "env": env, "calls": tmp_path / "calls"}


def stack_init(box: dict, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in (box["env"] | env).items() if value}
    return subprocess.run(
        [sys.executable, "-m", "tools.stack_init", "--project-dir", str(box["project"]), "vermissian"],
        cwd=PROJECT, env=environment, input=stdin, capture_output=True, text=True, timeout=60, check=False,
    )


def calls(box: dict) -> list[dict]:
    path: Path = box["calls"]
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_creates_the_stack_with_the_passphrase_provider_and_leaves_the_salt_to_commit(box: dict) -> None:
    before = (box["project"] / "Pulumi.vermissian.yaml").read_text()
    result = stack_init(box)
    assert result.returncode == 0, result.stderr
    assert [call["argv"] for call in calls(box)] == [
        ["stack", "select", "--create", "--secrets-provider", "passphrase", "vermissian", "--non-interactive"]]
    after = (box["project"] / "Pulumi.vermissian.yaml").read_text()
    assert after.startswith("encryptionsalt: v1:") and after.endswith(before)
    assert "commit Pulumi.vermissian.yaml" in result.stdout
    assert f"ready on file://{box['backend']}" in result.stdout
    assert "passphrase-never-printed" not in result.stdout + result.stderr


def test_a_second_run_changes_nothing(box: dict) -> None:
    assert stack_init(box).returncode == 0
    first = (box["project"] / "Pulumi.vermissian.yaml").read_text()
    second = stack_init(box)
    assert second.returncode == 0, second.stderr
    assert (box["project"] / "Pulumi.vermissian.yaml").read_text() == first
    assert "Created stack" not in second.stderr


def test_a_token_on_stdin_becomes_a_config_secret_and_never_an_argument(box: dict) -> None:
    result = stack_init(box, stdin=TOKEN + "\n")
    assert result.returncode == 0, result.stderr
    recorded = calls(box)
    assert recorded[-1] == {"argv": ["config", "set", "--secret", "onepassword:serviceAccountToken", "-s",
                                     "vermissian", "--non-interactive"], "stdin": TOKEN}
    assert all(TOKEN not in " ".join(call["argv"]) for call in recorded)
    assert TOKEN not in result.stdout + result.stderr
    assert "1Password token stored as a secret" in result.stdout


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"PULUMI_CONFIG_PASSPHRASE": ""}, "stack-init: neither PULUMI_CONFIG_PASSPHRASE nor PULUMI_CONFIG_PASSPHRASE_FILE is set"),
        ({"PULUMI_BACKEND_URL": "file:///nonexistent/egoengine-pulumi"},
         "stack-init: the backend directory /nonexistent/egoengine-pulumi is missing or not writable; "
         "create it: sudo install -d -m 0700 -o $(id -un) /nonexistent/egoengine-pulumi"),
        ({"PULUMI_BACKEND_URL": ""}, "stack-init: PULUMI_BACKEND_URL is not set"),
        ({"PATH": "/nonexistent"}, "stack-init: the Pulumi CLI is not on PATH"),
    ],
    ids=["no-passphrase", "no-backend-dir", "no-backend", "no-cli"],
)
def test_a_missing_prerequisite_is_one_line_and_changes_nothing(box: dict, env: dict[str, str], expected: str) -> None:
    result = stack_init(box, **env)
    assert result.returncode == 2
    assert result.stderr.startswith(expected) and result.stderr.count("\n") == 1
    assert calls(box) == []


def test_a_missing_project_local_backend_is_created(box: dict) -> None:
    backend = box["backend"] / "project-state"
    result = stack_init(box, PULUMI_BACKEND_URL=f"file://{backend}")
    assert result.returncode == 0, result.stderr
    assert backend.is_dir() and (backend.stat().st_mode & 0o777) == 0o700


def test_the_makefile_target_runs_it_for_the_stack() -> None:
    dry_run = subprocess.run(["make", "-n", "stack-init", "STACK=vermissian"], cwd=PROJECT,
                             capture_output=True, text=True, timeout=60, check=True)
    assert ".venv/bin/python -m tools.stack_init vermissian" in dry_run.stdout
