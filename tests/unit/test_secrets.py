"""Secrets stay secret end to end: the canary test, and each source's behaviour."""

from __future__ import annotations

import pytest

from components.errors import ConfigError
from components.settings import OnePasswordRef
from components.secrets import pick_field
from tests.unit.conftest import OP_TOKEN_KEY, run_stack, vermissian_items
from tools import mock_engine
from tools.mock_engine import EngineRun, plaintext_strings, unwrap

CANARY = "CANARY"


def canary(source: str) -> str:
    return f"{CANARY}-{source}-7f3a"


def canary_stubs() -> mock_engine.Stubs:
    return mock_engine.Stubs(
        onepassword_items=vermissian_items(canary),
        generated=lambda name, length: canary(f"generated-{name}"),
    )


def assert_no_canary_outside_secrets(run: mock_engine.EngineRun) -> None:
    for reg in run.registrations.values():
        for where, value in (("inputs", reg.inputs), ("outputs", reg.outputs)):
            leaked = [s for s in plaintext_strings(value) if CANARY in s]
            assert not leaked, f"{reg.type} {reg.name} {where} leak a secret in plaintext: {leaked}"
    for key, out in run.outputs.items():
        if not out.secret:
            assert not [s for s in plaintext_strings(out.value) if CANARY in s], key


@pytest.mark.parametrize("preview", [False, True])
def test_canary_no_secret_source_leaks_into_inputs_outputs_or_state(preview: bool) -> None:
    # vermissian reads 1Password (four items) and generates two secrets; the deploy token is a config secret.
    run = run_stack(
        "vermissian",
        preview=preview,
        stubs=canary_stubs(),
        extra_secrets={OP_TOKEN_KEY: canary("onepassword-token")},
    )
    assert_no_canary_outside_secrets(run)
    if not preview:
        # Positive control: the markers did flow through the graph, inside secrets.
        env = unwrap(run.one("docker:index/container:Container", "coder-container").inputs["envs"])
        assert any(canary("generated-egoengine-secrets-database-password") in e for e in env)
        assert CANARY in run.outputs["databaseUrl"].value and run.outputs["databaseUrl"].secret
        # The admin password, the minted token, the workspaces' 1Password token and the registry
        # password reach their consumers, inside secrets.
        assert CANARY in run.outputs["adminToken"].value and run.outputs["adminToken"].secret
        assert run.outputs["adminPassword"].value == canary("admin-password")
        template = run.one("pulumi-python:dynamic/coder:Template", "docker-shell-template")
        assert unwrap(template.inputs["secret_variables"]) == {"op_service_account_token": canary("op-token")}
        build = run.one("command:local:Command", "creative-lab-build")
        assert unwrap(build.inputs["environment"])["REGISTRY_PASSWORD"] == canary("registry-token")


def test_canary_with_config_secrets_on_the_dev_stack() -> None:
    run = run_stack(
        "dev",
        stubs=canary_stubs(),
        overrides={"egoengine:secrets": {"adminPassword": "config:adminPassword", "databasePassword": "config:dbPassword"}},
        extra_secrets={
            "egoengine:adminPassword": canary("config-admin"),
            "egoengine:dbPassword": canary("config-db"),
        },
    )
    assert_no_canary_outside_secrets(run)
    provider = run.one("postgresql:index/role:Role")
    assert CANARY in str(unwrap(provider.inputs["password"]))


def test_dev_needs_no_onepassword() -> None:
    run = run_stack("dev", stubs=mock_engine.Stubs())
    assert not run.by_type("pulumi:providers:onepassword")
    assert not [tok for tok, _ in run.invokes if tok.startswith("onepassword:")]


def test_onepassword_values_are_read_through_an_explicit_provider_with_the_vault_id(vermissian_up: EngineRun) -> None:
    run = vermissian_up
    provider = run.one("pulumi:providers:onepassword")
    assert mock_engine.is_secret_value(provider.inputs["serviceAccountToken"])
    items = [args for tok, args in run.invokes if tok == "onepassword:index/getItem:getItem"]
    assert {a["title"] for a in items} == {"vermissian postgres", "Coder Admin", "Coder Service Account", "Codex Auth", "GHCR Push"}
    assert all(a["vault"] == "vault-egoengine" for a in items)  # the name resolved to its id


def test_each_vault_is_looked_up_once_per_run_for_all_its_items() -> None:
    # Five items in one vault: one getVault (a 1Password round trip each), in every run, since a
    # run's provider is new (nothing is shared between runs of one process).
    for _ in range(2):
        run = run_stack("vermissian")
        vaults = [args["name"] for tok, args in run.invokes if tok == "onepassword:index/getVault:getVault"]
        items = [args for tok, args in run.invokes if tok == "onepassword:index/getItem:getItem"]
        assert vaults == ["egoengine"] and len(items) == 5


def test_an_unreadable_item_fails_preview_naming_it_and_the_permissions_rule() -> None:
    stubs = mock_engine.Stubs(onepassword_items=vermissian_items(), unreadable_items={("egoengine", "Codex Auth")})
    with pytest.raises(mock_engine.ProgramFailed) as caught:
        run_stack("vermissian", preview=True, stubs=stubs)
    message = str(caught.value)  # the first error line the engine shows
    assert "egoengine:secrets.codexAuth" in message and "'Codex Auth'" in message
    assert "permissions are not inherited" in message


def test_a_missing_field_names_the_reference() -> None:
    items = vermissian_items()
    items[("egoengine", "Codex Auth")] = {"files": []}
    with pytest.raises(ConfigError, match="has no field or file 'auth.json'"):
        run_stack("vermissian", stubs=mock_engine.Stubs(onepassword_items=items))


class _Obj:
    def __init__(self, **kw):
        self.__dict__.update(kw)


def _item(**kw):
    base = dict(password=None, username=None, credential=None, note_value=None, hostname=None,
                database=None, port=None, url=None, sections=[], files=[])
    return _Obj(**{**base, **kw})


def test_pick_field_plain_section_and_file() -> None:
    section = _Obj(label="db", fields=[_Obj(id="h", label="host", value="pg.internal")],
                   files=[_Obj(name="ca.pem", content="CERT")])
    item = _item(password="pw", sections=[section], files=[_Obj(name="auth.json", content="{}")])
    assert pick_field(item, OnePasswordRef("v", "i", None, "password")) == "pw"
    assert pick_field(item, OnePasswordRef("v", "i", "db", "host")) == "pg.internal"
    assert pick_field(item, OnePasswordRef("v", "i", "db", "ca.pem")) == "CERT"
    assert pick_field(item, OnePasswordRef("v", "i", None, "auth.json")) == "{}"
    assert pick_field(item, OnePasswordRef("v", "i", "other", "host")) is None
    assert pick_field(item, OnePasswordRef("v", "i", None, "missing")) is None


def test_generated_secrets_state_length_and_alphabet(dev_up: mock_engine.EngineRun) -> None:
    passwords = {r.name: unwrap(r.inputs) for r in dev_up.by_type("random:index/randomPassword:RandomPassword")}
    assert passwords["egoengine-secrets-database-password"]["length"] == 32
    assert passwords["egoengine-secrets-provisioner-psk"]["length"] == 48
    assert all(p["special"] is False for p in passwords.values())


def test_the_deploy_token_may_come_from_the_environment_and_stays_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OP_SERVICE_ACCOUNT_TOKEN", "from-the-runner")
    run = run_stack("vermissian", op_token=None)
    provider = run.one("pulumi:providers:onepassword")
    assert mock_engine.is_secret_value(provider.inputs["serviceAccountToken"])
    for reg in run.registrations.values():
        assert "from-the-runner" not in list(plaintext_strings(reg.inputs))
