"""CrossGuard policies for the egoengine stacks.

Every rule is a plain validator function ``(args, report_violation) -> None`` so tests and the offline
plan tool can call it without the Pulumi CLI. The ``ResourceValidationPolicy`` /
``StackValidationPolicy`` objects that wrap them are defined here too; ``PolicyPack(...)`` is built
only in ``policy/__main__.py`` because its constructor starts a gRPC server and never returns.

Validators read the engine's camelCase property names from ``args.props``. Values that are not known
yet (during ``pulumi preview``) never produce a violation: the engine hands them over as sentinel
strings behind a proxy that raises ``UnknownValueError``; Pulumi's mocks hand them over as ``None``
or ``pulumi.output.Unknown``. All three read as ``UNKNOWN`` here. A property that is *absent* is not
unknown: the Python SDK drops ``None`` inputs, so an absent key means the program did not set it.

Secrets: the engine sends secret inputs to the pack with their secret marker, but pulumi_policy 1.21
drops that marker before validators run (``Analyze``/``AnalyzeStack`` deserialize without secret
proxies; pulumi/pulumi-policy#241), so a validator could not tell a secret from plain text. Importing
this module therefore installs ``keep_secret_markers_in_analyzer()``: the pack's validators then see
a secret value as ``pulumi_policy.Secret(value)``, as ``from_wire`` builds it. Whatever else runs
these validators (the offline plan tool, tests) should build props with ``from_wire`` too: Pulumi's
mocks record secrets with the same marker.
``known``/``lookup`` read through secrets; ``raw_lookup``/``is_secret`` say whether a value is one.

Messages name the resource and property, say what is wrong and what to do, and never echo a value
that could be secret (environment values, stdin).
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Optional, Union

import pulumi_policy.deserialize as _policy_wire
import pulumi_policy.policy as _policy_analyzer
from pulumi.output import Unknown as _MockUnknown
from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    PolicyResource,
    PolicyResourceOptions,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Secret,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import (
    UNKNOWN_ARCHIVE_VALUE,
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    UnknownValueError,
)

POLICY_PACK_NAME: Final = "egoengine-guardrails"
POLICY_PACK_DESCRIPTION: Final = (
    "Guardrails for the egoengine Coder deployment: pinned images, loopback-only ports, protected "
    "PostgreSQL data, least-privilege database role, secret-safe commands, no secrets in plain env, "
    "child images built through the inheritance check, and a well-formed Coder server."
)

# Resource type tokens (pulumi-docker 5.x, pulumi-postgresql 3.x, pulumi-command 1.x).
CONTAINER: Final = "docker:index/container:Container"
REMOTE_IMAGE: Final = "docker:index/remoteImage:RemoteImage"
VOLUME: Final = "docker:index/volume:Volume"
DATABASE: Final = "postgresql:index/database:Database"
ROLE: Final = "postgresql:index/role:Role"
ADOPTED_DATABASE: Final = "pulumi-python:dynamic/database:Adoption"
"""The role and database taken over with ``egoengine:database.existing: adopt``."""
COMMAND: Final = "command:local:Command"

# The label the program puts on its containers and volumes to say what they are.
ROLE_LABEL: Final = "egoengine.role"
CODER_SERVER_ROLE: Final = "coder-server"
POSTGRES_ROLE: Final = "postgres"
POSTGRES_DATA_ROLE: Final = "postgres-data"
# The label naming the engine a container runs on, set from what the engine says in /version.
ENGINE_LABEL: Final = "egoengine.engine"
DOCKER_ENGINE: Final = "docker"
RESTART_ALWAYS: Final = "always"

# Container variables that carry a credential, by container role: the database URL holds the role's
# password, the PSK lets a provisioner daemon join. Named one by one: a pattern would also catch
# harmless Coder settings such as CODER_MAX_ADMIN_TOKEN_LIFETIME.
SECRET_CONTAINER_ENV: Final[Mapping[str, frozenset[str]]] = {
    CODER_SERVER_ROLE: frozenset({"CODER_PG_CONNECTION_URL", "CODER_PROVISIONER_DAEMON_PSK"}),
    POSTGRES_ROLE: frozenset({"POSTGRES_PASSWORD"}),
}
# A command's environment variable whose name contains one of these is taken to hold a credential
# (PGPASSWORD, REGISTRY_PASSWORD, CODER_SESSION_TOKEN, ...).
SECRET_NAME_PARTS: Final = ("PASSWORD", "TOKEN", "SECRET", "PSK", "KEY")

# Image builds and pushes a command may run only through tools.build_image, which checks after every
# build (and again after the push) that the child kept the base's User, Env, Cmd, Entrypoint and
# WorkingDir. The helper has no option that skips that check, so going through it is the whole rule.
_IMAGE_BUILD_OR_PUSH = re.compile(
    r"\b(?:docker|podman)\s+(?:buildx\s+|image\s+)?(?:build|push)\b"
    r"|\bbuildah\b|\bskopeo\s+copy\b|\bnix(?:\s+|-)build\b")
_BUILD_HELPER = re.compile(r"(?:^|\s)-m\s+tools\.build_image(?:\s|$)")
_BUILD_HELPER_ARGUMENT: Final = "-m tools.build_image"
_COMMAND_RUN_INPUTS: Final = ("create", "update")

ALLOW_PUBLIC_BIND_KEY: Final = "allowPublicBind"

# Coder server variables, from coder/coder docs/reference/cli/server.md (the env var table in
# /work/shared/reference/coder-api.md §1.1). Keep this list to what `coder server` documents: the
# point is to catch invented or misspelt names, which Coder silently ignores.
KNOWN_CODER_SERVER_ENV: Final = frozenset({
    "CODER_ACCESS_URL",
    "CODER_WILDCARD_ACCESS_URL",
    "CODER_HTTP_ADDRESS",
    "CODER_TLS_ENABLE",
    "CODER_TLS_ADDRESS",
    "CODER_REDIRECT_TO_ACCESS_URL",
    "CODER_PG_CONNECTION_URL",
    "CODER_PG_AUTH",
    "CODER_PG_CONN_MAX_OPEN",
    "CODER_PG_CONN_MAX_IDLE",
    "CODER_PROVISIONER_DAEMONS",
    "CODER_PROVISIONER_DAEMON_PSK",
    "CODER_PROVISIONER_FORCE_CANCEL_INTERVAL",
    "CODER_TELEMETRY_ENABLE",
    "CODER_CACHE_DIRECTORY",
    "CODER_PROMETHEUS_ENABLE",
    "CODER_PROMETHEUS_ADDRESS",
    "CODER_PROMETHEUS_COLLECT_AGENT_STATS",
    "CODER_PROMETHEUS_AGGREGATE_AGENT_STATS_BY",
    "CODER_PROMETHEUS_COLLECT_DB_METRICS",
    "CODER_PPROF_ENABLE",
    "CODER_PPROF_ADDRESS",
    "CODER_MAX_TOKEN_LIFETIME",
    "CODER_MAX_ADMIN_TOKEN_LIFETIME",
    "CODER_DEFAULT_TOKEN_LIFETIME",
    "CODER_SESSION_DURATION",
    "CODER_DISABLE_SESSION_EXPIRY_REFRESH",
    "CODER_DISABLE_PASSWORD_AUTH",
    "CODER_UPDATE_CHECK",
    "CODER_SWAGGER_ENABLE",
    "CODER_PROXY_TRUSTED_HEADERS",
    "CODER_PROXY_TRUSTED_ORIGINS",
    "CODER_SECURE_AUTH_COOKIE",
    "CODER_DERP_SERVER_STUN_ADDRESSES",
    "CODER_BLOCK_DIRECT",
    "CODER_EXPERIMENTS",
    "CODER_LOGGING_HUMAN",
    "CODER_LOGGING_JSON",
    "CODER_LOG_FILTER",
    "CODER_HEALTH_CHECK_REFRESH",
    "CODER_HEALTH_CHECK_THRESHOLD_DATABASE",
    "CODER_CONFIG_PATH",
    "CODER_EXTERNAL_TOKEN_ENCRYPTION_KEYS",
})

# Names seen in the wild that Coder does not read, with the variable that was meant.
CODER_ENV_CORRECTIONS: Final[Mapping[str, str]] = {
    # Operator notes and third-party scripts use this; coder/coder never reads it.
    "CODER_PROVISIONER_PSK": "CODER_PROVISIONER_DAEMON_PSK",
    # Old compose files; current Coder reads CODER_HTTP_ADDRESS.
    "CODER_ADDRESS": "CODER_HTTP_ADDRESS",
    # The flag is --telemetry but the variable carries an _ENABLE suffix.
    "CODER_TELEMETRY": "CODER_TELEMETRY_ENABLE",
}

# Host addresses that make Docker (or a server) listen on every interface.
ALL_INTERFACES: Final = frozenset({"0.0.0.0", "::", "[::]", ""})

_SHA256_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_ENGINE_UNKNOWN_SENTINELS: Final = frozenset({
    UNKNOWN_BOOLEAN_VALUE, UNKNOWN_NUMBER_VALUE, UNKNOWN_STRING_VALUE, UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE, UNKNOWN_ARCHIVE_VALUE, UNKNOWN_OBJECT_VALUE,
})
# How the engine's wire format (and the Python SDK's mocks) mark a secret, an asset or an archive
# inside a plain dict: {SIG_KEY: <sig>, ...}.
_SECRET_SIG_KEY: Final = _policy_wire.SPECIAL_SIG_KEY
_SECRET_SIG: Final = _policy_wire.SPECIAL_SECRET_SIG
_ASSET_OR_ARCHIVE_SIGS: Final = frozenset({_policy_wire.SPECIAL_ASSET_SIG, _policy_wire.SPECIAL_ARCHIVE_SIG})


# --------------------------------------------------------------------------------------------------
# Reading property values that may be unknown, absent or wrapped as secrets
# --------------------------------------------------------------------------------------------------

class _Marker:
    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


UNKNOWN: Final = _Marker("UNKNOWN")
"""The value will only be known when the engine applies the resource (preview)."""
ABSENT: Final = _Marker("ABSENT")
"""The program did not set the property."""


def _is_unknown(value: Any) -> bool:
    return (value is None or isinstance(value, _MockUnknown)
            or (isinstance(value, str) and value in _ENGINE_UNKNOWN_SENTINELS))


def is_secret(value: Any) -> bool:
    """Whether ``value`` (as ``raw_lookup`` returns it) is marked secret: a ``pulumi_policy.Secret``
    (the analyzer, see ``from_wire``) or the wire/mock envelope ``{sig: secret, value: ...}``."""
    if isinstance(value, Secret):
        return True
    if isinstance(value, Mapping):
        try:
            return value.get(_SECRET_SIG_KEY) == _SECRET_SIG
        except UnknownValueError:
            return False
    return False


def known(value: Any) -> Any:
    """Returns ``value`` with secret wrappers removed, or ``UNKNOWN`` when it is not known yet."""
    if _is_unknown(value):
        return UNKNOWN
    if isinstance(value, Secret):
        return known(value.value)
    if is_secret(value):
        try:
            return known(value.get("value"))
        except UnknownValueError:
            return UNKNOWN
    return value


def raw_lookup(container: Any, key: Union[str, int]) -> Any:
    """``container[key]`` with its secret wrapper (if any) kept, or ``UNKNOWN`` / ``ABSENT``."""
    container = known(container)
    if container is UNKNOWN:
        return UNKNOWN
    try:
        value = container[key]
    except UnknownValueError:
        return UNKNOWN
    except (KeyError, IndexError, TypeError):
        return ABSENT
    return UNKNOWN if _is_unknown(value) else value


def lookup(container: Any, key: Union[str, int]) -> Any:
    """``container[key]`` as a known value, ``UNKNOWN`` or ``ABSENT``."""
    value = raw_lookup(container, key)
    return value if value is UNKNOWN or value is ABSENT else known(value)


def raw_items(sequence: Any) -> Iterator[Any]:
    """Each element of a list property as ``raw_lookup`` returns it (secret wrappers kept)."""
    sequence = known(sequence)
    if sequence is UNKNOWN or sequence is ABSENT or isinstance(sequence, (str, bytes)):
        return
    if not isinstance(sequence, Sequence):
        return
    for index in range(len(sequence)):
        yield raw_lookup(sequence, index)


def items(sequence: Any) -> Iterator[Any]:
    """Each element of a list property as a known value or ``UNKNOWN`` (never raises for unknowns)."""
    for item in raw_items(sequence):
        yield item if item is UNKNOWN else known(item)


# --------------------------------------------------------------------------------------------------
# Secret markers: what the engine sends, what the validators see
# --------------------------------------------------------------------------------------------------

def from_wire(props: Mapping[str, Any]) -> dict[str, Any]:
    """Properties as the engine sends them (JSON with ``{sig: secret, value: ...}`` envelopes) or as
    Pulumi's mocks record them, with each secret as ``Secret(value)``; assets and archives as
    pulumi_policy itself deserializes them; everything else unchanged (unknown sentinels too)."""
    return {key: _from_wire(value) for key, value in props.items()}


def _from_wire(value: Any) -> Any:
    if isinstance(value, list):
        return [_from_wire(item) for item in value]
    if isinstance(value, dict):
        signature = value.get(_SECRET_SIG_KEY)
        if signature == _SECRET_SIG:
            return Secret(_from_wire(value.get("value")))
        if signature in _ASSET_OR_ARCHIVE_SIGS:
            return _policy_wire._deserialize_property(value)
        return {key: _from_wire(item) for key, item in value.items()}
    return value


_LIBRARY_DESERIALIZE: Final[Callable[..., Any]] = _policy_wire.deserialize_properties


def _deserialize_keeping_secrets(props: dict[str, Any], proxy_secrets: bool = False) -> Any:
    """Drop-in for pulumi_policy's ``deserialize_properties`` that keeps secret markers."""
    if proxy_secrets:
        # Remediate asks for the library's write-preserving proxies; leave that path as it is.
        return _LIBRARY_DESERIALIZE(props, True)
    return from_wire(props)


def keep_secret_markers_in_analyzer() -> None:
    """Make the pack's analyzer hand validators secrets as ``Secret(value)`` (idempotent).

    pulumi_policy 1.21's analyzer calls ``deserialize_properties(props)`` without secret proxies for
    ``Analyze`` and ``AnalyzeStack``, which unwraps every secret; the no-secrets-in-plain-env policy
    needs to see which values are secret, so the analyzer module's reference is pointed at
    ``_deserialize_keeping_secrets``. Fails loudly if pulumi_policy no longer looks like 1.21, rather
    than let that policy misjudge every secret as plain text.
    """
    current = getattr(_policy_analyzer, "deserialize_properties", None)
    if current is _deserialize_keeping_secrets:
        return
    if current is not _LIBRARY_DESERIALIZE or not callable(getattr(_policy_wire, "_deserialize_property", None)):
        raise RuntimeError(
            "pulumi_policy's analyzer no longer deserializes properties the way policy/policies.py "
            "expects (checked against pulumi-policy 1.21.0); re-check how it presents secrets to "
            "validators before upgrading, or the no-secrets-in-plain-env policy cannot see secrets.")
    _policy_analyzer.deserialize_properties = _deserialize_keeping_secrets


keep_secret_markers_in_analyzer()


def label_value(props: Mapping[str, Any], wanted: str) -> Any:
    """Value of the label ``wanted``, ``UNKNOWN`` if any label is unknown, else ``ABSENT``."""
    labels = lookup(props, "labels")
    saw_unknown = labels is UNKNOWN
    for label in items(labels):
        name = lookup(label, "label")
        if name is UNKNOWN:
            saw_unknown = True
        elif name == wanted:
            return lookup(label, "value")
    return UNKNOWN if saw_unknown else ABSENT


def role_label(props: Mapping[str, Any]) -> Any:
    """Value of the ``egoengine.role`` label, ``UNKNOWN`` if any label is unknown, else ``ABSENT``."""
    return label_value(props, ROLE_LABEL)


@dataclass(frozen=True)
class EnvScan:
    """The names in a container's ``envs`` (values are kept, never printed)."""

    values: Mapping[str, str]
    unknown_entries: int
    malformed_entries: Sequence[int]


def scan_envs(props: Mapping[str, Any]) -> Any:
    """``EnvScan`` of the ``envs`` list, ``UNKNOWN`` if the list is unknown, ``ABSENT`` if unset."""
    envs = lookup(props, "envs")
    if envs is UNKNOWN or envs is ABSENT:
        return envs
    values: dict[str, str] = {}
    unknown_entries = 0
    malformed: list[int] = []
    for index, entry in enumerate(items(envs)):
        if entry is UNKNOWN:
            unknown_entries += 1
        elif isinstance(entry, str) and "=" in entry:
            name, _, value = entry.partition("=")
            values[name] = value
        else:
            malformed.append(index)
    return EnvScan(values, unknown_entries, tuple(malformed))


def _is_coder_server(props: Mapping[str, Any]) -> bool:
    return role_label(props) == CODER_SERVER_ROLE


# --------------------------------------------------------------------------------------------------
# Image pinning
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ImageReference:
    """A parsed image reference ``repository[:tag][@digest]``."""

    repository: str
    tag: Optional[str]
    digest: Optional[str]

    @classmethod
    def parse(cls, reference: str) -> "ImageReference":
        name, _, digest = reference.partition("@")
        # A ':' after the last '/' separates the tag; one before it is a registry port.
        last_slash = name.rfind("/")
        last_colon = name.rfind(":")
        if last_colon > last_slash:
            repository, tag = name[:last_colon], name[last_colon + 1:]
        else:
            repository, tag = name, None
        return cls(repository, tag or None, digest or None)


def is_image_digest(image: str) -> bool:
    """True for an image id ``sha256:<64 hex>`` or a ``repo@sha256:<64 hex>`` reference."""
    if _SHA256_DIGEST.fullmatch(image):
        return True
    digest = ImageReference.parse(image).digest
    return digest is not None and _SHA256_DIGEST.fullmatch(digest) is not None


def validate_remote_image_pinned(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """A RemoteImage names a readable version tag (not ``latest``) and a ``@sha256:`` digest."""
    if args.resource_type != REMOTE_IMAGE:
        return
    name = lookup(args.props, "name")
    if name is UNKNOWN or not isinstance(name, str):
        return
    reference = ImageReference.parse(name)
    expected = f"'{reference.repository}:<version>@sha256:<64 hex digest>'"
    if reference.tag is None:
        report_violation(
            f"RemoteImage '{args.name}' name '{name}' has no tag; name it {expected} so the version is "
            "readable and the content is fixed.", None)
    elif reference.tag == "latest":
        report_violation(
            f"RemoteImage '{args.name}' uses the moving tag 'latest'; pin a release tag and its digest: {expected}.",
            None)
    if reference.digest is None:
        report_violation(
            f"RemoteImage '{args.name}' name '{name}' has no digest, so the tag can be re-pointed upstream; "
            f"append the digest: {expected} (skopeo inspect docker://<ref> prints it).", None)
    elif _SHA256_DIGEST.fullmatch(reference.digest) is None:
        report_violation(
            f"RemoteImage '{args.name}' digest '{reference.digest}' is not 'sha256:' followed by 64 lowercase "
            "hex digits; copy the full digest.", None)


def validate_container_image_digest(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """A container runs an image by id or digest, never by tag."""
    if args.resource_type != CONTAINER:
        return
    image = lookup(args.props, "image")
    if image is UNKNOWN or image is ABSENT:
        return
    if not isinstance(image, str) or not is_image_digest(image):
        report_violation(
            f"Container '{args.name}' image '{image}' is a tag, which can change under the container; "
            "set image to the pinned RemoteImage's image_id ('sha256:...') or repo_digest ('repo@sha256:...').",
            None)


# --------------------------------------------------------------------------------------------------
# Network exposure
# --------------------------------------------------------------------------------------------------

def _allows_public_bind(args: ResourceValidationArgs) -> bool:
    return bool(args.get_config().get(ALLOW_PUBLIC_BIND_KEY, False))


def _listens_on_all_interfaces(address: str) -> bool:
    """For ``host:port`` (``[v6]:port`` too), whether the host part means every interface."""
    host = address.rpartition(":")[0] if ":" in address else address
    return host in ALL_INTERFACES


def _port_label(port: Any) -> str:
    """'7080/tcp' for messages; '?' stands for a port number not known yet."""
    internal, protocol = lookup(port, "internal"), lookup(port, "protocol")
    if internal is UNKNOWN or internal is ABSENT:
        number = "?"
    else:
        # The engine hands numbers over as floats (7080.0); a port is a whole number.
        number = str(int(internal)) if isinstance(internal, float) and internal.is_integer() else str(internal)
    return f"{number}/{protocol if isinstance(protocol, str) else 'tcp'}"


def validate_ports_loopback(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """No container publishes a host port on every interface unless ``allowPublicBind`` is set."""
    if args.resource_type != CONTAINER or _allows_public_bind(args):
        return
    hint = (f"set ip to '127.0.0.1' and reach it through a reverse proxy or SSH tunnel, or set the policy "
            f"config {ALLOW_PUBLIC_BIND_KEY}: true if public exposure is intended")
    for port in items(lookup(args.props, "ports")):
        if port is UNKNOWN:
            continue
        label = _port_label(port)
        ip = lookup(port, "ip")
        if ip is UNKNOWN:
            continue
        if ip is ABSENT:
            report_violation(
                f"Container '{args.name}' publishes port {label} without an ip, so Docker binds it on all "
                f"interfaces; {hint}.", None)
        elif isinstance(ip, str) and ip.strip() in ALL_INTERFACES:
            report_violation(
                f"Container '{args.name}' publishes port {label} on all interfaces (ip '{ip}'); {hint}.", None)

    # With host networking Docker publishes nothing; what Coder listens on decides the exposure.
    if lookup(args.props, "networkMode") == "host":
        envs = scan_envs(args.props)
        if isinstance(envs, EnvScan):
            address = envs.values.get("CODER_HTTP_ADDRESS")
            if address is not None and _listens_on_all_interfaces(address.strip()):
                report_violation(
                    f"Container '{args.name}' uses host networking and CODER_HTTP_ADDRESS listens on all "
                    f"interfaces; set CODER_HTTP_ADDRESS to '127.0.0.1:<port>', or set the policy config "
                    f"{ALLOW_PUBLIC_BIND_KEY}: true if public exposure is intended.", None)


# --------------------------------------------------------------------------------------------------
# Data protection
# --------------------------------------------------------------------------------------------------
# pulumi_policy 1.21's PolicyResourceOptions (and the analyzer protocol under it) carries `protect` but
# not `retain_on_delete`, so only `protect` can be enforced here; the program must set both.

def validate_postgres_volume_protected(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """The PostgreSQL data volume is protected from deletion."""
    if args.resource_type != VOLUME or role_label(args.props) != POSTGRES_DATA_ROLE:
        return
    if not args.opts.protect:
        report_violation(
            f"PostgreSQL data volume '{args.name}' is not protected, so a destroy or a replacement deletes the "
            "database files; create it with ResourceOptions(protect=True, retain_on_delete=True).", None)


def validate_database_protected(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """The Coder database (declared, or adopted) is protected from deletion."""
    if args.resource_type not in (DATABASE, ADOPTED_DATABASE):
        return
    if not args.opts.protect:
        report_violation(
            f"PostgreSQL database '{args.name}' is not protected, so a destroy or a rename drops it with all "
            "Coder data; create it with ResourceOptions(protect=True, retain_on_delete=True).", None)


# --------------------------------------------------------------------------------------------------
# Database role
# --------------------------------------------------------------------------------------------------

def validate_role_not_superuser(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """The database role the program creates is not a superuser."""
    if args.resource_type != ROLE:
        return
    superuser = lookup(args.props, "superuser")
    if superuser is UNKNOWN or superuser is ABSENT:
        return
    if superuser:
        report_violation(
            f"PostgreSQL role '{args.name}' is a superuser; Coder needs only to own its database: set "
            "superuser=False and grant it ownership of the Coder database instead.", None)


def validate_role_can_login(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """The database role can log in (the provider's default is NOLOGIN, which locks Coder out)."""
    if args.resource_type != ROLE:
        return
    login = lookup(args.props, "login")
    if login is UNKNOWN:
        return
    if login is ABSENT or not login:
        report_violation(
            f"PostgreSQL role '{args.name}' cannot log in (login is not true), so Coder cannot connect with it; "
            "set login=True.", None)


# --------------------------------------------------------------------------------------------------
# Command hygiene
# --------------------------------------------------------------------------------------------------

_SECRET_COMMAND_OUTPUTS: Final = ("stdout", "stderr")


def _non_empty(value: Any) -> bool:
    """Set to something: unknown counts, since the program set it and it will carry a value."""
    if value is ABSENT:
        return False
    if value is UNKNOWN:
        return True
    return bool(value)


def validate_command_logging(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """A command that receives an environment or stdin does not log its output."""
    if args.resource_type != COMMAND:
        return
    inputs = [name for name in ("environment", "stdin") if _non_empty(lookup(args.props, name))]
    if not inputs:
        return
    logging = lookup(args.props, "logging")
    if logging is UNKNOWN or logging == "none":
        return
    shown = "the default (stdout and stderr)" if logging is ABSENT else f"'{logging}'"
    report_violation(
        f"Command '{args.name}' receives {' and '.join(inputs)} but logging is {shown}, so anything it echoes "
        "lands in the Pulumi log; set logging='none'.", None)


def validate_command_secret_outputs(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """A command's stdout and stderr are stored as secrets in the state."""
    if args.resource_type != COMMAND:
        return
    declared = set(args.opts.additional_secret_outputs or ())
    missing = [name for name in _SECRET_COMMAND_OUTPUTS if name not in declared]
    if missing:
        report_violation(
            f"Command '{args.name}' stores {' and '.join(missing)} in plain text in the state; add "
            "ResourceOptions(additional_secret_outputs=['stdout', 'stderr']).", None)


# --------------------------------------------------------------------------------------------------
# Secrets in environments
# --------------------------------------------------------------------------------------------------
# A secret is safe when it is marked secret where it sits: the whole envs list / environment map, or
# the one entry / value that holds it (the state encrypts either). Unknown values are not judged.

def _is_plain(value: Any) -> bool:
    """Known to be there and not marked secret (``value`` as ``raw_lookup`` returns it)."""
    return value is not UNKNOWN and value is not ABSENT and not is_secret(value)


def looks_secret(name: str) -> bool:
    upper = name.upper()
    return any(part in upper for part in SECRET_NAME_PARTS)


def validate_container_env_secret(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """The Coder and PostgreSQL containers carry their credential variables as secrets."""
    if args.resource_type != CONTAINER:
        return
    role = role_label(args.props)
    secret_names = SECRET_CONTAINER_ENV.get(role) if isinstance(role, str) else None
    envs = raw_lookup(args.props, "envs")
    if not secret_names or not _is_plain(envs):
        return
    plain: set[str] = set()
    for entry in raw_items(envs):
        if not _is_plain(entry):
            continue
        text = known(entry)
        name = text.partition("=")[0] if isinstance(text, str) else None
        if name in secret_names:
            plain.add(name)
    if plain:
        report_violation(
            f"Container '{args.name}' ({ROLE_LABEL}={role}) sets {', '.join(sorted(plain))} in envs in plain "
            "text, so the value is stored unencrypted in the state and shown in diffs; pass envs as a secret "
            "(build the list with pulumi.Output.secret, or from secret Outputs).", None)


def validate_command_env_secret(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """A command's environment variables with a secret-looking name are secrets."""
    if args.resource_type != COMMAND:
        return
    environment = raw_lookup(args.props, "environment")
    if not _is_plain(environment):
        return
    variables = known(environment)
    if not isinstance(variables, Mapping):
        return
    plain = sorted(name for name in variables
                   if looks_secret(str(name)) and _is_plain(raw_lookup(variables, name)))
    if plain:
        report_violation(
            f"Command '{args.name}' passes {', '.join(plain)} in environment in plain text, so the value is "
            "stored unencrypted in the state and shown in diffs; wrap the value (or the whole environment) in "
            "pulumi.Output.secret.", None)


# --------------------------------------------------------------------------------------------------
# Child images
# --------------------------------------------------------------------------------------------------

def validate_image_builds_use_helper(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """A command that builds or pushes an image does it through ``tools.build_image``."""
    if args.resource_type != COMMAND:
        return
    for name in _COMMAND_RUN_INPUTS:
        script = lookup(args.props, name)
        if not isinstance(script, str):
            continue
        build = _IMAGE_BUILD_OR_PUSH.search(script)
        if build is None or _BUILD_HELPER.search(script):
            continue
        # Only the matched words are quoted: the rest of the command line may carry anything.
        step = " ".join(build.group(0).split())
        report_violation(
            f"Command '{args.name}' runs `{step}` in {name} without the project's helper, so nothing checks "
            "that the child image keeps the base's User, Env, Cmd, Entrypoint and WorkingDir; build and push "
            f"it with `python {_BUILD_HELPER_ARGUMENT} ...` (components/images.py builds that command).", None)


# --------------------------------------------------------------------------------------------------
# Restart after a reboot
# --------------------------------------------------------------------------------------------------

def validate_restart_always_on_podman(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """A container restarts after a reboot: policy ``always`` unless its engine label says Docker.

    Podman has no daemon; after a reboot only podman-restart.service starts containers, and only those
    whose restart policy is ``always``. A container whose engine is not known to be Docker (label
    missing, ``podman`` or ``unknown``) is held to that rule.
    """
    if args.resource_type != CONTAINER:
        return
    engine = label_value(args.props, ENGINE_LABEL)
    restart = lookup(args.props, "restart")
    if engine is UNKNOWN or restart is UNKNOWN or engine == DOCKER_ENGINE:
        return
    policy = "no" if restart is ABSENT else restart  # the provider's default
    if policy != RESTART_ALWAYS:
        shown = engine if isinstance(engine, str) else "not labelled"
        report_violation(
            f"Container '{args.name}' has restart policy '{policy}' on engine {shown} ({ENGINE_LABEL}); "
            "Podman restarts only 'always' containers after a reboot (podman-restart.service): set "
            "restart='always' (egoengine:coder.restart for the Coder server).", None)


# Coder server container
# --------------------------------------------------------------------------------------------------

def validate_coder_readiness(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """The Coder container has a healthcheck, waits for it, and sets CODER_ACCESS_URL."""
    if args.resource_type != CONTAINER or not _is_coder_server(args.props):
        return
    healthcheck = lookup(args.props, "healthcheck")
    if healthcheck is ABSENT:
        report_violation(
            f"Coder container '{args.name}' has no healthcheck, so dependants cannot wait for a ready server; "
            "add a healthcheck that probes /healthz (e.g. tests=['CMD', 'curl', '-fsS', "
            "'http://127.0.0.1:7080/healthz']).", None)
    elif healthcheck is not UNKNOWN:
        tests = lookup(healthcheck, "tests")
        test_items = list(items(tests))
        if tests is ABSENT or (tests is not UNKNOWN and (not test_items or test_items[0] == "NONE")):
            report_violation(
                f"Coder container '{args.name}' healthcheck has no test command; set healthcheck.tests to a probe "
                "of /healthz.", None)

    wait = lookup(args.props, "wait")
    if wait is not UNKNOWN and wait is not True:
        report_violation(
            f"Coder container '{args.name}' does not wait for its healthcheck (wait is not true), so template "
            "pushes can race a starting server; set wait=True.", None)

    envs = scan_envs(args.props)
    if envs is UNKNOWN:
        return
    if envs is ABSENT or (envs.unknown_entries == 0 and not envs.values.get("CODER_ACCESS_URL", "").strip()):
        report_violation(
            f"Coder container '{args.name}' does not set CODER_ACCESS_URL; without it Coder opens a public "
            "tunnel. Add CODER_ACCESS_URL=<the URL users open> to envs.", None)


def validate_coder_env_known(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Every CODER_* variable on the Coder container is one that ``coder server`` reads."""
    if args.resource_type != CONTAINER or not _is_coder_server(args.props):
        return
    envs = scan_envs(args.props)
    if not isinstance(envs, EnvScan):
        return
    for index in envs.malformed_entries:
        report_violation(
            f"Coder container '{args.name}' envs entry #{index} is not 'NAME=value'; write it as NAME=value.",
            None)
    for name in sorted(envs.values):
        if not name.startswith("CODER_") or name in KNOWN_CODER_SERVER_ENV:
            continue
        meant = CODER_ENV_CORRECTIONS.get(name) or next(
            iter(difflib.get_close_matches(name, KNOWN_CODER_SERVER_ENV, n=1, cutoff=0.8)), None)
        hint = f"use {meant}" if meant else "remove it or use a variable from `coder server --help`"
        report_violation(
            f"Coder container '{args.name}' sets {name}, which Coder does not read (it is silently ignored); "
            f"{hint}.", None)


DOCKER_PROVIDER: Final = "pulumi:providers:docker"
HOST_IMAGES_COMPONENT: Final = "egoengine:hosts:HostImages"
"""The component (components/workspace_hosts.py) whose docker provider reaches one workspace host."""


def _ssh_flags(options: Sequence[Any]) -> dict[str, str]:
    """``-o Key=value`` pairs of an ssh option list, keys lower-cased as ssh treats them."""
    flags: dict[str, str] = {}
    for flag, value in zip(options, options[1:]):
        if flag == "-o" and isinstance(value, str) and "=" in value:
            key, _, setting = value.partition("=")
            flags.setdefault(key.strip().lower(), setting.strip())
    return flags


def validate_host_provider_pinned(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Each workspace host's docker provider uses ssh:// and trusts only a pinned host key."""
    if args.resource_type != DOCKER_PROVIDER or f"{HOST_IMAGES_COMPONENT}$" not in args.urn:
        return
    host = lookup(args.props, "host")
    if host is UNKNOWN:
        return
    if not isinstance(host, str) or not host.startswith("ssh://"):
        report_violation(
            f"Workspace host provider '{args.name}' does not use an ssh:// host; egoengine:hosts entries are "
            "reached over ssh:// with a pinned host key.", None)
        return
    raw_options = lookup(args.props, "sshOpts")
    if isinstance(raw_options, str):
        # Provider inputs that are not strings reach the engine JSON-encoded.
        try:
            raw_options = json.loads(raw_options)
        except ValueError:
            raw_options = []
    options = list(items(raw_options))
    if raw_options is UNKNOWN or any(option is UNKNOWN for option in options):
        return
    flags = _ssh_flags(options)
    known_hosts_file = flags.get("userknownhostsfile", "")
    if flags.get("stricthostkeychecking") != "yes" or known_hosts_file in ("", "/dev/null"):
        report_violation(
            f"Workspace host provider '{args.name}' must pin the host key: sshOpts need "
            "StrictHostKeyChecking=yes and a UserKnownHostsFile built from egoengine:hosts hostKey "
            "(never /dev/null, no, or accept-new).", None)


def validate_single_coder_server(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """The stack has exactly one Coder server container."""
    servers: list[PolicyResource] = []
    undecided = 0
    for resource in args.resources:
        if resource.resource_type != CONTAINER:
            continue
        role = role_label(resource.props)
        if role == CODER_SERVER_ROLE:
            servers.append(resource)
        elif role is UNKNOWN:
            undecided += 1
    if len(servers) > 1:
        for server in servers:
            report_violation(
                f"Container '{server.name}' is one of {len(servers)} containers labelled "
                f"{ROLE_LABEL}={CODER_SERVER_ROLE}; a stack runs exactly one Coder server: remove the extra "
                "ones or give them another role.", server.urn)
    elif not servers and undecided == 0:
        report_violation(
            f"The stack has no container labelled {ROLE_LABEL}={CODER_SERVER_ROLE}; the Coder server container "
            "must carry that label (and exist exactly once).", None)


# --------------------------------------------------------------------------------------------------
# Policy objects
# --------------------------------------------------------------------------------------------------

images_pinned = ResourceValidationPolicy(
    name="images-pinned",
    description="Images are pinned: RemoteImage names carry a version tag and a sha256 digest; containers "
                "run an image id or digest, never a tag.",
    validate=[validate_remote_image_pinned, validate_container_image_digest],
    severity=Severity.HIGH,
)

ports_loopback = ResourceValidationPolicy(
    name="ports-loopback-only",
    description="Containers publish host ports on loopback only (ip 127.0.0.1) unless allowPublicBind is set.",
    validate=validate_ports_loopback,
    config_schema=PolicyConfigSchema(properties={
        ALLOW_PUBLIC_BIND_KEY: {
            "type": "boolean",
            "default": False,
            "description": "Allow ports bound on all interfaces (0.0.0.0, ::, or no ip).",
        },
    }),
    severity=Severity.HIGH,
)

postgres_data_protected = ResourceValidationPolicy(
    name="postgres-data-protected",
    description="The PostgreSQL data volume and the Coder database are protected from deletion.",
    validate=[validate_postgres_volume_protected, validate_database_protected],
    severity=Severity.CRITICAL,
)

database_role_least_privilege = ResourceValidationPolicy(
    name="database-role-least-privilege",
    description="The PostgreSQL role is a login role and not a superuser.",
    validate=[validate_role_not_superuser, validate_role_can_login],
    severity=Severity.HIGH,
)

command_hygiene = ResourceValidationPolicy(
    name="command-hygiene",
    description="Local commands that receive an environment or stdin log nothing, and their stdout/stderr "
                "are secret outputs.",
    validate=[validate_command_logging, validate_command_secret_outputs],
    severity=Severity.HIGH,
)

coder_server_ready = ResourceValidationPolicy(
    name="coder-server-ready",
    description="The Coder container has a healthcheck, waits for it, and sets CODER_ACCESS_URL.",
    validate=validate_coder_readiness,
    severity=Severity.MEDIUM,
)

coder_env_known = ResourceValidationPolicy(
    name="coder-env-known",
    description="Every CODER_* variable on the Coder container is one that `coder server` reads.",
    validate=validate_coder_env_known,
    severity=Severity.MEDIUM,
)

no_secrets_in_plain_env = ResourceValidationPolicy(
    name="no-secrets-in-plain-env",
    description="Credentials in environments are secrets: the Coder container's database URL and "
                "provisioner PSK, PostgreSQL's POSTGRES_PASSWORD, and command variables named like "
                "*PASSWORD*, *TOKEN*, *SECRET*, *PSK* or *KEY*.",
    validate=[validate_container_env_secret, validate_command_env_secret],
    severity=Severity.HIGH,
)

child_config_inheritance = ResourceValidationPolicy(
    name="child-config-inheritance",
    description="Commands build and push images only through tools.build_image, which checks that the child "
                "image keeps the base's User, Env, Cmd, Entrypoint and WorkingDir.",
    validate=validate_image_builds_use_helper,
    severity=Severity.HIGH,
)

restart_always_on_podman = ResourceValidationPolicy(
    name="restart-always-on-podman",
    description="Containers on an engine not known to be Docker have restart policy 'always', the only one "
                "Podman's podman-restart.service restarts after a reboot.",
    validate=validate_restart_always_on_podman,
    severity=Severity.HIGH,
)

host_providers_pinned = ResourceValidationPolicy(
    name="host-providers-pinned",
    description="Every workspace host's docker provider uses ssh:// with StrictHostKeyChecking=yes against "
                "a known_hosts of the pinned host keys.",
    validate=validate_host_provider_pinned,
    severity=Severity.HIGH,
)

single_coder_server = StackValidationPolicy(
    name="single-coder-server",
    description=f"The stack has exactly one container labelled {ROLE_LABEL}={CODER_SERVER_ROLE}.",
    validate=validate_single_coder_server,
    severity=Severity.MEDIUM,
)

RESOURCE_POLICIES: Final[tuple[ResourceValidationPolicy, ...]] = (
    images_pinned,
    ports_loopback,
    postgres_data_protected,
    database_role_least_privilege,
    command_hygiene,
    coder_server_ready,
    coder_env_known,
    no_secrets_in_plain_env,
    child_config_inheritance,
    restart_always_on_podman,
    host_providers_pinned,
)
STACK_POLICIES: Final[tuple[StackValidationPolicy, ...]] = (single_coder_server,)
ALL_POLICIES: Final[tuple[Policy, ...]] = (*RESOURCE_POLICIES, *STACK_POLICIES)
DEFAULT_ENFORCEMENT: Final = EnforcementLevel.MANDATORY


# --------------------------------------------------------------------------------------------------
# Running the policies without the engine (tests, offline plan tool)
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Violation:
    """One finding: which policy, which resource (URN, when known) and the message."""

    policy: str
    message: str
    urn: Optional[str]


PolicyConfig = Mapping[str, Mapping[str, Any]]
"""Policy pack config as the CLI passes it: policy name -> that policy's settings."""


def _collector(policy: Policy, found: list[Violation], default_urn: Optional[str]) -> ReportViolation:
    def report(message: str, urn: Optional[str] = None) -> None:
        found.append(Violation(policy.name, message, urn or default_urn))
    return report


def _validate(policy: Union[ResourceValidationPolicy, StackValidationPolicy],
              args: Union[ResourceValidationArgs, StackValidationArgs], report: ReportViolation) -> None:
    # Like the engine: a value the validator could not read yet means "cannot judge during preview".
    try:
        policy.validate(args, report)  # type: ignore[arg-type]
    except UnknownValueError:
        pass


def check_resource(resource_type: str, props: Mapping[str, Any], urn: str, name: str,
                   opts: PolicyResourceOptions, config: Optional[PolicyConfig] = None) -> list[Violation]:
    """Runs every resource policy on one resource, as the engine would (unknown values skip a policy)."""
    found: list[Violation] = []
    for policy in RESOURCE_POLICIES:
        args = ResourceValidationArgs(resource_type, props, urn, name, opts, None,
                                      dict((config or {}).get(policy.name, {})))
        _validate(policy, args, _collector(policy, found, urn))
    return found


def check_stack(resources: Sequence[PolicyResource], config: Optional[PolicyConfig] = None) -> list[Violation]:
    """Runs every stack policy on the whole stack."""
    found: list[Violation] = []
    for policy in STACK_POLICIES:
        args = StackValidationArgs(list(resources), dict((config or {}).get(policy.name, {})))
        _validate(policy, args, _collector(policy, found, None))
    return found
