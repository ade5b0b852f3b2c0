"""Unit tests for the CrossGuard validators in policy/policies.py, without the Pulumi CLI.

Each validator is called directly with ResourceValidationArgs / StackValidationArgs. Props are wrapped
in pulumi_policy's own unknown-checking proxy, so validators see exactly what the engine hands them
(including unknown sentinels during preview). A last test starts the real pack (policy/__main__.py)
as the CLI would and talks to its analyzer over gRPC.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Optional

import grpc
import pulumi.output
import pytest
import yaml
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    Secret,
    StackValidationArgs,
)
from pulumi_policy.proxy import UNKNOWN_ARRAY_VALUE, UNKNOWN_BOOLEAN_VALUE, UNKNOWN_STRING_VALUE, unknown_checking_proxy

from policy import policies
from policy.policies import (
    COMMAND,
    CONTAINER,
    DATABASE,
    REMOTE_IMAGE,
    ROLE,
    VOLUME,
    ImageReference,
    check_resource,
    check_stack,
    from_wire,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
POLICY_DIR = REPO_ROOT / "policy"
DIGEST = "sha256:" + "0123456789abcdef" * 4
PINNED_CODER = f"ghcr.io/coder/coder:v2.26.6@{DIGEST}"
SECRET_VALUE = "s3cr3t-value-that-must-not-leak"

Validator = Callable[[ResourceValidationArgs, Callable[..., None]], None]
# The engine's secret envelope (pulumi/sdk properties.go); the analyzer receives secrets in it.
SECRET_SIG_KEY, SECRET_SIG = "4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270"


# ------------------------------------------------------------------------------------------------
# Builders
# ------------------------------------------------------------------------------------------------

def options(*, protect: bool = False, secret_outputs: tuple[str, ...] = ()) -> PolicyResourceOptions:
    return PolicyResourceOptions(protect=protect, ignore_changes=[], delete_before_replace=None, aliases=[],
                                 custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
                                 additional_secret_outputs=list(secret_outputs))


def resource_args(resource_type: str, props: Mapping[str, Any], *, name: str = "res", protect: bool = False,
                  secret_outputs: tuple[str, ...] = (), config: Optional[Mapping[str, Any]] = None,
                  ) -> ResourceValidationArgs:
    """Args as the engine builds them: props behind pulumi_policy's unknown-checking proxy."""
    return ResourceValidationArgs(resource_type, unknown_checking_proxy(dict(props)),
                                  f"urn:pulumi:dev::egoengine::{resource_type}::{name}", name,
                                  options(protect=protect, secret_outputs=secret_outputs), None, config)


def secret(value: Any) -> dict[str, Any]:
    """``value`` as the engine sends a secret to the pack (and as Pulumi's mocks record it)."""
    return {SECRET_SIG_KEY: SECRET_SIG, "value": value}


def violations(validator: Validator, args: ResourceValidationArgs) -> list[str]:
    found: list[str] = []
    validator(args, lambda message, urn=None: found.append(message))
    return found


def role_labels(role: str) -> list[dict[str, str]]:
    return [{"label": "egoengine.role", "value": role}]


def coder_props(**overrides: Any) -> dict[str, Any]:
    """A Coder server container that satisfies every policy; overrides replace or (None) drop keys."""
    props: dict[str, Any] = {
        "image": DIGEST,
        "envs": secret(["CODER_ACCESS_URL=https://coder.example.test", "CODER_HTTP_ADDRESS=0.0.0.0:7080",
                        f"CODER_PG_CONNECTION_URL=postgres://coder:{SECRET_VALUE}@db/coder",
                        f"CODER_PROVISIONER_DAEMON_PSK={SECRET_VALUE}", "CODER_TELEMETRY_ENABLE=false",
                        "TZ=UTC"]),
        "ports": [{"internal": 7080, "external": 7080, "ip": "127.0.0.1", "protocol": "tcp"}],
        "healthcheck": {"tests": ["CMD", "curl", "-fsS", "http://127.0.0.1:7080/healthz"], "interval": "5s"},
        "wait": True,
        "restart": "always",
        "labels": role_labels("coder-server"),
    }
    for key, value in overrides.items():
        if value is None:
            props.pop(key, None)
        else:
            props[key] = value
    return props


def coder(**overrides: Any) -> ResourceValidationArgs:
    return resource_args(CONTAINER, coder_props(**overrides), name="coder")


# The three ways an unknown value reaches a validator: the engine's sentinel (behind the proxy),
# None and pulumi.output.Unknown from Pulumi's mocks.
UNKNOWN_FORMS = pytest.mark.parametrize("unknown", [UNKNOWN_STRING_VALUE, None, pulumi.output.Unknown()],
                                        ids=["engine-sentinel", "mock-none", "mock-unknown"])


# ------------------------------------------------------------------------------------------------
# images-pinned
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("reference, expected", [
    ("ghcr.io/coder/coder:v2.26.6@" + DIGEST, ImageReference("ghcr.io/coder/coder", "v2.26.6", DIGEST)),
    ("127.0.0.1:5000/egoengine/base@" + DIGEST, ImageReference("127.0.0.1:5000/egoengine/base", None, DIGEST)),
    ("127.0.0.1:5000/egoengine/base:1.0", ImageReference("127.0.0.1:5000/egoengine/base", "1.0", None)),
    ("postgres", ImageReference("postgres", None, None)),
])
def test_image_reference_parse_separates_registry_port_from_tag(reference: str, expected: ImageReference) -> None:
    assert ImageReference.parse(reference) == expected


def test_remote_image_with_tag_and_digest_passes() -> None:
    args = resource_args(REMOTE_IMAGE, {"name": PINNED_CODER})
    assert violations(policies.validate_remote_image_pinned, args) == []


@pytest.mark.parametrize("name, expected_fragments", [
    ("ghcr.io/coder/coder:latest", ["moving tag 'latest'", "no digest"]),
    (f"ghcr.io/coder/coder:latest@{DIGEST}", ["moving tag 'latest'"]),
    ("ghcr.io/coder/coder:v2.26.6", ["no digest"]),
    (f"ghcr.io/coder/coder@{DIGEST}", ["has no tag"]),
    ("ghcr.io/coder/coder:v2.26.6@sha256:abc", ["not 'sha256:' followed by 64"]),
])
def test_remote_image_unpinned_is_reported(name: str, expected_fragments: list[str]) -> None:
    found = violations(policies.validate_remote_image_pinned, resource_args(REMOTE_IMAGE, {"name": name}))
    assert len(found) == len(expected_fragments)
    for fragment, message in zip(expected_fragments, found):
        assert fragment in message
        assert "ghcr.io/coder/coder:<version>@sha256:" in message or "digest" in message


@UNKNOWN_FORMS
def test_remote_image_unknown_name_is_not_reported(unknown: Any) -> None:
    assert violations(policies.validate_remote_image_pinned, resource_args(REMOTE_IMAGE, {"name": unknown})) == []


@pytest.mark.parametrize("image", [DIGEST, PINNED_CODER, f"ghcr.io/coder/coder@{DIGEST}"])
def test_container_image_by_id_or_digest_passes(image: str) -> None:
    assert violations(policies.validate_container_image_digest, coder(image=image)) == []


@pytest.mark.parametrize("image", ["ghcr.io/coder/coder:v2.26.6", "postgres:17", "sha256:abc"])
def test_container_image_by_tag_is_reported(image: str) -> None:
    [message] = violations(policies.validate_container_image_digest, coder(image=image))
    assert f"image '{image}' is a tag" in message and "image_id" in message


@UNKNOWN_FORMS
def test_container_image_unknown_during_preview_is_not_reported(unknown: Any) -> None:
    assert violations(policies.validate_container_image_digest, coder(image=unknown)) == []


# ------------------------------------------------------------------------------------------------
# ports-loopback-only
# ------------------------------------------------------------------------------------------------

def test_ports_on_loopback_pass() -> None:
    assert violations(policies.validate_ports_loopback, coder()) == []


@pytest.mark.parametrize("ip", ["0.0.0.0", "", "::", "[::]"])
def test_port_on_all_interfaces_is_reported(ip: str) -> None:
    ports = [{"internal": 7080, "external": 7080, "ip": ip, "protocol": "tcp"}]
    [message] = violations(policies.validate_ports_loopback, coder(ports=ports))
    assert "7080/tcp" in message and "all interfaces" in message
    assert "127.0.0.1" in message and "allowPublicBind" in message


def test_port_without_ip_is_reported_because_docker_binds_all_interfaces() -> None:
    [message] = violations(policies.validate_ports_loopback, coder(ports=[{"internal": 7080, "external": 7080}]))
    assert "without an ip" in message


def test_public_port_passes_when_config_allows_it() -> None:
    args = resource_args(CONTAINER, coder_props(ports=[{"internal": 7080, "ip": "0.0.0.0"}]),
                         config={"allowPublicBind": True})
    assert violations(policies.validate_ports_loopback, args) == []


@UNKNOWN_FORMS
def test_port_with_unknown_ip_is_not_reported(unknown: Any) -> None:
    assert violations(policies.validate_ports_loopback, coder(ports=[{"internal": 7080, "ip": unknown}])) == []


def test_unknown_ports_list_is_not_reported() -> None:
    assert violations(policies.validate_ports_loopback, coder(ports=UNKNOWN_ARRAY_VALUE)) == []


def test_host_network_with_loopback_coder_address_passes() -> None:
    envs = ["CODER_ACCESS_URL=https://coder.example.test", "CODER_HTTP_ADDRESS=127.0.0.1:7080"]
    args = coder(networkMode="host", ports=None, envs=envs)
    assert violations(policies.validate_ports_loopback, args) == []


def test_host_network_with_coder_listening_on_all_interfaces_is_reported() -> None:
    envs = ["CODER_ACCESS_URL=https://coder.example.test", "CODER_HTTP_ADDRESS=0.0.0.0:7080"]
    [message] = violations(policies.validate_ports_loopback, coder(networkMode="host", ports=None, envs=envs))
    assert "host networking" in message and "CODER_HTTP_ADDRESS" in message


# ------------------------------------------------------------------------------------------------
# postgres-data-protected
# ------------------------------------------------------------------------------------------------

def postgres_volume(*, protect: bool) -> ResourceValidationArgs:
    return resource_args(VOLUME, {"name": "egoengine-pgdata", "labels": role_labels("postgres-data")},
                         name="pgdata", protect=protect)


def test_protected_postgres_volume_passes() -> None:
    assert violations(policies.validate_postgres_volume_protected, postgres_volume(protect=True)) == []


def test_unprotected_postgres_volume_is_reported() -> None:
    [message] = violations(policies.validate_postgres_volume_protected, postgres_volume(protect=False))
    assert "'pgdata' is not protected" in message and "protect=True, retain_on_delete=True" in message


def test_unprotected_volume_with_another_role_is_not_this_policys_business() -> None:
    args = resource_args(VOLUME, {"labels": role_labels("coder-home")}, protect=False)
    assert violations(policies.validate_postgres_volume_protected, args) == []


def test_protected_database_passes() -> None:
    args = resource_args(DATABASE, {"name": "coder", "owner": "coder"}, name="coder-db", protect=True)
    assert violations(policies.validate_database_protected, args) == []


def test_unprotected_adopted_database_is_reported() -> None:
    args = resource_args(policies.ADOPTED_DATABASE, {"database": "coder"}, name="adopted", protect=False)
    [message] = violations(policies.validate_database_protected, args)
    assert "'adopted' is not protected" in message


def test_unprotected_database_is_reported() -> None:
    args = resource_args(DATABASE, {"name": "coder", "owner": "coder"}, name="coder-db", protect=False)
    [message] = violations(policies.validate_database_protected, args)
    assert "'coder-db' is not protected" in message


# ------------------------------------------------------------------------------------------------
# database-role-least-privilege
# ------------------------------------------------------------------------------------------------

def role(**props: Any) -> ResourceValidationArgs:
    return resource_args(ROLE, {"name": "coder", "password": SECRET_VALUE, **props}, name="coder-role")


@pytest.mark.parametrize("props", [{"login": True, "superuser": False}, {"login": True}])
def test_login_role_without_superuser_passes(props: dict[str, Any]) -> None:
    assert violations(policies.validate_role_not_superuser, role(**props)) == []
    assert violations(policies.validate_role_can_login, role(**props)) == []


def test_superuser_role_is_reported() -> None:
    [message] = violations(policies.validate_role_not_superuser, role(login=True, superuser=True))
    assert "is a superuser" in message and "superuser=False" in message
    assert SECRET_VALUE not in message


@pytest.mark.parametrize("props", [{"login": False}, {}])
def test_role_that_cannot_log_in_is_reported(props: dict[str, Any]) -> None:
    [message] = violations(policies.validate_role_can_login, role(**props))
    assert "cannot log in" in message and "login=True" in message


def test_unknown_superuser_and_login_are_not_reported() -> None:
    args = role(login=UNKNOWN_BOOLEAN_VALUE, superuser=UNKNOWN_BOOLEAN_VALUE)
    assert violations(policies.validate_role_not_superuser, args) == []
    assert violations(policies.validate_role_can_login, args) == []


# ------------------------------------------------------------------------------------------------
# command-hygiene
# ------------------------------------------------------------------------------------------------

def command(*, secret_outputs: tuple[str, ...] = ("stdout", "stderr"), **props: Any) -> ResourceValidationArgs:
    return resource_args(COMMAND, {"create": "coder templates push", **props}, name="push",
                         secret_outputs=secret_outputs)


@pytest.mark.parametrize("props", [
    {"environment": {"CODER_SESSION_TOKEN": SECRET_VALUE}, "logging": "none"},
    {"stdin": SECRET_VALUE, "logging": "none"},
    {},  # no environment, no stdin: logging may stay at its default
])
def test_command_with_secret_inputs_and_no_logging_passes(props: dict[str, Any]) -> None:
    assert violations(policies.validate_command_logging, command(**props)) == []


@pytest.mark.parametrize("props, shown", [
    ({"environment": {"CODER_SESSION_TOKEN": SECRET_VALUE}}, "the default"),
    ({"stdin": SECRET_VALUE, "logging": "stdoutAndStderr"}, "'stdoutAndStderr'"),
    ({"environment": {"A": "b"}, "stdin": SECRET_VALUE, "logging": "stderr"}, "'stderr'"),
])
def test_command_with_secret_inputs_that_logs_is_reported(props: dict[str, Any], shown: str) -> None:
    [message] = violations(policies.validate_command_logging, command(**props))
    assert f"logging is {shown}" in message and "logging='none'" in message
    assert SECRET_VALUE not in message


def test_command_with_unknown_environment_still_needs_logging_none() -> None:
    # An unknown environment is still set (the SDK drops unset inputs); only its content is unknown.
    assert violations(policies.validate_command_logging, command(environment=UNKNOWN_STRING_VALUE))


def test_command_with_unknown_logging_is_not_reported() -> None:
    args = command(stdin=SECRET_VALUE, logging=UNKNOWN_STRING_VALUE)
    assert violations(policies.validate_command_logging, args) == []


def test_command_with_secret_stdout_and_stderr_passes() -> None:
    assert violations(policies.validate_command_secret_outputs, command(logging="none")) == []


@pytest.mark.parametrize("declared, missing", [((), "stdout and stderr"), (("stdout",), "stderr"),
                                               (("stderr",), "stdout")])
def test_command_without_secret_outputs_is_reported(declared: tuple[str, ...], missing: str) -> None:
    [message] = violations(policies.validate_command_secret_outputs, command(secret_outputs=declared))
    assert f"stores {missing} in plain text" in message and "additional_secret_outputs" in message


# ------------------------------------------------------------------------------------------------
# coder-server-ready
# ------------------------------------------------------------------------------------------------

def test_ready_coder_container_passes() -> None:
    assert violations(policies.validate_coder_readiness, coder()) == []


@pytest.mark.parametrize("overrides, fragment", [
    ({"healthcheck": None}, "has no healthcheck"),
    ({"healthcheck": {"tests": ["NONE"]}}, "healthcheck has no test command"),
    ({"healthcheck": {"interval": "5s"}}, "healthcheck has no test command"),
    ({"wait": None}, "does not wait"),
    ({"wait": False}, "does not wait"),
    ({"envs": ["CODER_HTTP_ADDRESS=0.0.0.0:7080"]}, "does not set CODER_ACCESS_URL"),
    ({"envs": ["CODER_ACCESS_URL="]}, "does not set CODER_ACCESS_URL"),
    ({"envs": None}, "does not set CODER_ACCESS_URL"),
])
def test_coder_container_not_ready_is_reported(overrides: dict[str, Any], fragment: str) -> None:
    [message] = violations(policies.validate_coder_readiness, coder(**overrides))
    assert fragment in message


def test_readiness_ignores_containers_that_are_not_coder() -> None:
    args = resource_args(CONTAINER, {"image": DIGEST, "labels": role_labels("postgres")})
    assert violations(policies.validate_coder_readiness, args) == []


@UNKNOWN_FORMS
def test_coder_readiness_with_unknown_values_is_not_reported(unknown: Any) -> None:
    args = coder(healthcheck=unknown if unknown is not None else UNKNOWN_STRING_VALUE,
                 wait=UNKNOWN_BOOLEAN_VALUE, envs=[unknown, "TZ=UTC"])
    assert violations(policies.validate_coder_readiness, args) == []


def test_coder_envs_as_mock_secret_are_read_in_plain_text() -> None:
    # Pulumi's mocks deliver a secret list as {sig: secret, value: [...]}; the engine delivers plaintext.
    secret_envs = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
                   "value": ["CODER_ACCESS_URL=https://coder.example.test"]}
    assert violations(policies.validate_coder_readiness, coder(envs=secret_envs)) == []


# ------------------------------------------------------------------------------------------------
# coder-env-known
# ------------------------------------------------------------------------------------------------

def test_known_coder_env_names_pass() -> None:
    envs = [f"{name}=x" for name in sorted(policies.KNOWN_CODER_SERVER_ENV)] + ["TZ=UTC", "HOME=/home/coder"]
    assert violations(policies.validate_coder_env_known, coder(envs=envs)) == []


@pytest.mark.parametrize("name, hint", [
    ("CODER_PROVISIONER_PSK", "use CODER_PROVISIONER_DAEMON_PSK"),
    ("CODER_ADDRESS", "use CODER_HTTP_ADDRESS"),
    ("CODER_TELEMETRY", "use CODER_TELEMETRY_ENABLE"),
    ("CODER_ACCES_URL", "use CODER_ACCESS_URL"),  # a typo, caught by the close-match hint
    ("CODER_MADE_UP_SETTING", "coder server --help"),
])
def test_unknown_coder_env_name_is_reported_with_a_hint(name: str, hint: str) -> None:
    envs = ["CODER_ACCESS_URL=https://coder.example.test", f"{name}={SECRET_VALUE}"]
    [message] = violations(policies.validate_coder_env_known, coder(envs=envs))
    assert f"sets {name}, which Coder does not read" in message and hint in message
    assert SECRET_VALUE not in message


def test_malformed_env_entry_is_reported_without_its_value() -> None:
    [message] = violations(policies.validate_coder_env_known, coder(envs=["CODER_ACCESS_URL=x", SECRET_VALUE]))
    assert "entry #1 is not 'NAME=value'" in message and SECRET_VALUE not in message


def test_unknown_env_entries_are_not_reported() -> None:
    args = coder(envs=[UNKNOWN_STRING_VALUE, "CODER_ACCESS_URL=x"])
    assert violations(policies.validate_coder_env_known, args) == []


# ------------------------------------------------------------------------------------------------
# Secret markers: from_wire and the analyzer hook
# ------------------------------------------------------------------------------------------------

# The two shapes a secret reaches a validator in: Secret(value), as the pack's analyzer hands it over
# (from_wire keeps the engine's marker), and the raw envelope, as Pulumi's mocks record it.
SECRET_FORMS = pytest.mark.parametrize("present", [from_wire, dict], ids=["analyzer-Secret", "mock-envelope"])
ASSET_SIG = "c44067f5952c0a294b673a41bacd8c17"


def test_from_wire_turns_every_secret_envelope_into_a_secret_and_keeps_the_rest() -> None:
    props = from_wire({
        "envs": secret(["A=b", UNKNOWN_STRING_VALUE]),
        "environment": {"PGPASSWORD": secret(SECRET_VALUE), "PGHOST": "127.0.0.1"},
        "ports": [{"internal": 7080, "ip": secret("127.0.0.1")}],
        "image": UNKNOWN_STRING_VALUE,
        "source": {SECRET_SIG_KEY: ASSET_SIG, "text": "hello"},
    })
    assert isinstance(props["envs"], Secret) and props["envs"].value == ["A=b", UNKNOWN_STRING_VALUE]
    assert isinstance(props["environment"]["PGPASSWORD"], Secret) and props["environment"]["PGHOST"] == "127.0.0.1"
    assert isinstance(props["ports"][0]["ip"], Secret) and props["ports"][0]["internal"] == 7080
    assert props["image"] == UNKNOWN_STRING_VALUE
    assert isinstance(props["source"], pulumi.StringAsset) and props["source"].text == "hello"


def test_the_packs_analyzer_keeps_secret_markers_for_validators() -> None:
    # Importing policy.policies installed the hook: Analyze/AnalyzeStack now deserialize like from_wire.
    import pulumi_policy.deserialize as library
    import pulumi_policy.policy as analyzer

    # Why the hook exists: pulumi_policy 1.21 on its own hands a secret over as plain text.
    assert library.deserialize_properties({"envs": secret(["A=b"])})["envs"] == ["A=b"]
    analyzed = analyzer.deserialize_properties({"envs": secret(["A=b"]), "name": "x"})
    assert isinstance(analyzed["envs"], Secret) and analyzed["envs"].value == ["A=b"]
    # Remediate's path (secret-preserving proxies that read as plain text) is left as the library has it.
    remediated = analyzer.deserialize_properties({"envs": secret(["A=b"])}, True)
    assert list(remediated["envs"]) == ["A=b"]
    policies.keep_secret_markers_in_analyzer()  # idempotent
    assert isinstance(analyzer.deserialize_properties({"e": secret(1)})["e"], Secret)


def test_the_hook_refuses_a_pulumi_policy_it_does_not_recognise(monkeypatch: pytest.MonkeyPatch) -> None:
    import pulumi_policy.policy as analyzer

    monkeypatch.setattr(analyzer, "deserialize_properties", lambda props, proxy_secrets=False: props)
    with pytest.raises(RuntimeError, match=r"pulumi-policy 1\.21\.0"):
        policies.keep_secret_markers_in_analyzer()


# ------------------------------------------------------------------------------------------------
# no-secrets-in-plain-env
# ------------------------------------------------------------------------------------------------

CODER_CREDENTIALS = [f"CODER_PG_CONNECTION_URL=postgres://coder:{SECRET_VALUE}@db/coder",
                     f"CODER_PROVISIONER_DAEMON_PSK={SECRET_VALUE}"]
CODER_SETTINGS = ["CODER_ACCESS_URL=https://coder.example.test", "CODER_MAX_ADMIN_TOKEN_LIFETIME=336h"]
POSTGRES_ENVS = ["POSTGRES_USER=postgres", f"POSTGRES_PASSWORD={SECRET_VALUE}"]


def container_args(role: str, envs: Any, present: Callable[[dict[str, Any]], dict[str, Any]] = dict,
                   ) -> ResourceValidationArgs:
    return resource_args(CONTAINER, present({"image": DIGEST, "envs": envs, "labels": role_labels(role)}),
                         name=role)


@SECRET_FORMS
@pytest.mark.parametrize("role, envs", [
    ("coder-server", secret(CODER_SETTINGS + CODER_CREDENTIALS)),
    ("coder-server", CODER_SETTINGS + [secret(entry) for entry in CODER_CREDENTIALS]),  # each entry secret
    ("coder-server", CODER_SETTINGS),  # no credential at all: nothing to protect
    ("postgres", secret(POSTGRES_ENVS)),
    ("postgres", ["POSTGRES_USER=postgres", secret(f"POSTGRES_PASSWORD={SECRET_VALUE}")]),
], ids=["coder-list", "coder-entries", "coder-no-credentials", "postgres-list", "postgres-entry"])
def test_container_credentials_carried_as_secrets_pass(present: Callable[[dict[str, Any]], dict[str, Any]],
                                                       role: str, envs: Any) -> None:
    assert violations(policies.validate_container_env_secret, container_args(role, envs, present)) == []


@SECRET_FORMS
@pytest.mark.parametrize("role, envs, names", [
    ("coder-server", CODER_SETTINGS + CODER_CREDENTIALS, "CODER_PG_CONNECTION_URL, CODER_PROVISIONER_DAEMON_PSK"),
    ("coder-server", [secret(CODER_CREDENTIALS[0]), CODER_CREDENTIALS[1]], "CODER_PROVISIONER_DAEMON_PSK"),
    ("postgres", POSTGRES_ENVS, "POSTGRES_PASSWORD"),
], ids=["coder-plain", "coder-psk-plain", "postgres-plain"])
def test_container_credentials_in_plain_envs_are_reported(present: Callable[[dict[str, Any]], dict[str, Any]],
                                                          role: str, envs: list[Any], names: str) -> None:
    [message] = violations(policies.validate_container_env_secret, container_args(role, envs, present))
    assert f"Container '{role}' (egoengine.role={role}) sets {names} in envs in plain text" in message
    assert "pulumi.Output.secret" in message
    assert SECRET_VALUE not in message


def test_plain_credentials_on_a_container_with_another_role_are_not_this_policys_business() -> None:
    assert violations(policies.validate_container_env_secret, container_args("workspace", POSTGRES_ENVS)) == []


@UNKNOWN_FORMS
def test_container_envs_not_known_yet_are_not_reported(unknown: Any) -> None:
    for envs in ([unknown, "POSTGRES_USER=postgres"], secret(UNKNOWN_ARRAY_VALUE), UNKNOWN_ARRAY_VALUE):
        assert violations(policies.validate_container_env_secret, container_args("postgres", envs)) == []
    args = resource_args(CONTAINER, {"image": DIGEST, "envs": POSTGRES_ENVS, "labels": UNKNOWN_ARRAY_VALUE})
    assert violations(policies.validate_container_env_secret, args) == []


@SECRET_FORMS
@pytest.mark.parametrize("environment", [
    secret({"PGPASSWORD": SECRET_VALUE, "PGHOST": "127.0.0.1"}),
    {"PGPASSWORD": secret(SECRET_VALUE), "PGHOST": "127.0.0.1"},
    {"ENGINE_HOST": "unix:///run/podman/podman.sock", "REGISTRY_USERNAME": "me",
     "REGISTRY_PASSWORD": secret(SECRET_VALUE)},
    {"ENGINE_HOST": "unix:///run/podman/podman.sock"},  # nothing that looks like a credential
], ids=["whole-map", "one-value", "registry-login", "no-credentials"])
def test_command_credentials_carried_as_secrets_pass(present: Callable[[dict[str, Any]], dict[str, Any]],
                                                     environment: Any) -> None:
    args = resource_args(COMMAND, present({"create": "true", "environment": environment}), name="backup")
    assert violations(policies.validate_command_env_secret, args) == []


@pytest.mark.parametrize("environment, names", [
    ({"PGPASSWORD": SECRET_VALUE, "PGHOST": "127.0.0.1"}, "PGPASSWORD"),
    ({"ENGINE_HOST": "unix:///x", "REGISTRY_PASSWORD": SECRET_VALUE}, "REGISTRY_PASSWORD"),
    ({"CODER_SESSION_TOKEN": SECRET_VALUE, "API_KEY": SECRET_VALUE, "CLIENT_SECRET": secret(SECRET_VALUE),
      "PROVISIONER_PSK": SECRET_VALUE}, "API_KEY, CODER_SESSION_TOKEN, PROVISIONER_PSK"),
    ({"pgpassword": SECRET_VALUE}, "pgpassword"),
], ids=["pgpassword", "registry-password", "token-key-psk", "lower-case"])
def test_command_credentials_in_plain_environment_are_reported(environment: dict[str, Any], names: str) -> None:
    args = resource_args(COMMAND, {"create": "true", "environment": environment}, name="backup")
    [message] = violations(policies.validate_command_env_secret, args)
    assert f"Command 'backup' passes {names} in environment in plain text" in message
    assert "pulumi.Output.secret" in message and SECRET_VALUE not in message


@UNKNOWN_FORMS
def test_command_environment_not_known_yet_is_not_reported(unknown: Any) -> None:
    for environment in ({"PGPASSWORD": unknown}, UNKNOWN_STRING_VALUE):
        args = resource_args(COMMAND, {"create": "true", "environment": environment})
        assert violations(policies.validate_command_env_secret, args) == []


# ------------------------------------------------------------------------------------------------
# child-config-inheritance
# ------------------------------------------------------------------------------------------------

BUILD_WITH_HELPER = (".venv/bin/python -m tools.build_image containerfile --context images/lab --name lab "
                     f"--base ghcr.io/o/base:1@{DIGEST} --repo ghcr.io/o/lab --tag c-1")


@pytest.mark.parametrize("create", [
    BUILD_WITH_HELPER,
    f"python3 -m tools.build_image nix --flake images/lab --attr image --base b@{DIGEST} --repo r/lab",
    "coder templates push shell --yes",  # no image build at all
    "skopeo inspect docker://ghcr.io/o/lab:c-1",  # reading an image is not building one
])
def test_commands_that_build_through_the_helper_or_not_at_all_pass(create: str) -> None:
    assert violations(policies.validate_image_builds_use_helper, command(create=create)) == []


@pytest.mark.parametrize("props, step, where", [
    ({"create": "DOCKER_HOST=unix:///x docker build -t ghcr.io/o/child:1 images/child"}, "docker build", "create"),
    ({"create": "podman build -f Containerfile -t ghcr.io/o/child:1 ."}, "podman build", "create"),
    ({"create": "docker  buildx build --push -t ghcr.io/o/child:1 ."}, "docker buildx build", "create"),
    ({"create": "buildah bud -t ghcr.io/o/child:1 ."}, "buildah", "create"),
    ({"create": "skopeo copy docker-archive:result docker://ghcr.io/o/child:1"}, "skopeo copy", "create"),
    ({"create": "nix build .#image && ./push.sh"}, "nix build", "create"),
    ({"create": BUILD_WITH_HELPER, "update": "podman push ghcr.io/o/child:1"}, "podman push", "update"),
], ids=["docker", "podman", "buildx", "buildah", "skopeo-copy", "nix", "push-in-update"])
def test_image_builds_that_skip_the_helper_are_reported(props: dict[str, str], step: str, where: str) -> None:
    [message] = violations(policies.validate_image_builds_use_helper, command(**props))
    assert f"Command 'push' runs `{step}` in {where} without the project's helper" in message
    assert "User, Env, Cmd, Entrypoint and WorkingDir" in message and "-m tools.build_image" in message
    assert "ghcr.io/o/child" not in message  # the rest of the command line is not echoed


@UNKNOWN_FORMS
def test_command_line_not_known_yet_is_not_reported(unknown: Any) -> None:
    assert violations(policies.validate_image_builds_use_helper, command(create=unknown)) == []


# ------------------------------------------------------------------------------------------------
# single-coder-server (stack policy)
# ------------------------------------------------------------------------------------------------

def stack_resource(resource_type: str, name: str, props: Mapping[str, Any]) -> PolicyResource:
    return PolicyResource(resource_type, unknown_checking_proxy(dict(props)),
                          f"urn:pulumi:dev::egoengine::{resource_type}::{name}", name, options(), None, None, [], {})


def stack_violations(resources: list[PolicyResource]) -> list[tuple[str, Optional[str]]]:
    found: list[tuple[str, Optional[str]]] = []
    policies.validate_single_coder_server(StackValidationArgs(resources),
                                          lambda message, urn=None: found.append((message, urn)))
    return found


POSTGRES_CONTAINER = stack_resource(CONTAINER, "postgres", {"image": DIGEST, "labels": role_labels("postgres")})


def test_stack_with_one_coder_server_passes() -> None:
    resources = [stack_resource(CONTAINER, "coder", coder_props()), POSTGRES_CONTAINER,
                 stack_resource(REMOTE_IMAGE, "coder-image", {"name": PINNED_CODER})]
    assert stack_violations(resources) == []


def test_stack_with_two_coder_servers_reports_each() -> None:
    first, second = (stack_resource(CONTAINER, name, coder_props()) for name in ("coder-a", "coder-b"))
    found = stack_violations([first, second, POSTGRES_CONTAINER])
    assert [urn for _, urn in found] == [first.urn, second.urn]
    assert all("one of 2 containers" in message for message, _ in found)


def test_stack_without_coder_server_is_reported() -> None:
    [(message, urn)] = stack_violations([POSTGRES_CONTAINER])
    assert "no container labelled egoengine.role=coder-server" in message and urn is None


def test_stack_with_unknown_labels_is_not_reported_as_missing_a_server() -> None:
    undecided = stack_resource(CONTAINER, "coder", {"image": DIGEST, "labels": UNKNOWN_ARRAY_VALUE})
    assert stack_violations([undecided, POSTGRES_CONTAINER]) == []


# ------------------------------------------------------------------------------------------------
# restart-always-on-podman
# ------------------------------------------------------------------------------------------------

def engine_labels(role: str, engine: str) -> list[dict[str, str]]:
    return [*role_labels(role), {"label": "egoengine.engine", "value": engine}]


@pytest.mark.parametrize("engine", ["podman", "unknown"])
def test_restart_always_passes_on_podman_or_an_unknown_engine(engine: str) -> None:
    args = coder(labels=engine_labels("coder-server", engine), restart="always")
    assert violations(policies.validate_restart_always_on_podman, args) == []


@pytest.mark.parametrize("engine", ["podman", "unknown", None])
@pytest.mark.parametrize("restart", ["unless-stopped", "on-failure", "no", None])
def test_any_other_restart_policy_is_reported_unless_the_engine_is_docker(engine: Optional[str], restart: Optional[str]) -> None:
    labels = engine_labels("postgres", engine) if engine else role_labels("postgres")
    found = violations(policies.validate_restart_always_on_podman, coder(labels=labels, restart=restart))
    assert len(found) == 1
    assert f"restart policy '{restart or 'no'}'" in found[0] and "podman-restart.service" in found[0]
    assert "restart='always'" in found[0]


def test_docker_may_use_another_restart_policy() -> None:
    args = coder(labels=engine_labels("coder-server", "docker"), restart="unless-stopped")
    assert violations(policies.validate_restart_always_on_podman, args) == []


@UNKNOWN_FORMS
def test_unknown_restart_or_engine_is_not_reported(unknown: Any) -> None:
    props = {**coder_props(labels=engine_labels("postgres", "podman")), "restart": unknown}
    assert violations(policies.validate_restart_always_on_podman, resource_args(CONTAINER, props)) == []
    unknown_engine = [*role_labels("postgres"), {"label": "egoengine.engine", "value": unknown}]
    assert violations(policies.validate_restart_always_on_podman, coder(labels=unknown_engine, restart="no")) == []


# ------------------------------------------------------------------------------------------------
# Policy objects and the engine-free runner
# ------------------------------------------------------------------------------------------------

def test_policy_names_are_unique_and_valid_for_the_engine() -> None:
    names = [policy.name for policy in policies.ALL_POLICIES]
    assert len(names) == len(set(names)) == 12
    assert all(re.fullmatch(r"[a-z0-9-]+", name) and name != "all" for name in names)


@pytest.mark.parametrize("resource_type, props, policy_name", [
    (REMOTE_IMAGE, {"name": "ghcr.io/coder/coder:latest"}, "images-pinned"),
    (CONTAINER, coder_props(ports=[{"internal": 7080}]), "ports-loopback-only"),
    (VOLUME, {"labels": role_labels("postgres-data")}, "postgres-data-protected"),
    (DATABASE, {"name": "coder"}, "postgres-data-protected"),
    (ROLE, {"superuser": True, "login": True}, "database-role-least-privilege"),
    (COMMAND, {"stdin": SECRET_VALUE}, "command-hygiene"),
    (CONTAINER, coder_props(wait=False), "coder-server-ready"),
    (CONTAINER, coder_props(envs=["CODER_ACCESS_URL=x", "CODER_PROVISIONER_PSK=y"]), "coder-env-known"),
    (CONTAINER, coder_props(envs=["CODER_ACCESS_URL=x", *CODER_CREDENTIALS]), "no-secrets-in-plain-env"),
    (CONTAINER, {"image": DIGEST, "envs": POSTGRES_ENVS, "labels": role_labels("postgres"), "restart": "always"},
     "no-secrets-in-plain-env"),
    (CONTAINER, coder_props(restart="unless-stopped"), "restart-always-on-podman"),
])
def test_check_resource_attributes_findings_to_the_wrapping_policy(resource_type: str, props: dict[str, Any],
                                                                  policy_name: str) -> None:
    found = check_resource(resource_type, unknown_checking_proxy(props), "urn:x", "x", options(),
                           config=None)
    assert {finding.policy for finding in found} == {policy_name}
    assert all(finding.urn == "urn:x" for finding in found)


def test_check_resource_attributes_image_builds_to_child_config_inheritance() -> None:
    guarded = options(secret_outputs=("stdout", "stderr"))
    found = check_resource(COMMAND, unknown_checking_proxy({"create": "podman build ."}), "urn:b", "b", guarded)
    assert [finding.policy for finding in found] == ["child-config-inheritance"]


def test_check_resource_passes_per_policy_config() -> None:
    props = coder_props(ports=[{"internal": 7080, "ip": "0.0.0.0"}])
    assert check_resource(CONTAINER, props, "urn:x", "coder", options())
    assert check_resource(CONTAINER, props, "urn:x", "coder", options(),
                          config={"ports-loopback-only": {"allowPublicBind": True}}) == []


@SECRET_FORMS
def test_compliant_stack_has_no_findings(present: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    guarded = options(protect=True, secret_outputs=("stdout", "stderr"))
    resources = [
        (REMOTE_IMAGE, "coder-image", {"name": PINNED_CODER}),
        (CONTAINER, "coder", coder_props()),
        (CONTAINER, "postgres", {"image": DIGEST, "envs": secret(POSTGRES_ENVS), "labels": role_labels("postgres"),
                                 "restart": "always", "ports": [{"internal": 5432, "external": 5432, "ip": "127.0.0.1"}]}),
        (VOLUME, "pgdata", {"labels": role_labels("postgres-data")}),
        (DATABASE, "coder-db", {"name": "coder"}),
        (ROLE, "coder-role", {"login": True, "superuser": False}),
        (COMMAND, "push", {"create": "coder templates push shell --yes",
                           "environment": secret({"CODER_SESSION_TOKEN": SECRET_VALUE}), "logging": "none"}),
        (COMMAND, "pg-dump", {"create": ".venv/bin/python -m tools.pg_backup --dir backups --keep 7",
                              "environment": {"PGHOST": "127.0.0.1", "PGPASSWORD": secret(SECRET_VALUE)},
                              "logging": "none"}),
        (COMMAND, "lab-build", {"create": BUILD_WITH_HELPER, "logging": "none",
                                "environment": {"ENGINE_HOST": "unix:///run/podman/podman.sock",
                                                "REGISTRY_USERNAME": "me", "REGISTRY_PASSWORD": secret(SECRET_VALUE)}}),
    ]
    for resource_type, name, props in resources:
        found = check_resource(resource_type, unknown_checking_proxy(present(props)), f"urn:{name}", name, guarded)
        assert found == [], name
    assert check_stack([stack_resource(t, n, present(p)) for t, n, p in resources]) == []


def test_check_stack_reports_a_missing_coder_server() -> None:
    [finding] = check_stack([POSTGRES_CONTAINER])
    assert finding.policy == "single-coder-server" and finding.urn is None


# ------------------------------------------------------------------------------------------------
# Pack files
# ------------------------------------------------------------------------------------------------

def test_pack_metadata_keeps_its_own_virtualenv_and_pins() -> None:
    manifest = yaml.safe_load((POLICY_DIR / "PulumiPolicy.yaml").read_text())
    assert manifest["runtime"] == {"name": "python", "options": {"virtualenv": "venv"}}
    assert manifest["description"]
    pins = (POLICY_DIR / "requirements.txt").read_text().split()
    assert "pulumi-policy==1.21.0" in pins and "pulumi==3.272.0" in pins


# ------------------------------------------------------------------------------------------------
# The pack as the CLI runs it
# ------------------------------------------------------------------------------------------------

def _struct(values: Mapping[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(dict(values))
    return message


@pytest.fixture
def analyzer() -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    """Starts policy/__main__.py like `pulumi preview --policy-pack ./policy` does; stops it by its pid."""
    # Only the pack directory on sys.path, as under the CLI: `from policies import ...` must resolve there.
    pack_env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    process = subprocess.Popen([sys.executable, "-u", str(POLICY_DIR)], cwd=REPO_ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=pack_env)
    try:
        port_line = process.stdout.readline() if process.stdout else ""
        if not port_line.strip().isdigit():
            process.kill()
            _, stderr = process.communicate(timeout=10)
            pytest.fail(f"policy pack did not start its analyzer (printed {port_line!r}); stderr:\n{stderr}")
        channel = grpc.insecure_channel(f"127.0.0.1:{port_line.strip()}")
        grpc.channel_ready_future(channel).result(timeout=20)
        yield analyzer_pb2_grpc.AnalyzerStub(channel)
        channel.close()
    finally:
        process.kill()
        process.wait(timeout=10)


@pytest.mark.integration
def test_pack_serves_every_policy_and_reports_over_grpc(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty(), timeout=20)
    assert info.name == policies.POLICY_PACK_NAME
    assert {policy.name for policy in info.policies} == {policy.name for policy in policies.ALL_POLICIES}
    assert all(policy.enforcementLevel == analyzer_pb2.MANDATORY for policy in info.policies)

    unpinned = analyzer.Analyze(analyzer_pb2.AnalyzeRequest(
        type=REMOTE_IMAGE, urn="urn:pulumi:dev::egoengine::img::coder-image", name="coder-image",
        properties=_struct({"name": "ghcr.io/coder/coder:latest"})), timeout=20)
    assert {d.policyName for d in unpinned.diagnostics} == {"images-pinned"}
    assert all(d.enforcementLevel == analyzer_pb2.MANDATORY for d in unpinned.diagnostics)

    # During preview the engine sends unknowns as sentinels; the pack must not call them violations.
    preview = analyzer.Analyze(analyzer_pb2.AnalyzeRequest(
        type=CONTAINER, urn="urn:pulumi:dev::egoengine::ctr::coder", name="coder",
        properties=_struct({**coder_props(), "image": UNKNOWN_STRING_VALUE})), timeout=20)
    assert list(preview.diagnostics) == []

    # Secrets travel in the engine's envelope; the pack keeps the marker, so secret envs pass and
    # plain credentials are reported (by name only).
    plain_credentials = analyzer.Analyze(analyzer_pb2.AnalyzeRequest(
        type=CONTAINER, urn="urn:pulumi:dev::egoengine::ctr::coder", name="coder",
        properties=_struct(coder_props(envs=["CODER_ACCESS_URL=https://coder.example.test", *CODER_CREDENTIALS]))),
        timeout=20)
    assert [d.policyName for d in plain_credentials.diagnostics] == ["no-secrets-in-plain-env"]
    assert all(SECRET_VALUE not in d.message for d in plain_credentials.diagnostics)
    assert "CODER_PG_CONNECTION_URL" in plain_credentials.diagnostics[0].message

    public = _struct(coder_props(ports=[{"internal": 7080, "ip": "0.0.0.0"}]))
    request = analyzer_pb2.AnalyzeRequest(type=CONTAINER, urn="urn:c", name="coder", properties=public)
    assert [d.policyName for d in analyzer.Analyze(request, timeout=20).diagnostics] == ["ports-loopback-only"]
    allow_public = analyzer_pb2.PolicyConfig(enforcementLevel=analyzer_pb2.MANDATORY,
                                             properties=_struct({"allowPublicBind": True}))
    analyzer.Configure(analyzer_pb2.ConfigureAnalyzerRequest(policyConfig={"ports-loopback-only": allow_public}),
                       timeout=20)
    assert list(analyzer.Analyze(request, timeout=20).diagnostics) == []
