"""The policy pack on the offline plan's graph: the pack's config file and its findings.

``PolicySettings.load`` reads the file ``pulumi preview --policy-config`` takes; ``check_policies``
runs every validator of ``policy/policies.py`` on the mocked engine's registrations, as the pack's
analyzer would hand them over.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import yaml
from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
)
from pulumi_policy.proxy import unknown_checking_proxy

from policy import policies
from tools import mock_engine

if TYPE_CHECKING:
    from tools.plan import Graph

_ENFORCEMENT_LEVELS: Final = {level.value: level for level in EnforcementLevel}


class PolicyConfigError(Exception):
    """The policy config file is unreadable or names what the pack does not have: exit 2."""


@dataclass(frozen=True)
class PolicySettings:
    """A policy-pack config file: per-policy enforcement level and settings (``allowPublicBind``)."""

    config: dict[str, dict[str, Any]] = field(default_factory=dict)
    enforcement: dict[str, EnforcementLevel] = field(default_factory=dict)
    default: EnforcementLevel = policies.DEFAULT_ENFORCEMENT

    def level(self, policy: str) -> EnforcementLevel:
        return self.enforcement.get(policy, self.default)

    @classmethod
    def load(cls, path: Path) -> PolicySettings:
        """The format of ``pulumi preview --policy-config``: ``{policy: level | {enforcementLevel, ...}}``
        plus an optional ``all: level``."""
        try:
            document = yaml.safe_load(path.read_text())
        except OSError as exc:
            raise PolicyConfigError(f"--policy-config {path}: cannot be read ({exc.strerror})") from None
        except yaml.YAMLError:
            raise PolicyConfigError(f"--policy-config {path}: is not valid JSON or YAML") from None
        if not isinstance(document, dict):
            raise PolicyConfigError(f"--policy-config {path}: expected an object of policy name -> settings")
        known = {policy.name for policy in policies.ALL_POLICIES}
        config: dict[str, dict[str, Any]] = {}
        enforcement: dict[str, EnforcementLevel] = {}
        default = policies.DEFAULT_ENFORCEMENT
        for name, value in document.items():
            if name == "all":
                default = _level(path, name, value)
            elif name not in known:
                raise PolicyConfigError(
                    f"--policy-config {path}: '{name}' is not a policy of the pack; expected one of "
                    + ", ".join(sorted(known))
                )
            elif isinstance(value, str):
                enforcement[name] = _level(path, name, value)
            elif isinstance(value, dict):
                values = dict(value)
                if "enforcementLevel" in values:
                    enforcement[name] = _level(path, name, values.pop("enforcementLevel"))
                _check_settings(path, name, values)
                config[name] = values
            else:
                raise PolicyConfigError(f"--policy-config {path}: '{name}' must be an enforcement level or an object")
        return cls(config, enforcement, default)


_JSON_TYPES: Final[dict[str, type | tuple[type, ...]]] = {"boolean": bool, "string": str, "integer": int, "number": (int, float)}


def _check_settings(path: Path, name: str, values: Mapping[str, Any]) -> None:
    """Each setting must be one the policy's config schema declares, of the declared type."""
    policy = next(p for p in policies.ALL_POLICIES if p.name == name)
    schema = getattr(policy, "config_schema", None)
    properties: dict[str, Any] = dict(schema.properties) if schema is not None else {}
    for key, value in values.items():
        if key not in properties:
            expected = (
                "enforcementLevel or one of " + ", ".join(sorted(properties))
                if properties else "only enforcementLevel (this policy has no settings)"
            )
            raise PolicyConfigError(
                f"--policy-config {path}: '{name}.{key}' is not a setting of that policy; expected {expected}"
            )
        wanted = _JSON_TYPES.get(str(properties[key].get("type", "")))
        if wanted is not None and (not isinstance(value, wanted) or (wanted is not bool and isinstance(value, bool))):
            kind, description = str(properties[key]["type"]), str(properties[key].get("description", ""))
            meaning = f": {description[:1].lower()}{description[1:]}" if description else ""
            raise PolicyConfigError(
                f"--policy-config {path}: '{name}.{key}' is not a {kind}; expected a {kind}{meaning}"
            )


def _level(path: Path, name: str, value: Any) -> EnforcementLevel:
    if value not in _ENFORCEMENT_LEVELS:
        raise PolicyConfigError(
            f"--policy-config {path}: '{name}' has an unknown enforcement level; expected one of "
            + ", ".join(_ENFORCEMENT_LEVELS)
        )
    return _ENFORCEMENT_LEVELS[value]


@dataclass(frozen=True)
class Finding:
    policy: str
    severity: str
    enforcement: str
    resource: str
    message: str

    @property
    def mandatory(self) -> bool:
        return self.enforcement == EnforcementLevel.MANDATORY.value


def _policy_options(reg: mock_engine.Registration) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=reg.protect,
        ignore_changes=list(reg.ignore_changes),
        delete_before_replace=reg.delete_before_replace,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=list(reg.additional_secret_outputs),
        parent=reg.parent or None,
    )


def _props(values: Mapping[str, Any]) -> Mapping[str, Any]:
    # As the pack's analyzer hands them to validators: secrets as pulumi_policy.Secret (the pack keeps
    # the engine's secret marker, see policies.from_wire), behind pulumi_policy's unknown-checking
    # proxy; mock unknowns read as UNKNOWN.
    return unknown_checking_proxy(policies.from_wire(dict(values)))


def stack_resources(graph: Graph) -> list[PolicyResource]:
    """Every registered resource as the stack policies see it (props: its outputs)."""
    built: dict[str, PolicyResource] = {}
    for node in graph.resources:
        reg = node.registration
        assert reg is not None
        built[node.urn] = PolicyResource(
            reg.type, _props(reg.outputs), reg.urn, reg.name, _policy_options(reg), None, None, [], {}
        )
    for urn, resource in built.items():
        reg = graph.nodes[urn].registration
        assert reg is not None
        resource.parent = built.get(reg.parent)
        resource.dependencies = [built[d] for d in graph.dependencies.get(urn, []) if d in built]
        resource.property_dependencies = {
            key: [built[d] for d in deps if d in built] for key, deps in reg.property_dependencies.items()
        }
        provider = built.get(graph.providers.get(urn, ""))
        if provider is not None:
            resource.provider = PolicyProviderResource(provider.resource_type, provider.props, provider.urn, provider.name)
    return list(built.values())


def check_policies(graph: Graph, settings: PolicySettings) -> list[Finding]:
    """Every resource policy on every custom resource (props: its inputs), then the stack policies."""
    severities = {policy.name: policy.severity for policy in policies.ALL_POLICIES}
    violations: list[policies.Violation] = []
    for node in graph.resources:
        reg = node.registration
        assert reg is not None
        if reg.custom:
            violations += policies.check_resource(
                reg.type, _props(reg.inputs), reg.urn, reg.name, _policy_options(reg), settings.config
            )
    violations += policies.check_stack(stack_resources(graph), settings.config)
    findings = []
    for violation in violations:
        level = settings.level(violation.policy)
        if level == EnforcementLevel.DISABLED:
            continue
        severity = severities.get(violation.policy)
        findings.append(
            Finding(
                policy=violation.policy,
                severity=severity.value if severity is not None else "",
                enforcement=level.value,
                resource=graph.label(violation.urn) if violation.urn in graph.nodes else "(stack)",
                message=violation.message,
            )
        )
    return sorted(findings, key=lambda f: (not f.mandatory, f.policy, f.resource, f.message))
