"""What an ``up`` would change: one offline plan document against an earlier one.

    python -m tools.plan dev --json > old.json      # e.g. on main
    python -m tools.plan dev --against old.json     # on the branch

``compare(old, new)`` matches resources by URN and gives, per custom resource, ``create``,
``update``, ``replace`` or ``delete`` with the changed inputs and the ones that force the
replacement (``tools.plan_replacements``: the providers' own rules, the dynamic resources' own
``diff``, the ``replaceOnChanges`` option). ``ChangeSet.summary()`` is one line naming downtime (the
Coder or PostgreSQL container replaced or deleted) and data at risk (anything protected or retained
on delete being replaced or deleted); on a first deploy it names the first-user window.

Both documents come from the offline plan: secret values are ``[secret]`` in both, so a changed
secret (a rotated password) does not show here; stubbed values carry a fingerprint of the stub, so
a new image still gives a new (stubbed) image id and its container shows as replaced.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from tools import plan_replacements

Action = Literal["create", "update", "replace", "delete"]
ADMIN_TYPE = "pulumi-python:dynamic/coder:Admin"
ROLE_LABEL = "egoengine.role"
DOWNTIME_ROLES = {"coder-server": "Coder", "postgres": "PostgreSQL"}


@dataclass(frozen=True)
class ResourceChange:
    action: Action
    type: str
    name: str
    changed: tuple[str, ...] = ()
    forcing: tuple[str, ...] = ()
    """The changed inputs that force the replacement."""
    protect: bool = False
    retain_on_delete: bool = False
    delete_before_replace: bool = False
    role: str = ""
    """The container's ``egoengine.role`` label (``coder-server``, ``postgres``), if any."""
    rule_known: bool = True

    def line(self) -> str:
        detail = []
        if self.action == "replace":
            detail.append(f"forced by {', '.join(self.forcing)}")
            other = [name for name in self.changed if name not in self.forcing]
            if other:
                detail.append(f"also {', '.join(other)}")
            if self.delete_before_replace:
                detail.append("the old one is deleted first")
        elif self.action == "update":
            detail.append(f"changes {', '.join(self.changed)}")
            if not self.rule_known:
                detail.append("replacement rules of this type unknown here")
        if self.action in ("replace", "delete"):
            flags = [("protected", self.protect), ("retained on delete", self.retain_on_delete)]
            if on := [name for name, set_ in flags if set_]:
                detail.append(", ".join(on))
        suffix = f"  ({'; '.join(detail)})" if detail else ""
        return f"{self.action:<8} {self.type}  {self.name}{suffix}"

    @property
    def data_at_risk(self) -> bool:
        return self.action in ("replace", "delete") and (self.protect or self.retain_on_delete)

    @property
    def risk(self) -> str:
        """What the engine does with it (pulumi/pulumi, pkg/resource/deploy/step_generator.go:
        a protected resource is never replaced or deleted; a retained one is left in place)."""
        if self.protect:
            return f"{self.name} ({self.action}; protected: up refuses until it is unprotected)"
        return f"{self.name} ({self.action}; retained: the old one is left in place, not deleted)"

    @property
    def downtime(self) -> str | None:
        if self.action in ("replace", "delete") and self.role in DOWNTIME_ROLES:
            return f"{DOWNTIME_ROLES[self.role]} container {self.action}d ({self.name})"
        return None


@dataclass(frozen=True)
class ChangeSet:
    changes: tuple[ResourceChange, ...]
    unchanged: int
    first_deploy: bool
    """The old plan has no Coder admin and the new one creates it."""

    def lines(self) -> list[str]:
        order = {"replace": 0, "delete": 1, "update": 2, "create": 3}
        ordered = sorted(self.changes, key=lambda c: (order[c.action], c.name))
        return [change.line() for change in ordered]

    def count(self, action: Action) -> int:
        return sum(1 for change in self.changes if change.action == action)

    def summary(self) -> str:
        counts = ", ".join(
            f"{self.count(action)} to {action}" for action in ("create", "update", "replace", "delete")
        )
        parts = [f"{counts}, {self.unchanged} unchanged"]
        downtime = [d for d in (c.downtime for c in self.changes) if d]
        parts.append("downtime: " + (", ".join(downtime) if downtime else "none"))
        at_risk = [c.risk for c in self.changes if c.data_at_risk]
        parts.append("data at risk: " + (", ".join(at_risk) if at_risk else "none"))
        if self.first_deploy:
            parts.append(
                "first-user window: until this up creates the admin, whoever reaches Coder first "
                "can claim it through /setup, so open the public route only after it"
            )
        return "; ".join(parts)


def _custom(document: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The custom resources of a document by URN (providers aside: they change nothing by themselves)."""
    return {
        str(entry["urn"]): entry
        for entry in document.get("resources", [])
        if isinstance(entry, Mapping)
        and entry.get("custom")
        and not str(entry.get("type", "")).startswith("pulumi:providers:")
    }


def _changed_inputs(old: Mapping[str, Any], new: Mapping[str, Any], ignored: Sequence[str]) -> list[str]:
    keys = sorted(set(old) | set(new))
    return [key for key in keys if key not in ignored and old.get(key) != new.get(key)]


def _on_changes(patterns: Sequence[str], changed: list[str]) -> list[str]:
    """Changed inputs named by ``replaceOnChanges`` (``triggers[*]`` names ``triggers``)."""
    roots = {pattern.split("[", 1)[0].split(".", 1)[0] for pattern in patterns}
    return [name for name in changed if "*" in roots or name in roots]


def _dynamic_diff(
    resource_type: str, old: Mapping[str, Any], new: Mapping[str, Any]
) -> tuple[bool, list[str]] | None:
    """(changes, replaces) from the dynamic provider's own ``diff``, or None for other types."""
    found = plan_replacements.DYNAMIC_PROVIDERS.get(resource_type)
    if found is None:
        return None
    module, class_name = found
    provider = getattr(importlib.import_module(module), class_name)()
    result = provider.diff("", dict(old), dict(new))  # olds: the recorded state, as the engine passes it
    return bool(result.changes), list(result.replaces or [])


def _role(entry: Mapping[str, Any]) -> str:
    labels = entry.get("inputs", {}).get("labels") or []
    for label in labels if isinstance(labels, list) else []:
        if isinstance(label, Mapping) and label.get("label") == ROLE_LABEL:
            return str(label.get("value", ""))
    return ""


def _change(action: Action, entry: Mapping[str, Any], **fields: Any) -> ResourceChange:
    options = entry.get("options", {})
    return ResourceChange(
        action=action,
        type=str(entry["type"]),
        name=str(entry["name"]),
        protect=bool(options.get("protect")),
        retain_on_delete=bool(options.get("retainOnDelete")),
        delete_before_replace=bool(options.get("deleteBeforeReplace")),
        role=_role(entry),
        **fields,
    )


def _compare_one(old: Mapping[str, Any], new: Mapping[str, Any]) -> ResourceChange | None:
    options = new.get("options", {})
    changed = _changed_inputs(old.get("inputs", {}), new.get("inputs", {}), options.get("ignoreChanges", []))
    resource_type = str(new["type"])
    recorded = {**old.get("inputs", {}), **old.get("state", {})}
    dynamic = _dynamic_diff(resource_type, recorded, new.get("inputs", {}))
    rule_known = True
    if dynamic is not None:
        changes, replaces = dynamic
        if not changes:
            return None
        forcing = [name for name in changed if name in replaces]
    else:
        if not changed:
            return None
        by_provider = plan_replacements.forcing(resource_type, changed)
        rule_known = by_provider is not None
        forcing = by_provider or []
    forcing += [n for n in _on_changes(options.get("replaceOnChanges", []), changed) if n not in forcing]
    action: Action = "replace" if forcing else "update"
    return _change(action, new, changed=tuple(changed), forcing=tuple(forcing), rule_known=rule_known)


def compare(old: Mapping[str, Any], new: Mapping[str, Any]) -> ChangeSet:
    """The changes from the ``old`` plan document to the ``new`` one (both ``--json`` documents)."""
    olds, news = _custom(old), _custom(new)
    changes: list[ResourceChange] = []
    unchanged = 0
    for urn, entry in news.items():
        if urn not in olds:
            changes.append(_change("create", entry))
            continue
        change = _compare_one(olds[urn], entry)
        if change is None:
            unchanged += 1
        else:
            changes.append(change)
    changes += [_change("delete", entry) for urn, entry in olds.items() if urn not in news]
    first_deploy = not any(e.get("type") == ADMIN_TYPE for e in olds.values()) and any(
        e.get("type") == ADMIN_TYPE for e in news.values()
    )
    return ChangeSet(tuple(changes), unchanged, first_deploy)

