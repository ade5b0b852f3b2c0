"""An engine-like mocked Pulumi engine: runs the program without the Pulumi CLI.

Pulumi's stock mock monitor hides resource options and ignores ``additional_secret_outputs``.
This one records every registration with its options (``protect``, ``retain_on_delete``,
``delete_before_replace``, ``depends_on``, ...), applies ``additional_secret_outputs`` as the engine
does, and in preview leaves computed outputs unknown, so tests and the offline plan see what the
engine would see. Providers, 1Password and registry look-ups are stubbed by ``Stubs``.

One implementation, shared by the unit tests and ``tools.plan``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import shlex
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import pulumi
from pulumi.runtime import mocks, rpc, settings as runtime_settings
from pulumi.runtime.proto import resource_pb2
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

PROJECT = "egoengine"
PROJECT_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY, SECRET_SIG = rpc._special_sig_key, rpc._special_secret_sig


def is_secret_value(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SECRET_KEY) == SECRET_SIG


def plaintext_strings(value: Any) -> Iterator[str]:
    """Every string in ``value`` that is NOT inside a secret wrapper (what state would show)."""
    if is_secret_value(value):
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from plaintext_strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from plaintext_strings(item)


def unwrap(value: Any) -> Any:
    """``value`` with secret wrappers removed (for assertions on the plaintext)."""
    if is_secret_value(value):
        return unwrap(value["value"])
    if isinstance(value, dict):
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


# --- stubs ---------------------------------------------------------------------------------------


def _digest_of(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def default_command_stdout(inputs: dict[str, Any]) -> str:
    """What the project's helpers print: ``tools.build_image`` one JSON line with the pushed ref."""
    argv = shlex.split(str(inputs.get("create", "")))
    if "tools.build_image" not in argv:
        return ""
    repo, tag = argv[argv.index("--repo") + 1], argv[argv.index("--tag") + 1]
    digest = _digest_of(f"{repo}:{tag}")
    return json.dumps({"ref": f"{repo}:{tag}@{digest}", "tag": tag, "digest": digest}) + "\n"


def openssh_private_key(body: str) -> str:
    """A stand-in OpenSSH private key block around ``body`` (what pulumi-tls returns, in shape)."""
    return f"-----BEGIN OPENSSH PRIVATE KEY-----\n{body}\n-----END OPENSSH PRIVATE KEY-----\n"


def fake_public_key(private_key: str) -> str:
    """A well-formed ``ssh-ed25519`` line derived from the private key's bytes (not from its text)."""
    blob = struct.pack(">I", 11) + b"ssh-ed25519" + struct.pack(">I", 32)
    blob += hashlib.sha256(private_key.encode()).digest()
    return f"ssh-ed25519 {base64.b64encode(blob).decode()}\n"


@dataclass
class Stubs:
    """What the outside world answers: 1Password items, registry digests, generated values."""

    onepassword_items: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    """(vault name, item title) -> getItem result (camelCase keys)."""
    unreadable_items: set[tuple[str, str]] = field(default_factory=set)
    registry_digests: dict[str, str] = field(default_factory=dict)
    """image name -> sha256 digest for ``docker.get_registry_image``."""
    generated: Callable[[str, int], str] = lambda name, length: hashlib.sha256(
        name.encode()
    ).hexdigest()[:length]
    command_stdout: Callable[[str, dict[str, Any]], str] = lambda name, inputs: default_command_stdout(inputs)

    def new_outputs(self, typ: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
        """Computed outputs a real provider would return after a create."""
        if typ == "docker:index/remoteImage:RemoteImage":
            image = str(inputs.get("name", ""))
            digest = image.split("@", 1)[1] if "@" in image else _digest_of(image)
            return {"imageId": _digest_of(image), "repoDigest": f"{image.split(':')[0]}@{digest}"}
        if typ == "random:index/randomPassword:RandomPassword":
            value = self.generated(name, int(inputs.get("length", 16)))
            return {"result": value, "bcryptHash": "$2a$10$" + hashlib.sha256(value.encode()).hexdigest()}
        if typ == "tls:index/privateKey:PrivateKey":
            private = openssh_private_key(self.generated(name, 64))
            return {"privateKeyOpenssh": private, "publicKeyOpenssh": fake_public_key(private)}
        if typ == "command:local:Command":
            return {"stdout": self.command_stdout(name, unwrap(inputs)), "stderr": ""}
        if typ.startswith("pulumi-python:dynamic/coder:Admin"):
            return {
                "user_id": f"user-{name}",
                "organization_id": "org-default",
                "token": self.generated(f"{name}-token", 40),
            }
        if typ.startswith("pulumi-python:dynamic/coder:Template"):
            digest = str(unwrap(inputs).get("content_hash", ""))
            return {"template_id": f"template-{name}", "active_version_id": f"version-{digest[-12:]}"}
        return {}

    def call(self, token: str, args: dict[str, Any]) -> dict[str, Any]:
        if token == "onepassword:index/getVault:getVault":
            name = args["name"]
            return {"uuid": f"vault-{name}", "name": name, "description": ""}
        if token == "onepassword:index/getItem:getItem":
            key = (str(args["vault"]).removeprefix("vault-"), args["title"])
            if key in self.unreadable_items or key not in self.onepassword_items:
                raise RuntimeError(f"item {key[1]!r} not found or not accessible")
            return {"vault": args["vault"], "title": args["title"], "uuid": f"item-{key[1]}", **self.onepassword_items[key]}
        if token == "tls:index/getPublicKey:getPublicKey":
            return {"publicKeyOpenssh": fake_public_key(str(args.get("privateKeyOpenssh", "")))}
        if token == "docker:index/getRegistryImage:getRegistryImage":
            name = args["name"]
            return {"name": name, "sha256Digest": self.registry_digests.get(name, _digest_of(name))}
        raise NotImplementedError(f"no stub for invoke {token}")


# --- the engine-like monitor ---------------------------------------------------------------------


class Registration(NamedTuple):
    urn: str
    type: str
    name: str
    custom: bool
    parent: str
    provider: str
    inputs: dict[str, Any]
    """Inputs as the engine receives them (secret values stay wrapped)."""
    outputs: dict[str, Any]
    protect: bool
    retain_on_delete: bool
    delete_before_replace: bool
    dependencies: list[str]
    property_dependencies: dict[str, list[str]]
    additional_secret_outputs: list[str]
    ignore_changes: list[str]
    replace_on_changes: list[str]


class _Mocks(pulumi.runtime.Mocks):
    def __init__(self, stubs: Stubs, preview: bool) -> None:
        self.stubs, self.preview = stubs, preview

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        outputs = dict(args.inputs)
        if args.typ.startswith("pulumi:providers:"):
            return f"{args.name}-provider-id", outputs
        if self.preview:
            # A resource to be created: the engine knows its inputs, not its computed outputs.
            return "", outputs
        outputs.update(self.stubs.new_outputs(args.typ, args.name, args.inputs))
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list[tuple[str, str]] | None]:
        return self.stubs.call(args.token, dict(args.args)), []


class EngineLikeMonitor(mocks.MockMonitor):
    def __init__(self, mocks_: _Mocks) -> None:
        super().__init__(mocks_)
        self.registrations: dict[str, Registration] = {}
        self.invokes: list[tuple[str, dict[str, Any]]] = []

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            return response
        state = rpc.deserialize_properties(response.object) if request.custom else {}
        made_secret = [
            key
            for key in request.additionalSecretOutputs
            if key in state and not is_secret_value(state[key])
        ]
        for key in made_secret:
            state[key] = rpc.wrap_rpc_secret(state[key])
        self.registrations[response.urn] = Registration(
            urn=response.urn,
            type=request.type,
            name=request.name,
            custom=bool(request.custom),
            parent=request.parent,
            provider=request.provider,
            inputs=rpc.deserialize_properties(request.object, keep_unknowns=True),
            outputs=state,
            protect=bool(request.protect),
            retain_on_delete=bool(request.retainOnDelete),
            delete_before_replace=bool(request.deleteBeforeReplace),
            dependencies=sorted(request.dependencies),
            property_dependencies={
                key: sorted(deps.urns) for key, deps in request.propertyDependencies.items()
            },
            additional_secret_outputs=list(request.additionalSecretOutputs),
            ignore_changes=list(request.ignoreChanges),
            replace_on_changes=list(request.replaceOnChanges),
        )
        if not request.custom:
            return response
        self.resources[response.urn] = mocks.MockMonitor.ResourceRegistration(
            response.urn, response.id, state
        )
        if not made_secret:  # the stock monitor's response already carries exactly this state
            return response
        return resource_pb2.RegisterResourceResponse(
            urn=response.urn,
            id=response.id,
            object=_sync_await(rpc.serialize_properties(state, {})),
        )

    def Invoke(self, request: Any) -> Any:
        self.invokes.append((request.tok, rpc.deserialize_properties(request.args)))
        return super().Invoke(request)


# --- running a program ---------------------------------------------------------------------------


class ProgramFailed(Exception):
    """The program failed on a non-RunError (e.g. a failed invoke); carries the logged errors."""

    def __init__(self, message: str, errors: list[str]) -> None:
        super().__init__(message)
        self.errors = errors


class _LogRecorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class OutputValue(NamedTuple):
    value: Any
    secret: bool
    known: bool


class EngineRun(NamedTuple):
    stack: str
    preview: bool
    registrations: dict[str, Registration]
    invokes: list[tuple[str, dict[str, Any]]]
    outputs: dict[str, OutputValue]
    logs: list[tuple[str, str]]
    """(level, message) of every engine log line at info or above (the SDK's own debug lines are dropped)."""

    def by_type(self, typ: str) -> list[Registration]:
        return [r for r in self.registrations.values() if r.type == typ]

    def one(self, typ: str, name_suffix: str = "") -> Registration:
        found = [r for r in self.by_type(typ) if r.name.endswith(name_suffix)]
        if len(found) != 1:
            raise AssertionError(f"expected one {typ} named *{name_suffix}, found {[r.name for r in found]}")
        return found[0]

    def named(self, name: str) -> Registration:
        return next(r for r in self.registrations.values() if r.name == name)


def _config_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def load_stack_config(
    stack: str, placeholder: Callable[[str], str] = lambda key: f"[secret {key}]"
) -> tuple[dict[str, str], list[str]]:
    """A stack file's config as ``set_all_config`` wants it; ``secure:`` values -> placeholders."""
    path = PROJECT_DIR / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"no stack file {path.name} in {PROJECT_DIR}")
    # The program's own strict reader: YAML errors and duplicate keys fail as ConfigError here too.
    from components.settings import stack_file

    config: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, value in stack_file.read(path).config.items():
        if isinstance(value, dict) and set(value) == {"secure"}:
            config[key] = placeholder(key)
            secret_keys.append(key)
        else:
            config[key] = _config_value(value)
    return config, secret_keys


def run(
    program: Callable[[], dict[str, pulumi.Output]],
    *,
    stack: str,
    config: dict[str, str],
    secret_keys: list[str] | None = None,
    preview: bool = False,
    stubs: Stubs | None = None,
) -> EngineRun:
    """Run ``program`` on the mocked engine and return everything it registered."""
    stubs = stubs or Stubs()
    monitor = EngineLikeMonitor(_Mocks(stubs, preview))
    recorder = _LogRecorder()
    logger = logging.getLogger(f"egoengine.mock_engine.{id(recorder)}")
    logger.propagate = False
    # INFO, not DEBUG: the SDK logs a debug line for every registration, output and invoke, and
    # recording each (logging looks up the caller per record) cost about 1 ms per run (9M
    # instructions); the program writes no debug lines and nothing reads them.
    logger.setLevel(logging.INFO)
    logger.addHandler(recorder)
    runtime_settings.ROOT.set(None)  # a fresh root stack for every run
    pulumi.runtime.set_mocks(
        monitor.mocks,
        project=PROJECT,
        stack=stack,
        preview=preview,
        logger=logger,
        monitor=monitor,
    )
    pulumi.runtime.set_all_config(config, secret_keys or [])
    # Nothing pending from an earlier run (a failed one leaves tasks behind) may leak into this one.
    runtime_settings.SETTINGS.rpc_manager.clear()
    runtime_settings.SETTINGS.outputs.clear()
    outputs: dict[str, OutputValue] = {}

    async def body() -> None:
        for key, value in program().items():
            out = pulumi.Output.from_input(value)
            outputs[key] = OutputValue(
                value=await out.future(with_unknowns=True),
                secret=await out.is_secret(),
                known=await out.is_known(),
            )

    try:
        _sync_await(run_pulumi_func(body))
    except pulumi.RunError:
        raise
    except Exception as exc:
        # As the CLI does, show the program's own error lines before the raw failure.
        errors = [r.getMessage() for r in recorder.records if r.levelno >= logging.ERROR]
        raise ProgramFailed(errors[0] if errors else str(exc), errors) from exc
    finally:
        logger.removeHandler(recorder)
    logs = [(r.levelname.lower(), r.getMessage()) for r in recorder.records]
    return EngineRun(stack, preview, dict(monitor.registrations), list(monitor.invokes), outputs, logs)
