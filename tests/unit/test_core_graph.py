"""The core graph of both stacks, as the engine would receive it."""

from __future__ import annotations

import pytest

from tests.unit.conftest import SOCKET_GID, run_stack
from tools.mock_engine import EngineRun, unwrap

CONTAINER = "docker:index/container:Container"
VOLUME = "docker:index/volume:Volume"
COMMAND = "command:local:Command"
ROLE = "postgresql:index/role:Role"
DATABASE = "postgresql:index/database:Database"


def coder_env(run: EngineRun) -> dict[str, str]:
    envs = unwrap(run.one(CONTAINER, "coder-container").inputs["envs"])
    return dict(e.split("=", 1) for e in envs)


@pytest.mark.parametrize("stack", ["dev", "vermissian"])
@pytest.mark.parametrize("preview", [False, True])
def test_both_stacks_build_in_preview_and_up(stack: str, preview: bool) -> None:
    run = run_stack(stack, preview=preview)
    assert run.one(CONTAINER, "coder-container")
    assert run.one(ROLE) and run.one(DATABASE)
    assert set(run.outputs) >= {"coderAccessUrl", "coderInternalUrl", "coderImage", "databaseUrl"}


def test_components_use_egoengine_tokens_and_children_are_named_from_their_parent(
    dev_up: EngineRun,
) -> None:
    by_urn = dev_up.registrations
    components = [r for r in by_urn.values() if not r.custom]
    assert components, "no components registered"
    for component in components:
        assert component.type.startswith("egoengine:"), component.type
        assert len(component.type.split(":")) == 3
    for reg in by_urn.values():
        parent = by_urn.get(reg.parent)
        if parent is not None:
            assert reg.name.startswith(parent.name + "-"), (reg.name, parent.name)


def test_every_resource_uses_an_explicit_provider(dev_up: EngineRun, vermissian_up: EngineRun) -> None:
    for run in (dev_up, vermissian_up):
        for reg in run.registrations.values():
            # Dynamic resources run in the program's own provider (pulumi-python), by design.
            if reg.custom and not reg.type.startswith(("pulumi:providers:", "pulumi-python:dynamic")):
                assert reg.provider, f"{reg.name} ({reg.type}) would use a default provider"


def test_data_is_protected_and_retained(dev_up: EngineRun, vermissian_up: EngineRun) -> None:
    volume = dev_up.one(VOLUME, "database-data")
    assert volume.protect and volume.retain_on_delete
    for run in (dev_up, vermissian_up):
        database = run.one(DATABASE)
        assert database.protect and database.retain_on_delete
        assert run.one(ROLE).retain_on_delete


def test_the_superuser_password_the_retained_volume_keeps_is_protected(dev_up: EngineRun) -> None:
    passwords = {r.name: r for r in dev_up.by_type("random:index/randomPassword:RandomPassword")}
    assert passwords["egoengine-secrets-database-admin-password"].protect
    assert not passwords["egoengine-secrets-database-password"].protect  # ALTER ROLE can change it


def test_role_logs_in_and_is_not_a_superuser_and_owns_the_database(dev_up: EngineRun) -> None:
    role = unwrap(dev_up.one(ROLE).inputs)
    assert role["login"] is True and role["superuser"] is False
    assert role["name"] == "coder"
    database = unwrap(dev_up.one(DATABASE).inputs)
    assert database["name"] == "coder" and database["owner"] == "coder"
    assert dev_up.one(ROLE).urn in dev_up.one(DATABASE).dependencies


def test_postgres_container_is_pinned_health_checked_and_loopback_only(dev_up: EngineRun) -> None:
    server = dev_up.one(CONTAINER, "database-server")
    inputs = unwrap(server.inputs)
    assert inputs["image"].startswith("sha256:")  # keyed on the pulled image id
    image = unwrap(dev_up.one("docker:index/remoteImage:RemoteImage", "database-image").inputs)
    assert "@sha256:" in image["name"] and not image["name"].split("@")[0].endswith(":latest")
    assert inputs["healthcheck"]["tests"][:4] == ["CMD", "pg_isready", "-h", "127.0.0.1"]
    assert inputs["wait"] is True
    assert all(p["ip"] == "127.0.0.1" for p in inputs["ports"])
    assert server.delete_before_replace
    volume = dev_up.one(VOLUME, "database-data")
    assert volume.urn in server.dependencies
    provider = dev_up.one("pulumi:providers:postgresql")
    assert server.urn in provider.dependencies, "the provider must wait for the healthy container"


def test_coder_container(dev_up: EngineRun) -> None:
    coder = dev_up.one(CONTAINER, "coder-container")
    inputs = unwrap(coder.inputs)
    assert inputs["image"].startswith("sha256:")
    assert inputs["groupAdds"] == [str(SOCKET_GID)]
    assert inputs["volumes"] == [
        {"containerPath": "/var/run/docker.sock", "hostPath": "/var/run/docker.sock"}
    ]
    assert inputs["restart"] == "always"
    assert inputs["healthcheck"]["tests"][-1] == "http://127.0.0.1:7080/healthz"
    assert inputs["wait"] is True and inputs["waitTimeout"] == 300
    assert inputs["ports"] == [{"internal": 7080, "external": 7080, "ip": "127.0.0.1"}]
    assert coder.delete_before_replace
    env = coder_env(dev_up)
    assert env["CODER_HTTP_ADDRESS"] == "0.0.0.0:7080"
    assert env["CODER_ACCESS_URL"] == "http://127.0.0.1:7080"
    assert env["CODER_PG_CONNECTION_URL"].startswith("postgres://coder:")
    assert env["CODER_PG_CONNECTION_URL"].endswith("@postgres:5432/coder?sslmode=disable")
    assert env["CODER_TELEMETRY_ENABLE"] == "false"
    assert "CODER_PROVISIONER_DAEMON_PSK" in env
    assert "CODER_PROVISIONER_PSK" not in env


def test_vermissian_coder_uses_host_network_and_the_host_postgres(vermissian_up: EngineRun) -> None:
    inputs = unwrap(vermissian_up.one(CONTAINER, "coder-container").inputs)
    assert inputs["networkMode"] == "host" and "ports" not in inputs
    env = coder_env(vermissian_up)
    assert env["CODER_HTTP_ADDRESS"] == "127.0.0.1:7080"
    assert env["CODER_ACCESS_URL"] == "https://coder.husbuddies.gay"
    assert env["CODER_PG_CONNECTION_URL"].endswith("@127.0.0.1:5432/coder?sslmode=disable")
    provider = unwrap(vermissian_up.one("pulumi:providers:postgresql").inputs)
    assert (provider["host"], provider["port"], provider["username"]) == ("127.0.0.1", "5432", "postgres")
    assert not vermissian_up.by_type(VOLUME), "external mode must not create a PostgreSQL volume"


def test_backup_runs_before_the_coder_container_and_is_keyed_on_the_image(dev_up: EngineRun) -> None:
    dump = dev_up.one(COMMAND, "pg-dump")
    coder = dev_up.one(CONTAINER, "coder-container")
    assert dump.urn in coder.dependencies
    inputs = unwrap(dump.inputs)
    assert inputs["triggers"] == [unwrap(dev_up.outputs["coderImage"].value)]
    assert inputs["create"] == (
        ".venv/bin/python -m tools.pg_backup --dir backups --keep 7 --label before-v2.25.1-e1f18785"
    )
    assert inputs["logging"] == "none"
    assert {"stdout", "stderr"} <= set(dump.additional_secret_outputs)
    assert "PGPASSWORD" in inputs["environment"]
    assert inputs["environment"]["PGPORT"] == "15432"
    assert dev_up.one(DATABASE).urn in dump.dependencies
    assert dev_up.one(ROLE).urn in dump.dependencies


def test_a_new_coder_digest_changes_the_backup_trigger_and_the_container_image(dev_up: EngineRun) -> None:
    newer = run_stack(
        "dev",
        overrides={
            "egoengine:coder": {
                "version": "v2.26.0",
                "digest": "sha256:" + "a" * 64,
                "accessUrl": "http://127.0.0.1:7080",
            }
        },
    )
    assert unwrap(newer.one(COMMAND, "pg-dump").inputs)["triggers"] != unwrap(
        dev_up.one(COMMAND, "pg-dump").inputs
    )["triggers"]
    assert unwrap(newer.one(CONTAINER, "coder-container").inputs)["image"] != unwrap(
        dev_up.one(CONTAINER, "coder-container").inputs
    )["image"]


def test_outputs(dev_up: EngineRun) -> None:
    out = dev_up.outputs
    assert out["coderAccessUrl"].value == "http://127.0.0.1:7080"
    assert out["coderInternalUrl"].value == "http://127.0.0.1:7080"
    assert out["coderImage"].value == (
        "ghcr.io/coder/coder:v2.25.1@sha256:e1f1878546a26a787a6ac34a4f83555aec75e6345e17eb49406a02f127787281"
    )
    assert out["databaseUrl"].secret and not out["coderAccessUrl"].secret


def test_preview_leaves_computed_values_unknown_and_creates_nothing_eagerly() -> None:
    run = run_stack("dev", preview=True)
    assert not run.outputs["databaseUrl"].known  # the generated password does not exist yet
    assert run.outputs["databaseUrl"].secret


def test_wildcard_url_and_longer_admin_tokens_reach_coder_env() -> None:
    run = run_stack(
        "dev",
        overrides={
            "egoengine:coder": {
                "version": "v2.25.1",
                "digest": "sha256:" + "e" * 64,
                "accessUrl": "https://coder.example.com",
                "wildcardAccessUrl": "*.coder.example.com",
            },
            "egoengine:admin": {"tokenLifetimeHours": 720},
        },
    )
    env = coder_env(run)
    assert env["CODER_WILDCARD_ACCESS_URL"] == "*.coder.example.com"
    assert env["CODER_MAX_ADMIN_TOKEN_LIFETIME"] == "720h"
