"""The workspace hosts in the graph, on the engine-like mocked engine: Coder's SSH identity, the
files mounted into the Coder container, one ssh:// docker provider per host and its pre-pulls."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pulumi
import pytest
import yaml

from components import workspace_hosts
from tests.hosts.keys import HOST_KEY, OTHER_HOST_KEY
from tests.unit.conftest import run_stack
from tests.unit.test_secrets import assert_no_canary_outside_secrets, canary, canary_stubs
from pulumi.output import Unknown

from tools import mock_engine
from tools.mock_engine import PROJECT_DIR, EngineRun, is_secret_value, openssh_private_key, unwrap

CONTAINER = "docker:index/container:Container"
REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage"
TEMPLATE = "pulumi-python:dynamic/coder:Template"
HOSTS = [
    {"name": "gpu-box", "uri": "ssh://coder@10.250.9.2", "hostKey": HOST_KEY, "gpus": True, "description": "A100"},
    {"name": "cpu-box", "uri": "ssh://coder@cpu-box.lan:2222", "hostKey": OTHER_HOST_KEY},
]


STACK_SECRETS = yaml.safe_load((PROJECT_DIR / "Pulumi.vermissian.yaml").read_text())["config"]["egoengine:secrets"]


def run_with_hosts(preview: bool = False, **kwargs) -> EngineRun:
    overrides = {"egoengine:hosts": HOSTS, **kwargs.pop("overrides", {})}
    return run_stack("vermissian", preview=preview, overrides=overrides, **kwargs)


@pytest.fixture(scope="module")
def hosts_up() -> EngineRun:
    return run_with_hosts()


def test_the_key_is_a_protected_ed25519_key_from_an_explicit_tls_provider(hosts_up: EngineRun) -> None:
    key = hosts_up.one("tls:index/privateKey:PrivateKey")
    assert unwrap(key.inputs)["algorithm"] == "ED25519"
    assert key.protect
    assert key.provider.startswith(hosts_up.one("pulumi:providers:tls").urn)
    assert "privateKeyOpenssh" in key.additional_secret_outputs


def test_the_public_key_is_a_plain_stack_output(hosts_up: EngineRun) -> None:
    output = hosts_up.outputs["hostsPublicKey"]
    assert not output.secret and output.value.startswith("ssh-ed25519 AAAA")
    assert output.value == output.value.strip()


def test_key_and_known_hosts_are_uploaded_into_coder_mode_600_for_coders_user(hosts_up: EngineRun) -> None:
    container = hosts_up.one(CONTAINER, "coder-container")
    assert is_secret_value(container.inputs["uploads"]), "the uploads carry the private key: secret"
    uploads = {u["file"]: u for u in unwrap(container.inputs["uploads"])}
    key = uploads[workspace_hosts.CODER_IDENTITY_FILE]
    assert key["content"].startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    known = uploads[workspace_hosts.CODER_KNOWN_HOSTS_FILE]["content"]
    assert known.splitlines() == [
        "10.250.9.2 " + " ".join(HOST_KEY.split()[:2]),
        "[cpu-box.lan]:2222 " + " ".join(OTHER_HOST_KEY.split()[:2]),
    ]
    for upload in uploads.values():
        assert (upload["permissions"], upload["owner"], upload["group"]) == ("0600", "1000", "1000")
    env = unwrap(container.inputs["envs"])
    assert not any("PRIVATE KEY" in e for e in env), "never in the environment"


def test_one_ssh_provider_per_host_with_the_pinned_keys_only(hosts_up: EngineRun, tmp_path: Path) -> None:
    providers = {p.name: unwrap(p.inputs) for p in hosts_up.by_type("pulumi:providers:docker")}
    assert providers["egoengine-host-gpu-box-docker"]["host"] == "ssh://coder@10.250.9.2"
    assert providers["egoengine-host-cpu-box-docker"]["host"] == "ssh://coder@cpu-box.lan:2222"
    for name in ("egoengine-host-gpu-box-docker", "egoengine-host-cpu-box-docker"):
        options = json.loads(providers[name]["sshOpts"]) if isinstance(providers[name]["sshOpts"], str) else providers[name]["sshOpts"]
        pairs = dict(zip(options[::2], options[1::2]))
        flags = [options[i + 1] for i in range(0, len(options), 2) if options[i] == "-o"]
        assert "StrictHostKeyChecking=yes" in flags and "IdentitiesOnly=yes" in flags
        known_hosts_file = next(f.split("=", 1)[1] for f in flags if f.startswith("UserKnownHostsFile="))
        assert Path(pairs["-i"]).name == "id_ed25519" and Path(known_hosts_file).name == "known_hosts"


def test_the_deploy_machine_gets_the_key_files_mode_600(tmp_path: Path) -> None:
    from components.program import build
    from components import settings as cfg
    from tools import mock_engine, plan_stubs

    config, secret_keys = plan_stubs.stack_config("vermissian", {"egoengine:hosts": HOSTS}, op_token="t")
    from tests.unit.conftest import vermissian_items

    mock_engine.run(
        lambda: build(cfg.load(plan_stubs.host_facts(998)), deploy_ssh_dir=tmp_path / "ssh"),
        stack="vermissian", config=config, secret_keys=secret_keys, preview=False,
        stubs=mock_engine.Stubs(onepassword_items=vermissian_items()),
    )
    directory = tmp_path / "ssh"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    for name in ("id_ed25519", "known_hosts"):
        assert stat.S_IMODE((directory / name).stat().st_mode) == 0o600
    assert (directory / "id_ed25519").read_text().startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert (directory / "known_hosts").read_text().startswith("10.250.9.2 ssh-ed25519 ")


def test_each_host_pre_pulls_the_workspace_image_by_digest_through_its_provider(hosts_up: EngineRun) -> None:
    base = hosts_up.outputs["images"].value["base"]["ref"]
    for host in ("gpu-box", "cpu-box"):
        image = hosts_up.one(REMOTE_IMAGE, f"host-{host}-base")
        assert unwrap(image.inputs)["name"] == base and "@sha256:" in base
        assert unwrap(image.inputs)["keepLocally"] is True
        assert image.provider.startswith(hosts_up.one("pulumi:providers:docker", f"host-{host}-docker").urn)


def test_templates_get_the_hosts_and_the_mounted_paths(hosts_up: EngineRun) -> None:
    for template in ("docker-shell", "docker-envbuilder"):
        variables = unwrap(hosts_up.one(TEMPLATE, f"{template}-template").inputs["variables"])
        listed = json.loads(variables["workspace_hosts"])
        assert listed == [
            {"name": "gpu-box", "uri": "ssh://coder@10.250.9.2", "gpus": True, "description": "A100"},
            {"name": "cpu-box", "uri": "ssh://coder@cpu-box.lan:2222", "gpus": False, "description": ""},
        ]
        assert variables["hosts_identity_file"] == workspace_hosts.CODER_IDENTITY_FILE
        assert variables["hosts_known_hosts_file"] == workspace_hosts.CODER_KNOWN_HOSTS_FILE


def test_without_hosts_there_is_no_key_no_upload_and_an_empty_host_list(vermissian_up: EngineRun) -> None:
    assert not vermissian_up.by_type("tls:index/privateKey:PrivateKey")
    assert not vermissian_up.by_type("pulumi:providers:tls")
    assert "uploads" not in unwrap(vermissian_up.one(CONTAINER, "coder-container").inputs)
    assert "hostsPublicKey" not in vermissian_up.outputs
    variables = unwrap(vermissian_up.one(TEMPLATE, "docker-shell-template").inputs["variables"])
    assert variables["workspace_hosts"] == "[]"


def test_preview_of_a_new_key_leaves_the_host_providers_unconfigured() -> None:
    run = run_with_hosts(preview=True)
    assert not run.outputs["hostsPublicKey"].known
    provider = run.one("pulumi:providers:docker", "host-gpu-box-docker")
    # ssh options unknown: the engine does not configure (or contact) the host in this preview.
    assert isinstance(provider.inputs["sshOpts"], Unknown)


def test_a_config_secret_key_gives_its_own_public_key() -> None:
    private = openssh_private_key("config-key-body")
    run = run_with_hosts(
        overrides={"egoengine:secrets": {**STACK_SECRETS, "hostsSshKey": "config:sshPrivateKey"}},
        extra_secrets={"egoengine:sshPrivateKey": private},
    )
    assert not run.by_type("tls:index/privateKey:PrivateKey")
    assert run.outputs["hostsPublicKey"].value.startswith("ssh-ed25519 ")
    uploads = unwrap(run.one(CONTAINER, "coder-container").inputs["uploads"])
    assert uploads[0]["content"] == private


@pytest.mark.parametrize("preview", [False, True])
def test_canary_the_hosts_key_stays_secret(preview: bool) -> None:
    run = run_with_hosts(preview=preview, stubs=canary_stubs(), extra_secrets={"onepassword:serviceAccountToken": canary("t")})
    assert_no_canary_outside_secrets(run)
    if not preview:
        uploads = unwrap(run.one(CONTAINER, "coder-container").inputs["uploads"])
        assert canary("generated-egoengine-hosts-identity-key") in uploads[0]["content"]


def test_two_runs_with_hosts_register_identical_inputs() -> None:
    from tests.unit.test_determinism import registered

    first, second = run_with_hosts(), run_with_hosts()
    assert registered(first) == registered(second)
    assert first.outputs == second.outputs


def test_templates_wait_for_every_hosts_pre_pull(hosts_up: EngineRun) -> None:
    # depends_on a component reaches the engine as its custom children.
    pre_pulls = {r.urn for r in hosts_up.by_type(REMOTE_IMAGE) if "-host-" in r.name}
    assert len(pre_pulls) == 2
    for template in hosts_up.by_type(TEMPLATE):
        assert pre_pulls <= set(template.dependencies), template.name


def test_a_1password_key_is_read_through_the_explicit_provider() -> None:
    from tests.unit.conftest import vermissian_items

    private = openssh_private_key("op-key-body")
    items = {**vermissian_items(), ("egoengine", "Coder Hosts Key"): {"noteValue": private}}
    run = run_with_hosts(
        overrides={"egoengine:secrets": {**STACK_SECRETS, "hostsSshKey": "op://egoengine/Coder Hosts Key/notesPlain"}},
        stubs=mock_engine.Stubs(onepassword_items=items),
    )
    assert run.outputs["hostsPublicKey"].value.startswith("ssh-ed25519 ")
    assert unwrap(run.one(CONTAINER, "coder-container").inputs["uploads"])[0]["content"] == private


def test_a_key_source_that_is_not_an_openssh_key_fails_without_echoing_it() -> None:
    with pytest.raises(Exception) as caught:
        run_with_hosts(
            overrides={"egoengine:secrets": {**STACK_SECRETS, "hostsSshKey": "config:sshPrivateKey"}},
            extra_secrets={"egoengine:sshPrivateKey": "hunter2-not-a-key"},
        )
    assert "egoengine:secrets.hostsSshKey: does not hold an OpenSSH private key" in str(caught.value)
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize("preview", [False, True])
@pytest.mark.parametrize("source", ["config", "op"])
def test_a_bad_key_is_one_line_with_no_unretrieved_future_tracebacks(
    source: str, preview: bool, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    """Checked in an apply, the error failed every resource the key fed, and asyncio logged
    "Future exception was never retrieved" with a traceback for each of their outputs."""
    import gc
    import logging

    from tests.unit.conftest import vermissian_items

    bad = "hunter2-not-a-key"
    if source == "config":
        kwargs: dict = {"overrides": {"egoengine:secrets": {**STACK_SECRETS, "hostsSshKey": "config:sshPrivateKey"}},
                        "extra_secrets": {"egoengine:sshPrivateKey": bad}}
    else:
        items = {**vermissian_items(), ("egoengine", "Coder Hosts Key"): {"noteValue": bad}}
        kwargs = {"overrides": {"egoengine:secrets": {**STACK_SECRETS, "hostsSshKey": "op://egoengine/Coder Hosts Key/notesPlain"}},
                  "stubs": mock_engine.Stubs(onepassword_items=items)}
    caplog.set_level(logging.DEBUG, logger="asyncio")
    with pytest.raises(pulumi.RunError) as caught:
        run_with_hosts(preview=preview, **kwargs)
    gc.collect()  # unretrieved futures log when they are collected
    assert str(caught.value) == (
        "config egoengine:secrets.hostsSshKey: does not hold an OpenSSH private key; expected an "
        "unencrypted ED25519 key in OpenSSH format (ssh-keygen -t ed25519 -N '')"
    )
    logged = caplog.text + "".join(capfd.readouterr())
    assert "never retrieved" not in logged and "Traceback" not in logged
    assert bad not in logged


def test_preview_writes_no_key_files_and_names_them_only_when_current(tmp_path: Path) -> None:
    from components.program import build
    from components import settings as cfg
    from tests.unit.conftest import vermissian_items
    from tools import plan_stubs

    private = openssh_private_key("deploy-files-key")
    overrides = {"egoengine:hosts": HOSTS, "egoengine:secrets": {**STACK_SECRETS, "hostsSshKey": "config:sshPrivateKey"}}
    config, secret_keys = plan_stubs.stack_config(
        "vermissian", overrides, secret_overrides={"egoengine:sshPrivateKey": private}, op_token="t"
    )
    directory = tmp_path / "ssh"

    def run(preview: bool) -> EngineRun:
        return mock_engine.run(
            lambda: build(cfg.load(plan_stubs.host_facts(998)), deploy_ssh_dir=directory),
            stack="vermissian", config=config, secret_keys=secret_keys,
            preview=preview, stubs=mock_engine.Stubs(onepassword_items=vermissian_items()),
        )

    def ssh_opts(engine_run: EngineRun) -> object:
        return engine_run.one("pulumi:providers:docker", "host-gpu-box-docker").inputs["sshOpts"]

    # First preview: nothing on disk, nothing written, the host providers stay unconfigured.
    assert isinstance(ssh_opts(run(preview=True)), Unknown)
    assert not directory.exists()
    run(preview=False)
    key_file = directory / "id_ed25519"
    written = {p.name: (p.read_text(), p.stat().st_mtime_ns) for p in directory.iterdir()}
    assert written["id_ed25519"][0] == private
    # After up: preview names the current files without touching them.
    assert not isinstance(ssh_opts(run(preview=True)), Unknown)
    assert {p.name: (p.read_text(), p.stat().st_mtime_ns) for p in directory.iterdir()} == written
    # Stale files (another key): preview neither rewrites them nor points ssh at them.
    key_file.write_text(openssh_private_key("an-older-key"))
    before = key_file.stat().st_mtime_ns
    assert isinstance(ssh_opts(run(preview=True)), Unknown)
    assert key_file.read_text() == openssh_private_key("an-older-key") and key_file.stat().st_mtime_ns == before
