"""The plan as one JSON document (``--json``), its stubbed values marked, and config overrides.

In-process: ``tools.plan.main`` with argv, its output captured (one true pipe at the end).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tools import devcontainer, mock_engine
from tools.plan import SECRET_TEXT, PlanError, plan_document
from tools.plan import main as plan_main

PROJECT_DIR = mock_engine.PROJECT_DIR
CONTAINER = "docker:index/container:Container"
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
PINNED_BASE = "sha256:" + "7" * 64


def run_main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = plan_main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def resource(document: dict[str, Any], name_suffix: str, typ: str | None = None) -> dict[str, Any]:
    [found] = [
        r for r in document["resources"]
        if r["name"].endswith(name_suffix) and (typ is None or r["type"] == typ)
    ]
    return found


def real_digests(run: mock_engine.EngineRun) -> set[str]:
    """The only digests a plan of ``run``'s stack may print: those pinned in the source and stack
    files, and the templates' content hashes (computed from their files, not stubbed)."""
    found: set[str] = set()
    for path in [*PROJECT_DIR.glob("Pulumi.*.yaml"), *PROJECT_DIR.glob("components/**/*.py")]:
        found.update(DIGEST.findall(path.read_text()))
    for reg in run.by_type("pulumi-python:dynamic/coder:Template"):
        found.add(mock_engine.unwrap(reg.inputs)["content_hash"])
    return found


@pytest.fixture(scope="module")
def dev_document() -> dict[str, Any]:
    return plan_document("dev")


def test_json_prints_the_same_document_plan_document_returns(
    capsys: pytest.CaptureFixture[str], dev_document: dict[str, Any]
) -> None:
    status, out, err = run_main(capsys, "dev", "--json")
    assert (status, err) == (0, "")
    assert json.loads(out) == dev_document


def test_document_lists_every_registration_with_parent_inputs_and_options(
    dev_document: dict[str, Any], offline_dev: mock_engine.EngineRun
) -> None:
    run = offline_dev
    assert dev_document["format"] == "egoengine-plan/1" and dev_document["stack"] == "dev"
    assert {r["urn"] for r in dev_document["resources"]} == set(run.registrations)
    volume = resource(dev_document, "database-data")
    assert volume["options"]["protect"] and volume["options"]["retainOnDelete"]
    assert volume["parent"] == "egoengine-database"
    coder = resource(dev_document, "coder-container")
    assert coder["options"]["deleteBeforeReplace"] and coder["provider"] == "docker"
    assert coder["inputs"]["name"] == "egoengine-dev-coder"
    assert "egoengine-coder-image" in coder["dependencies"]
    assert dev_document["outputs"]["coderVersion"] == "v2.25.1"
    assert dev_document["outputs"]["adminPassword"] == SECRET_TEXT


def test_container_environment_shows_every_name_and_masks_secret_values(dev_document: dict[str, Any]) -> None:
    envs = resource(dev_document, "coder-container")["inputs"]["envs"]
    names = [entry.split("=", 1)[0] for entry in envs]
    assert names == sorted(names) and "CODER_PG_CONNECTION_URL" in names
    assert "CODER_PG_CONNECTION_URL=[secret]" in envs and "CODER_PROVISIONER_DAEMON_PSK=[secret]" in envs
    assert "CODER_ACCESS_URL=http://127.0.0.1:7080" in envs
    postgres = resource(dev_document, "database-server")["inputs"]["envs"]
    assert postgres == ["POSTGRES_PASSWORD=[secret]", "POSTGRES_USER=postgres"]


def test_no_secret_of_the_run_is_in_the_document(
    dev_document: dict[str, Any], offline_dev: mock_engine.EngineRun
) -> None:
    run = offline_dev
    from tools.plan_values import secret_atoms

    text = json.dumps(dev_document)
    atoms = secret_atoms(run)
    assert any(len(atom) >= 16 for atom in atoms)
    assert [atom for atom in atoms if len(atom) >= 8 and atom in text] == []


@pytest.mark.parametrize("output", [["--json"], [], ["--all-inputs"], ["--markdown"]], ids=["json", "text", "all", "md"])
def test_no_made_up_digest_looks_real(
    capsys: pytest.CaptureFixture[str], output: list[str], offline_vermissian: mock_engine.EngineRun
) -> None:
    """Registry digests, image ids and built digests are stubs: marked, never a pasteable digest."""
    status, out, _ = run_main(capsys, "vermissian", *output)
    assert status == 0
    assert set(DIGEST.findall(out)) <= real_digests(offline_vermissian)
    assert "<stubbed registry digest #" in out and "<stubbed image id #" in out
    assert "<stubbed built image digest #" in out


def test_document_says_where_values_are_stubbed() -> None:
    document = plan_document("vermissian")
    assert document["stubbedOutputs"]["images.base.digest"] == "registry digest"
    assert document["stubbedOutputs"]["images.creative-lab.digest"] == "built image digest"
    assert document["stubbedOutputs"]["templates.docker-shell"] == "version id"
    coder = resource(document, "coder-container")
    assert coder["stubbed"] == {"groupAdds[0]": "engine socket group id", "image": "image id"}
    envbuilder = resource(document, "docker-envbuilder-template")
    assert envbuilder["stubbed"]["variables.workspace_image"] == "registry digest"


def test_a_pinned_digest_is_real_and_not_marked() -> None:
    document = plan_document("dev", overrides=[f"egoengine:images.base.digest={PINNED_BASE}"])
    assert document["outputs"]["images"]["base"]["digest"] == PINNED_BASE
    assert "images.base.digest" not in document["stubbedOutputs"]


# --- --config-override merges ---------------------------------------------------------------------


def test_path_override_sets_one_nested_value_and_keeps_the_rest() -> None:
    document = plan_document("vermissian", overrides=["egoengine:images.base.tag=abc1234"])
    ref = document["outputs"]["images"]["base"]["ref"]
    assert ref.startswith("ghcr.io/joshsymonds/nix-config/egoengine:abc1234@")
    # The rest of egoengine:images (the child, the user) is still the stack file's.
    assert "creative-lab" in document["outputs"]["images"]
    assert document["outputs"]["devcontainers"]["base"]["runArgs"] == ["--user", "joshsymonds"]


def test_object_override_is_merged_into_the_stack_files_object() -> None:
    document = plan_document("vermissian", overrides=['egoengine:coder={"port": 7443}'])
    coder = resource(document, "coder-container")
    assert "CODER_HTTP_ADDRESS=127.0.0.1:7443" in coder["inputs"]["envs"]
    assert document["outputs"]["coderAccessUrl"] == "https://coder.husbuddies.gay"


def test_a_path_value_stays_a_string_and_config_validation_still_applies(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run_main(capsys, "dev", "--json", "--config-override", "egoengine:coder.port=99999")
    assert (status, out) == (2, "")
    assert err.strip() == (
        "config egoengine:coder.port: is invalid (input should be less than or equal to 65535); "
        "expected a TCP port number 1..65535"
    )


@pytest.mark.parametrize(
    "override, message",
    [
        ("egoengine:coder", "--config-override 'egoengine:coder': expected KEY=VALUE"),
        ("=v1", "--config-override '=v1': expected KEY=VALUE"),
        ("egoengine:coder..version=x", "--config-override egoengine:coder..version: expected a key or a path such as egoengine:coder.version"),
        ("egoengine:images.children[3].name=x", "--config-override egoengine:images.children[3].name: index 3 is past the end of the list"),
        ('egoengine:coder.labels={"a"', "--config-override egoengine:coder.labels: the value is not valid JSON"),
    ],
)
def test_malformed_override_is_one_line(capsys: pytest.CaptureFixture[str], override: str, message: str) -> None:
    status, out, err = run_main(capsys, "dev", "--config-override", override)
    assert (status, out, err) == (2, "", message + "\n")


def test_plan_document_raises_for_a_bad_override() -> None:
    with pytest.raises(PlanError, match="expected KEY=VALUE"):
        plan_document("dev", overrides=["nonsense"])


# --- the document feeds tools.devcontainer --------------------------------------------------------


def test_devcontainer_reads_the_document_and_refuses_a_stubbed_digest(tmp_path: Path, dev_document: dict[str, Any]) -> None:
    with pytest.raises(devcontainer.DevcontainerError, match="digest is stubbed"):
        devcontainer.choose_image(dev_document, "base")
    pinned = plan_document("dev", overrides=[f"egoengine:images.base.digest={PINNED_BASE}"])
    choice = devcontainer.choose_image(pinned, "base")
    assert choice.reference == f"ghcr.io/joshsymonds/nix-config/egoengine:22bba72@{PINNED_BASE}"


def test_plan_json_pipes_into_devcontainer(tmp_path: Path) -> None:
    """The one true command line: ``python -m tools.plan dev --json | python -m tools.devcontainer``."""
    target = tmp_path / ".devcontainer" / "devcontainer.json"
    plan = subprocess.run(
        [sys.executable, "-m", "tools.plan", "dev", "--json",
         "--config-override", f"egoengine:images.base.digest={PINNED_BASE}"],
        cwd=PROJECT_DIR, capture_output=True, text=True, timeout=120, check=True,
    )
    done = subprocess.run(
        [sys.executable, "-m", "tools.devcontainer", "--outputs", "-", "--image", "base", "--file", str(target)],
        cwd=PROJECT_DIR, input=plan.stdout, capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(target.read_text())["image"].endswith(f"@{PINNED_BASE}")
    assert yaml.safe_load(target.read_text())["runArgs"] == ["--user", "joshsymonds"]
