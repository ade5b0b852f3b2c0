"""What the outside world answers when a stack is evaluated without it (offline plan, bench, tests).

The program needs three things the offline plan has none of: the 1Password service-account token,
1Password items, and the group id of the engine socket. This module stands in for each of them
generically, from the stack's own config, so no stack or resource list is hard-coded:

- ``stack_config``: the stack file's config (``secure:`` values as placeholders), the 1Password
  token placeholder when the stack does not set one, plus overrides.
- ``onepassword_items``: for every ``op://`` reference anywhere in the config, an item in the
  ``getItem`` result shape that has the referenced field, so ``components.secrets.pick_field`` finds
  it whatever its label, section or file name.
- ``PermissiveStubs``: ``mock_engine.Stubs`` that also answers an item no config value references
  (e.g. one a component names in code) with the common built-in fields.
- ``host_facts``: a fixed socket group id, so no engine socket is needed.

``run_stack_offline`` runs the real program with all of them on ``tools.mock_engine``; the offline
plan (``tools.plan``) and the benchmark (``tools.bench``) both go through it.
"""

from __future__ import annotations

import asyncio
import gc
import json
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components import settings as cfg
from components.program import build
from components.engine_facts import EngineFacts
from components.settings import OnePasswordRef
from tools import mock_engine

OP_TOKEN_KEY = "onepassword:serviceAccountToken"
OP_TOKEN_PLACEHOLDER = "[placeholder onepassword:serviceAccountToken]"
PLACEHOLDER_SOCKET_GID = 998
"""Stands in for the engine socket's group; a stack that sets ``engine.socketGid`` keeps its own."""
PLACEHOLDER_ENGINE = EngineFacts(kind="podman", rootless=False)
"""Stands in for what a local engine says it is: rootful Podman, the production engine."""


def placeholder_value(ref: OnePasswordRef) -> str:
    """What a stubbed 1Password field holds: shaped like the real thing where the shape matters."""
    return "{}" if ref.field.endswith(".json") else f"[placeholder {ref.uri}]"


def config_string(value: Any) -> str:
    """A config value as ``pulumi.runtime.set_all_config`` wants it (objects as JSON text)."""
    return value if isinstance(value, str) else json.dumps(value)


def stack_config(
    stack: str,
    overrides: Mapping[str, Any] | None = None,
    *,
    secret_overrides: Mapping[str, str] | None = None,
    op_token: str | None = OP_TOKEN_PLACEHOLDER,
) -> tuple[dict[str, str], list[str]]:
    """The stack file's config with the deploy's 1Password token set and keys replaced.

    ``overrides`` replace plain keys (objects may be given as dicts); ``secret_overrides`` set keys
    as secrets. ``op_token=None`` leaves the token unset (to test its absence).
    """
    config, secret_keys = mock_engine.load_stack_config(stack)
    if op_token is not None and OP_TOKEN_KEY not in config:
        config[OP_TOKEN_KEY] = op_token
    if OP_TOKEN_KEY in config and OP_TOKEN_KEY not in secret_keys:
        secret_keys.append(OP_TOKEN_KEY)
    for key, value in (overrides or {}).items():
        config[key] = config_string(value)
    for key, value in (secret_overrides or {}).items():
        config[key] = value
        if key not in secret_keys:
            secret_keys.append(key)
    return config, secret_keys


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def op_references(config: Mapping[str, str]) -> list[OnePasswordRef]:
    """Every well-formed ``op://`` reference in any config value (objects are searched through).

    Malformed ones are skipped: settings validation reports them with the key that holds them.
    """
    found: dict[str, OnePasswordRef] = {}
    for text in config.values():
        try:
            value: Any = json.loads(text)
        except ValueError:
            value = text
        for candidate in _strings(value):
            if not candidate.startswith("op://"):
                continue
            try:
                ref = cfg.parse_op_ref(candidate)
            except ValueError:
                continue
            found.setdefault(ref.uri, ref)
    return list(found.values())


def _field(label: str, value: str) -> dict[str, str]:
    return {"id": label, "label": label, "purpose": "", "type": "CONCEALED", "value": value}


def onepassword_items(refs: list[OnePasswordRef]) -> dict[tuple[str, str], dict[str, Any]]:
    """(vault, item title) -> a ``getItem`` result holding every field the references ask for.

    Each field sits in a section with the referenced label (``""`` for none): ``pick_field`` looks
    through sections for field labels whatever the name (built-in fields, custom fields and file
    names alike), so one shape answers every kind of reference.
    """
    sections: dict[tuple[str, str], dict[str, list[dict[str, str]]]] = {}
    for ref in refs:
        by_label = sections.setdefault((ref.vault, ref.item), {})
        by_label.setdefault(ref.section or "", []).append(_field(ref.field, placeholder_value(ref)))
    return {
        key: {
            "sections": [
                {"id": label or "fields", "label": label, "fields": fields}
                for label, fields in by_label.items()
            ]
        }
        for key, by_label in sections.items()
    }


GENERIC_ITEM: dict[str, Any] = {
    "password": "[placeholder password]",
    "credential": "[placeholder credential]",
    "username": "[placeholder username]",
    "sections": [],
    "files": [],
}
"""The answer for an item no config value references: the built-in fields most items have."""


_STUBBED_OUTPUTS: dict[str, dict[str, str]] = {
    "docker:index/remoteImage:RemoteImage": {"imageId": "image id"},
    "random:index/randomPassword:RandomPassword": {"result": "generated value", "bcryptHash": "generated value"},
    "pulumi-python:dynamic/coder:Admin": {
        "user_id": "Coder id", "organization_id": "Coder id", "token": "generated value",
    },
    "pulumi-python:dynamic/coder:Template": {"template_id": "Coder id", "active_version_id": "version id"},
}
"""Computed outputs the stubs make up, by resource type: output name -> what it stands for."""


@dataclass
class PermissiveStubs(mock_engine.Stubs):
    """``Stubs`` where every 1Password item is readable (unlisted ones get ``GENERIC_ITEM``).

    ``ledger`` records every value the stubs made up (string -> what it stands for), so the plan
    can mark them wherever they end up: a made-up digest must never look like a real one.
    """

    ledger: dict[str, str] = field(default_factory=dict)

    def _record(self, value: Any, kind: str) -> None:
        if isinstance(value, str) and value:
            self.ledger.setdefault(value, kind)

    def new_outputs(self, typ: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
        outputs = super().new_outputs(typ, name, inputs)
        for key, kind in _STUBBED_OUTPUTS.get(typ, {}).items():
            self._record(outputs.get(key), kind)
        if typ == "docker:index/remoteImage:RemoteImage" and "@" not in str(inputs.get("name", "")):
            self._record(outputs.get("repoDigest"), "registry digest")
        if typ == "command:local:Command" and (stdout := str(outputs.get("stdout") or "")).strip():
            try:
                built = json.loads(stdout)
            except ValueError:
                built = None
            if isinstance(built, dict):
                self._record(built.get("digest"), "built image digest")
        return outputs

    def call(self, token: str, args: dict[str, Any]) -> dict[str, Any]:
        if token == "onepassword:index/getItem:getItem":
            key = (str(args["vault"]).removeprefix("vault-"), str(args["title"]))
            if key not in self.onepassword_items and key not in self.unreadable_items:
                self.onepassword_items[key] = dict(GENERIC_ITEM)
        result = super().call(token, args)
        if token == "docker:index/getRegistryImage:getRegistryImage":
            self._record(result.get("sha256Digest"), "registry digest")
        elif token.startswith("onepassword:"):
            self._record(result.get("uuid"), "1Password id")
            for text in _strings({k: v for k, v in result.items() if k not in ("vault", "title")}):
                if text.startswith("[placeholder"):
                    self._record(text, "1Password value")
        return result


def stubs_for(config: Mapping[str, str]) -> PermissiveStubs:
    """Stubs answering every 1Password reference in ``config`` (registry look-ups: ``Stubs``)."""
    return PermissiveStubs(onepassword_items=onepassword_items(op_references(config)))


# The program writes the workspace hosts' key files for ssh; offline they go to one directory per
# process (the same path on every run, so runs stay comparable), removed when the process ends.
_OFFLINE_SSH_DIR = tempfile.TemporaryDirectory(prefix="egoengine-plan-ssh-")


def host_facts(
    socket_gid: int | None = PLACEHOLDER_SOCKET_GID,
    engine: EngineFacts | None = PLACEHOLDER_ENGINE,
    ledger: dict[str, str] | None = None,
) -> cfg.HostFacts:
    """Host facts without a host: the engine socket's group id and the engine are placeholders
    (the group id recorded in ``ledger`` when the program asks for it)."""

    def stub_gid(_path: str) -> int | None:
        if ledger is not None and socket_gid is not None:
            ledger.setdefault(str(socket_gid), "engine socket group id")
        return socket_gid

    return cfg.HostFacts(socket_gid=stub_gid, engine=lambda _path: engine)


def run_with_config(
    stack: str,
    config: dict[str, str],
    secret_keys: list[str],
    *,
    preview: bool = False,
    stubs: mock_engine.Stubs | None = None,
    socket_gid: int | None = PLACEHOLDER_SOCKET_GID,
    engine: EngineFacts | None = PLACEHOLDER_ENGINE,
) -> mock_engine.EngineRun:
    """Run the real program with ``config`` on the mocked engine, nothing outside touched.

    Raises what ``mock_engine.run`` raises: ``ConfigError`` (a ``pulumi.RunError``) for bad config,
    ``ProgramFailed`` for any other failure of the program.
    """
    stubs = stubs if stubs is not None else stubs_for(config)
    host = host_facts(socket_gid, engine, stubs.ledger if isinstance(stubs, PermissiveStubs) else None)
    return mock_engine.run(
        lambda: build(cfg.load(host), deploy_ssh_dir=Path(_OFFLINE_SSH_DIR.name) / stack),
        stack=stack,
        config=config,
        secret_keys=secret_keys,
        preview=preview,
        stubs=stubs,
    )


def run_stack_offline(
    stack: str,
    *,
    preview: bool = False,
    overrides: Mapping[str, Any] | None = None,
    secret_overrides: Mapping[str, str] | None = None,
    stubs: mock_engine.Stubs | None = None,
    socket_gid: int | None = PLACEHOLDER_SOCKET_GID,
    op_token: str | None = OP_TOKEN_PLACEHOLDER,
    engine: EngineFacts | None = PLACEHOLDER_ENGINE,
) -> mock_engine.EngineRun:
    """``stack_config`` + ``run_with_config``; ``FileNotFoundError`` for an unknown stack."""
    config, secret_keys = stack_config(
        stack, overrides, secret_overrides=secret_overrides, op_token=op_token
    )
    return run_with_config(
        stack, config, secret_keys, preview=preview, stubs=stubs, socket_gid=socket_gid, engine=engine
    )


def close_event_loops() -> None:
    """Close every idle asyncio loop; call once, when the process is done with the engine.

    The mocked monitor registers resources on worker threads, and Pulumi's ``_ensure_event_loop``
    gives each thread its own loop that nothing closes. At interpreter exit the garbage collector
    may then finalize a loop after its self-pipe socket, which prints an "Exception ignored ...
    Invalid file descriptor: -1" traceback to stderr. Closed loops finalize silently. Not for use
    between runs in one process: a thread would get its closed loop back.
    """
    for candidate in gc.get_objects():
        if isinstance(candidate, asyncio.BaseEventLoop) and not (candidate.is_running() or candidate.is_closed()):
            candidate.close()
