"""The offline plan as data: masked inputs, stubbed values marked, one JSON document.

Three rules make the document safe to print and to keep (``--json``, ``--against OLD.json``):

- **Secrets** are ``[secret]``, never opened; a container's environment (a secret list of
  ``NAME=value`` as a whole, because some values are secret) shows every name, and each value
  unless it contains a secret of the run (``secret_atoms``).
- **Stubbed values** (what ``tools.plan_stubs`` made up: registry digests, image ids, 1Password
  values, generated values, Coder ids and version ids, the socket's group id) are replaced by
  ``<stubbed KIND #fingerprint>`` wherever they end up, also inside longer strings (a reference
  ``repo:tag@<stubbed registry digest #…>``): a made-up digest never looks pasteable. The
  fingerprint (of the stub, not of any real value) still tells two different stubs apart, so a
  comparison sees that a new image gives a new image id.
- Values are plain JSON: unknowns (preview) are ``<computed>``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from pulumi.output import Unknown

from tools import mock_engine

FORMAT: Final = "egoengine-plan/1"
SECRET_TEXT: Final = "[secret]"
COMPUTED_TEXT: Final = "<computed>"
MIN_EMBEDDED_STUB: Final = 12
"""Stubbed strings at least this long are marked inside longer strings too; shorter ones (the
socket's group id, ``org-default``) only where they are the whole value."""

SECRET_STUBS: Final = frozenset({"1Password value", "generated value"})
"""Kinds of stubbed values that stand in for secrets."""

_ENV_ENTRY = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", re.DOTALL)


def is_env_list(value: Any) -> bool:
    """A container environment: a non-empty list of ``NAME=value`` strings."""
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(item, str) and _ENV_ENTRY.match(item) for item in value)
    )


def secret_strings(value: Any, inside: bool = False, *, env_entries: bool = False) -> Iterator[str]:
    """Strings inside secret wrappers; the entries of a secret environment list only with
    ``env_entries`` (otherwise they are judged one by one against the other secrets)."""
    if mock_engine.is_secret_value(value):
        inner = value["value"]
        if env_entries or not is_env_list(inner):
            yield from secret_strings(inner, True, env_entries=env_entries)
    elif isinstance(value, str):
        if inside:
            yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from secret_strings(item, inside, env_entries=env_entries)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from secret_strings(item, inside, env_entries=env_entries)


def secret_atoms(run: mock_engine.EngineRun, also: Iterable[str] = ()) -> frozenset[str]:
    """Every secret string of the run that is not also public: generated passwords, config
    secrets, 1Password values, connection URLs (inputs, recorded state, secret stack outputs),
    plus ``also`` (the config's secrets, the 1Password values the stubs handed out)."""
    found: set[str] = set(also)
    public: set[str] = set()
    for reg in run.registrations.values():
        for value in (reg.inputs, reg.outputs):
            found.update(secret_strings(value))
            public.update(mock_engine.plaintext_strings(value))
    for output in run.outputs.values():
        strings = set(mock_engine.plaintext_strings(output.value))
        (found if output.secret else public).update(strings)
        found.update(secret_strings(output.value))
    return frozenset(s for s in found - public if s)


@dataclass(frozen=True)
class StubMarker:
    """Replaces stubbed strings by ``<stubbed KIND #fingerprint>``."""

    ledger: Mapping[str, str]
    """stubbed string -> what it stands for (``PermissiveStubs.ledger``)."""

    @staticmethod
    def marker(stub: str, kind: str) -> str:
        return f"<stubbed {kind} #{hashlib.sha256(stub.encode()).hexdigest()[:8]}>"

    def _embedded(self) -> list[tuple[str, str]]:
        long_stubs = [(s, k) for s, k in self.ledger.items() if len(s) >= MIN_EMBEDDED_STUB]
        return sorted(long_stubs, key=lambda item: len(item[0]), reverse=True)

    def text(self, text: str) -> tuple[str, list[str]]:
        """``text`` with stubs marked, and the kinds found."""
        if text in self.ledger:
            return self.marker(text, self.ledger[text]), [self.ledger[text]]
        kinds = []
        for stub, kind in self._embedded():
            if stub in text:
                text = text.replace(stub, self.marker(stub, kind))
                kinds.append(kind)
        return text, kinds

    def free_text(self, text: str) -> str:
        """Marks long stubs in rendered text (the text report, policy messages)."""
        for stub, kind in self._embedded():
            text = text.replace(stub, self.marker(stub, kind))
        return text


@dataclass
class Masker:
    """Turns engine values into printable JSON, collecting where stubs were found."""

    atoms: frozenset[str]
    stubs: StubMarker

    def env_entry(self, entry: str, stubbed: dict[str, str], path: str) -> str:
        match = _ENV_ENTRY.match(entry)
        assert match is not None
        name, value = match[1], match[2]
        if any(atom in value for atom in self.atoms):
            return f"{name}={SECRET_TEXT}"
        return f"{name}={self.value(value, stubbed, f'{path}.{name}')}"

    def value(self, value: Any, stubbed: dict[str, str], path: str) -> Any:
        if mock_engine.is_secret_value(value):
            inner = value["value"]
            if is_env_list(inner):
                return [self.env_entry(item, stubbed, path) for item in inner]
            return SECRET_TEXT
        if isinstance(value, Unknown):
            return COMPUTED_TEXT
        if isinstance(value, str):
            marked, kinds = self.stubs.text(value)
            if kinds:
                stubbed[path] = ", ".join(dict.fromkeys(kinds))
            return marked
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if value is None or isinstance(value, (bool, int, float)):
            return value
        if isinstance(value, Mapping):
            return {
                str(key): self.value(item, stubbed, f"{path}.{key}" if path else str(key))
                for key, item in sorted(value.items())
                if not str(key).startswith("__")
            }
        if isinstance(value, (list, tuple)):
            return [self.value(item, stubbed, f"{path}[{index}]") for index, item in enumerate(value)]
        return f"<{type(value).__name__}>"


def options(reg: mock_engine.Registration) -> dict[str, Any]:
    return {
        "protect": reg.protect,
        "retainOnDelete": reg.retain_on_delete,
        "deleteBeforeReplace": reg.delete_before_replace,
        "ignoreChanges": list(reg.ignore_changes),
        "replaceOnChanges": list(reg.replace_on_changes),
        "additionalSecretOutputs": list(reg.additional_secret_outputs),
    }


def _name_of(urn: str, names: Mapping[str, str]) -> str | None:
    return names.get(urn) if urn else None


def resource_entries(
    run: mock_engine.EngineRun, masker: Masker, order: Iterable[str]
) -> list[dict[str, Any]]:
    """One entry per registration, in ``order`` (URNs; the plan's tree order)."""
    names = {urn: reg.name for urn, reg in run.registrations.items()}
    entries = []
    for urn in order:
        reg = run.registrations.get(urn)
        if reg is None:
            continue
        stubbed: dict[str, str] = {}
        inputs = masker.value(reg.inputs, stubbed, "")
        computed = {key: value for key, value in reg.outputs.items() if key not in reg.inputs}
        state = masker.value(computed, stubbed, "state") if reg.custom else {}
        provider = reg.provider.rsplit("::", 1)[0] if reg.provider else ""
        entries.append(
            {
                "urn": urn,
                "type": reg.type,
                "name": reg.name,
                "parent": _name_of(reg.parent, names),
                "custom": reg.custom,
                "provider": _name_of(provider, names),
                "dependencies": sorted({names[d] for d in reg.dependencies if d in names}),
                "inputs": inputs,
                "state": state,
                "options": options(reg),
                "stubbed": dict(sorted(stubbed.items())),
            }
        )
    return entries


def output_entries(run: mock_engine.EngineRun, masker: Masker) -> tuple[dict[str, Any], dict[str, str]]:
    """The stack outputs (secret ones ``[secret]``) and where they hold stubbed values."""
    outputs: dict[str, Any] = {}
    stubbed: dict[str, str] = {}
    for name in sorted(run.outputs):
        output = run.outputs[name]
        if output.secret:
            outputs[name] = SECRET_TEXT
        elif not output.known:
            outputs[name] = COMPUTED_TEXT
        else:
            outputs[name] = masker.value(output.value, stubbed, name)
    return outputs, dict(sorted(stubbed.items()))
