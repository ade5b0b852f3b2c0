"""``egoengine:database.existing: adopt`` in the graph: the adoption resource instead of the
postgresql provider's role and database, protected and retained, feeding the URL and backup."""

from __future__ import annotations

import pytest
from pulumi.runtime import rpc

from tests.unit.conftest import run_stack
from tools.mock_engine import EngineRun, unwrap

ADOPTION = "pulumi-python:dynamic/database:Adoption"
ROLE = "postgresql:index/role:Role"
DATABASE = "postgresql:index/database:Database"
COMMAND = "command:local:Command"
VERMISSIAN_DATABASE = {
    "mode": "external",
    "host": "127.0.0.1",
    "port": 5432,
    "adminUser": "postgres",
    "sslmode": "disable",
    "existing": "adopt",
}


@pytest.fixture(scope="module", params=[False, True], ids=["up", "preview"])
def adopting(request: pytest.FixtureRequest) -> EngineRun:
    return run_stack(
        "vermissian",
        preview=request.param,
        overrides={"egoengine:database": VERMISSIAN_DATABASE},
    )


def test_adopt_declares_no_role_or_database_to_create(adopting: EngineRun) -> None:
    assert adopting.by_type(ROLE) == [] and adopting.by_type(DATABASE) == []
    assert not any(r.type == "pulumi:providers:postgresql" for r in adopting.registrations.values())


def test_the_adopted_role_and_database_are_protected_retained_and_secret(
    adopting: EngineRun,
) -> None:
    adopted = adopting.one(ADOPTION)
    assert adopted.protect and adopted.retain_on_delete
    assert {"admin_password", "password"} <= set(adopted.additional_secret_outputs)
    inputs = unwrap(adopted.inputs)
    assert (inputs["role"], inputs["database"], inputs["host"], inputs["port"]) == (
        "coder", "coder", "127.0.0.1", 5432,
    )
    # The passwords reach the engine only as secrets.
    assert rpc.is_rpc_secret(adopted.inputs["password"])
    assert rpc.is_rpc_secret(adopted.inputs["admin_password"])


def test_the_backup_waits_for_the_adoption(adopting: EngineRun) -> None:
    assert adopting.one(ADOPTION).urn in adopting.one(COMMAND, "pg-dump").dependencies


def test_create_is_the_default_and_unchanged(vermissian_up: EngineRun) -> None:
    run = vermissian_up
    assert run.one(ROLE) and run.one(DATABASE)
    assert run.by_type(ADOPTION) == []


def test_preview_and_the_engines_check_and_diff_contact_no_database(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import subprocess

    import psycopg

    from components.database_adoption import AdoptionProvider

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"preview contacted something: {args[:1]}")

    monkeypatch.setattr(psycopg, "connect", forbidden)
    monkeypatch.setattr(psycopg.Connection, "connect", forbidden)
    monkeypatch.setattr(subprocess, "Popen", forbidden)
    for preview in (True, False):
        run = run_stack("vermissian", preview=preview, overrides={"egoengine:database": VERMISSIAN_DATABASE})
    props = unwrap(run.one(ADOPTION).inputs)  # as a second `up` would give them
    provider = AdoptionProvider()
    assert provider.check({}, props).failures == []
    same = provider.diff("coder@coder", props, props)
    assert same.changes is False
    renamed = provider.diff("coder@coder", props, {**props, "database": "other"})
    assert renamed.changes is True and renamed.replaces == ["role", "database"]


@pytest.mark.parametrize("preview", [False, True])
def test_canary_adoption_and_the_templates_token_keep_secrets_secret(preview: bool) -> None:
    from tests.unit.conftest import OP_TOKEN_KEY
    from tests.unit.test_secrets import CANARY, assert_no_canary_outside_secrets, canary, canary_stubs

    run = run_stack(
        "vermissian",
        preview=preview,
        overrides={"egoengine:database": VERMISSIAN_DATABASE},
        stubs=canary_stubs(),
        extra_secrets={OP_TOKEN_KEY: canary("onepassword-token")},
    )
    assert_no_canary_outside_secrets(run)
    if not preview:
        adopted = unwrap(run.one(ADOPTION).inputs)
        assert adopted["admin_password"] == canary("pg-admin")
        assert CANARY in adopted["password"]
        template = run.one("pulumi-python:dynamic/coder:Template", "docker-shell-template")
        assert rpc.is_rpc_secret(template.inputs["admin_token"])
        assert CANARY in unwrap(template.inputs["admin_token"])
