"""Base and child images in the graph: immutable references, rebuild triggers, outputs."""

from __future__ import annotations

import copy
import shlex
import socket
import subprocess

import pytest

from tests.unit.conftest import run_stack
from tools.mock_engine import EngineRun, unwrap

COMMAND = "command:local:Command"
DIGEST_A, DIGEST_B = "sha256:" + "a" * 64, "sha256:" + "b" * 64


def base_with_digest(digest: str) -> dict:
    return {
        "egoengine:images": {
            "base": {"tag": "22bba72", "digest": digest},
            "registry": {"username": "joshsymonds"},
            "children": [
                {
                    "name": "creative-lab",
                    "context": "images/creative-lab",
                    "repository": "ghcr.io/joshsymonds/creative-lab",
                    "envLocal": ['export PATH="$PATH:/opt/creative-lab/bin"'],
                    "links": {"lab": "/opt/creative-lab/bin/lab"},
                },
                {"name": "gpu", "builder": "nix", "attr": "gpu", "flake": "tests/unit/fixtures/nix-child",
                 "repository": "ghcr.io/joshsymonds/gpu"},
            ],
        }
    }


@pytest.fixture(scope="module")
def _pinned_a_once() -> EngineRun:
    return run_stack("vermissian", overrides=base_with_digest(DIGEST_A))


@pytest.fixture
def pinned_a(_pinned_a_once: EngineRun) -> EngineRun:
    """The vermissian run with the base pinned to DIGEST_A (evaluated once; a copy per test)."""
    return copy.deepcopy(_pinned_a_once)


def builds(run: EngineRun) -> dict[str, dict]:
    return {r.name: unwrap(r.inputs) for r in run.by_type(COMMAND) if "tools.build_image" in str(unwrap(r.inputs)["create"])}


def test_base_reference_is_resolved_in_the_registry_and_pinned(vermissian_up: EngineRun) -> None:
    lookups = [a for tok, a in vermissian_up.invokes if tok == "docker:index/getRegistryImage:getRegistryImage"]
    assert lookups == [{"name": "ghcr.io/joshsymonds/nix-config/egoengine:22bba72"}]
    base = vermissian_up.outputs["images"].value["base"]
    assert base["ref"] == f"ghcr.io/joshsymonds/nix-config/egoengine:22bba72@{base['digest']}"
    assert base["tag"] == "22bba72" and base["digest"].startswith("sha256:")


def test_a_pinned_digest_needs_no_registry_lookup(pinned_a: EngineRun) -> None:
    run = pinned_a
    assert not [t for t, _ in run.invokes if t.startswith("docker:")]
    assert run.outputs["images"].value["base"]["digest"] == DIGEST_A


def test_child_build_command_and_outputs(pinned_a: EngineRun) -> None:
    run = pinned_a
    child = builds(run)["egoengine-image-creative-lab-build"]
    argv = shlex.split(child["create"])
    assert argv[:4] == [".venv/bin/python", "-m", "tools.build_image", "containerfile"]
    assert argv[argv.index("--base") + 1] == f"ghcr.io/joshsymonds/nix-config/egoengine:22bba72@{DIGEST_A}"
    tag = argv[argv.index("--tag") + 1]
    assert child["triggers"] == [tag] and tag.startswith("c-")
    assert child["logging"] == "none"
    assert set(child["environment"]) == {"ENGINE_HOST", "REGISTRY_USERNAME", "REGISTRY_PASSWORD"}
    record = run.outputs["images"].value["creative-lab"]
    assert record["tag"] == tag and record["ref"] == f"ghcr.io/joshsymonds/creative-lab:{tag}@{record['digest']}"
    assert not run.outputs["images"].secret
    assert run.outputs["devcontainers"].value["creative-lab"] == {"image": record["ref"], "runArgs": ["--user", "joshsymonds"]}
    nix = shlex.split(builds(run)["egoengine-image-gpu-build"]["create"])
    assert nix[3] == "nix" and nix[nix.index("--attr") + 1] == "gpu"


def test_unchanged_inputs_give_identical_build_inputs(pinned_a: EngineRun) -> None:
    first = builds(pinned_a)
    second = builds(run_stack("vermissian", overrides=base_with_digest(DIGEST_A)))
    assert first == second


def test_a_new_base_digest_changes_every_childs_tag_and_trigger(pinned_a: EngineRun) -> None:
    old = builds(pinned_a)
    new = builds(run_stack("vermissian", overrides=base_with_digest(DIGEST_B)))
    assert set(old) == set(new) and len(old) == 2
    for name in old:
        assert old[name]["triggers"] != new[name]["triggers"], name


def test_preview_builds_pushes_and_contacts_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args, **kwargs):
        raise AssertionError(f"preview ran a process or opened a connection: {args[:1]}")

    monkeypatch.setattr(subprocess, "Popen", forbidden)
    monkeypatch.setattr(socket, "create_connection", forbidden)
    run = run_stack("vermissian", preview=True, overrides=base_with_digest(DIGEST_A))
    # The builds are declared (and show in the preview) but their outputs are unknown until `up`.
    assert len(builds(run)) == 2
    assert not run.outputs["images"].known
    only_lookups = {tok for tok, _ in run.invokes}
    assert only_lookups <= {"onepassword:index/getVault:getVault", "onepassword:index/getItem:getItem"}


def test_devcontainer_for_the_base(dev_up: EngineRun) -> None:
    run = dev_up
    base = run.outputs["images"].value["base"]["ref"]
    assert run.outputs["devcontainers"].value == {"base": {"image": base, "runArgs": ["--user", "joshsymonds"]}}
