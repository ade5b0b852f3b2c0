"""The README's production sections say what the workflows, the Makefile and the stack file do."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from tools import doctor

REPO_ROOT = Path(__file__).resolve().parents[2]
README = (REPO_ROOT / "README.md").read_text()
PRODUCTION = README[README.index("## Production: the vermissian host"):README.index("## Configuration reference")]
NIXOS = PRODUCTION[PRODUCTION.index("```nix"):PRODUCTION.index("```\n", PRODUCTION.index("```nix") + 6)]
STACK = yaml.safe_load((REPO_ROOT / "Pulumi.vermissian.yaml").read_text())["config"]


def workflow(name: str) -> dict:
    return yaml.safe_load((REPO_ROOT / ".github" / "workflows" / name).read_text())


def backend_directory() -> str:
    [url] = re.findall(r"^PULUMI_PRODUCTION_BACKEND=(\S+)$", (REPO_ROOT / "deploy" / "backend.env").read_text(),
                       re.MULTILINE)
    return url.removeprefix("file://")


def test_the_nixos_module_creates_and_opens_the_backend_and_backup_directories() -> None:
    backups = STACK["egoengine:backup"]["directory"]
    for directory in (backend_directory(), backups):
        assert f'"d {directory} 0700 ${{deployUser}} ${{deployUser}} -"' in NIXOS
        assert re.search(rf'ReadWritePaths = \[[^\]]*"{re.escape(directory)}"', NIXOS), directory


def test_the_stack_uses_the_pg_dump_the_readme_names() -> None:
    assert STACK["egoengine:backup"]["pgDump"] == "/run/current-system/sw/bin/pg_dump"
    assert "`/run/current-system/sw/bin/pg_dump`" in PRODUCTION


def test_the_runner_has_the_labels_and_tools_the_workflows_and_doctor_need() -> None:
    for name in ("preview.yml", "deploy.yml"):
        [job] = workflow(name)["jobs"].values()
        assert job["runs-on"] == ["self-hosted", "vermissian"]
    assert 'extraLabels = [ "vermissian" ];' in NIXOS
    for package in ("python3", "gnumake", "gnugrep", "git", "postgresql_15", "skopeo", "docker-client",
                    "_1password-cli"):
        assert re.search(rf"\b{re.escape(package)}\b", NIXOS), package
    assert 'extraGroups = [ "podman" ];' in NIXOS


def test_every_command_the_workflows_run_is_a_make_target_the_readme_shows() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text()
    for name in ("preview.yml", "deploy.yml"):
        for step in workflow(name)["jobs"][next(iter(workflow(name)["jobs"]))]["steps"]:
            command = step.get("run", "")
            if command.startswith("make "):
                target = command.split()[1]
                assert re.search(rf"^{re.escape(target)}:", makefile, re.MULTILINE), target
                assert f"`{command}`" in README, command
    assert "make stack-init STACK=vermissian" in PRODUCTION and re.search(r"^stack-init:", makefile, re.MULTILINE)


def test_the_prerequisites_table_lists_what_doctor_checks() -> None:
    table = PRODUCTION[PRODUCTION.index("### Runner prerequisites"):PRODUCTION.index("### NixOS configuration")]
    listed = re.findall(r"^\| `([a-z_]+)`(?:, `([a-z_]+)`)? \|", table, re.MULTILINE)
    names = [name for pair in listed for name in pair if name]
    checked = [check.__name__ for check in doctor.CHECKS]
    assert len(names) == len(checked) == 9
    assert set(names) == {"pulumi", "python", "pg_dump", "skopeo", "docker", "op", "socket", "backend", "backups"}


def test_the_runbook_keeps_the_public_route_closed_until_the_first_up() -> None:
    runbook = PRODUCTION[PRODUCTION.index("### First deploy on a new host"):]
    steps = re.findall(r"^(\d+)\. \*\*", runbook, re.MULTILINE)
    assert steps == [str(n) for n in range(1, len(steps) + 1)]
    first_up = runbook.index("**First `up`.**")
    public = runbook.index("Only now enable the reverse proxy")
    assert first_up < public and "/setup" in runbook[:first_up]
