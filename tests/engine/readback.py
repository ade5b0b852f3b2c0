"""How pulumi-docker creates each docker resource the program declares and reads it back.

pulumi-docker 5.x bridges kreuzwerker/terraform-provider-docker; one ``ReadBack`` per resource type
mirrors that provider's create (the Docker API request it sends) and its read (which fields of the
engine's inspect document it writes into state), from ``internal/provider/``:

- Network: ``resource_docker_network.go`` (schema), ``resourceDockerNetworkReadRefreshFunc``;
- Volume: ``resource_docker_volume.go`` (schema and ``resourceDockerVolumeRead``);
- Container: ``resource_docker_container.go`` (schema), ``resourceDockerContainerCreate`` /
  ``resourceDockerContainerRead`` in ``resource_docker_container_funcs.go``;
- RemoteImage: ``resourceDockerImageRead`` (``resource_docker_image_funcs.go``).

A field the read sets is, per the provider's schema, one of:

- ``Default(value)``: Optional, not Computed: the engine's value must equal what was declared, or
  this default when nothing was declared, else the next ``up`` sees a change (most fields are
  ForceNew: a replacement). Podman's network ``ipam_options`` is such a field.
- ``COMPUTED``: Optional + Computed (or a DiffSuppressFunc that keeps the engine's value when the
  config is empty): the engine's value is kept when nothing is declared.
- ``IF_DECLARED``: read only when the config sets it (``d.GetOk``).

``not_read`` lists the declared inputs the read never sets, each kept from the config as declared;
``engine_checks`` still proves the engine holds them (labels, mounts, env, networks).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.engine.engine_api import EngineApi


@dataclass(frozen=True)
class Default:
    value: Any = None  # None: the type's zero value ("", 0, false, empty list or map)


COMPUTED = "computed"
IF_DECLARED = "if-declared"
ReadKind = Default | str


@dataclass(frozen=True)
class ReadBack:
    create: Callable[[EngineApi, dict[str, Any]], str]
    """Send what the provider sends for these declared inputs; return the engine's id."""
    read: Callable[[EngineApi, str], dict[str, Any]]
    """The state the provider writes from the engine's inspect document (input names)."""
    kinds: dict[str, ReadKind]
    not_read: dict[str, str] = field(default_factory=dict)
    """Declared input -> why the read does not set it."""
    complete: Callable[[dict[str, Any]], dict[str, Any]] = lambda declared: declared
    """The declared inputs with the schema's nested defaults filled in, as the provider sees them."""
    engine_checks: Callable[[EngineApi, str, dict[str, Any]], list[str]] = lambda api, id_, declared: []
    """Problems with what the engine holds but the provider does not read."""


def go_duration(nanoseconds: int) -> str:
    """Go's ``time.Duration.String()``, which the provider writes into state."""
    if nanoseconds == 0:
        return "0s"
    seconds, rest = divmod(nanoseconds, 10**9)
    if seconds == 0:
        return f"{nanoseconds // 10**6}ms" if nanoseconds % 10**6 == 0 else f"{nanoseconds}ns"
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    fraction = f".{rest:09d}".rstrip("0") if rest else ""
    text = f"{seconds}{fraction}s"
    if hours or minutes:
        text = f"{minutes}m{text}"
    return f"{hours}h{text}" if hours else text


def go_parse_duration(text: str) -> int:
    units = {"h": 3600 * 10**9, "m": 60 * 10**9, "s": 10**9, "ms": 10**6}
    total, number = 0, ""
    index = 0
    while index < len(text):
        char = text[index]
        if char.isdigit() or char == ".":
            number += char
            index += 1
            continue
        unit = "ms" if text.startswith("ms", index) else char
        total += int(float(number) * units[unit])
        number, index = "", index + len(unit)
    return total


def label_set(labels: dict[str, str] | None) -> list[dict[str, str]]:
    return [{"label": k, "value": v} for k, v in sorted((labels or {}).items())]


def label_map(labels: list[dict[str, str]] | None) -> dict[str, str]:
    return {item["label"]: item["value"] for item in labels or []}


# --- network ------------------------------------------------------------------------------------


def _create_network(api: EngineApi, declared: dict[str, Any]) -> str:
    body: dict[str, Any] = {"Name": declared["name"], "CheckDuplicate": bool(declared.get("checkDuplicate"))}
    if declared.get("labels"):
        body["Labels"] = label_map(declared["labels"])
    if declared.get("driver"):
        body["Driver"] = declared["driver"]
    ipam: dict[str, Any] = {}
    if declared.get("ipamDriver"):
        ipam["Driver"] = declared["ipamDriver"]
    if declared.get("ipamOptions"):
        ipam["Options"] = declared["ipamOptions"]
    if ipam:
        body["IPAM"] = ipam
    return str(api.post("/networks/create", body)["Id"])


def _read_network(api: EngineApi, network_id: str) -> dict[str, Any]:
    network = api.get(f"/networks/{network_id}")
    return {
        "name": network["Name"],
        "labels": label_set(network.get("Labels")),
        "driver": network.get("Driver"),
        "internal": network.get("Internal"),
        "attachable": network.get("Attachable"),
        "ingress": network.get("Ingress"),
        "ipv6": network.get("EnableIPv6"),
        "ipamDriver": network["IPAM"].get("Driver"),
        "ipamOptions": network["IPAM"].get("Options") or {},
        "options": network.get("Options") or {},
        "ipamConfigs": network["IPAM"].get("Config") or [],
    }


NETWORK = ReadBack(
    create=_create_network,
    read=_read_network,
    kinds={
        "name": Default(), "labels": Default(), "driver": COMPUTED, "internal": COMPUTED,
        "attachable": Default(False), "ingress": Default(False), "ipv6": Default(False),
        "ipamDriver": Default("default"), "ipamOptions": Default(), "options": COMPUTED,
        "ipamConfigs": COMPUTED,
    },
)


# --- volume -------------------------------------------------------------------------------------


def _create_volume(api: EngineApi, declared: dict[str, Any]) -> str:
    body: dict[str, Any] = {"Name": declared["name"], "Labels": label_map(declared.get("labels"))}
    if declared.get("driver"):
        body["Driver"] = declared["driver"]
    return str(api.post("/volumes/create", body)["Name"])


def _read_volume(api: EngineApi, name: str) -> dict[str, Any]:
    volume = api.get(f"/volumes/{name}")
    return {
        "name": volume["Name"],
        "labels": label_set(volume.get("Labels")),
        "driver": volume.get("Driver"),
        "driverOpts": volume.get("Options") or {},
    }


VOLUME = ReadBack(
    create=_create_volume,
    read=_read_volume,
    kinds={"name": COMPUTED, "labels": Default(), "driver": COMPUTED, "driverOpts": Default()},
)


# --- remote image -------------------------------------------------------------------------------


def _pull_image(api: EngineApi, declared: dict[str, Any]) -> str:
    api.pull(declared["name"])
    return str(declared["name"])


def _read_image(api: EngineApi, name: str) -> dict[str, Any]:
    # The provider inspects the image by its declared name and looks the id up in the image list;
    # when either fails it drops the resource from state (and the next up pulls it again).
    inspected = api.get(f"/images/{name}/json")
    listed = {image["Id"] for image in api.get("/images/json")}
    assert inspected["Id"] in listed, f"image {name} inspects as {inspected['Id']}, which the image list lacks"
    return {}


REMOTE_IMAGE = ReadBack(
    create=_pull_image,
    read=_read_image,
    kinds={},
    not_read={
        "name": "kept from the config; the read finds the image by it (asserted in the read)",
        "keepLocally": "a provider-side option of the delete",
    },
)


def canonical(value: Any) -> str:
    """Order-insensitive text of a value (sets in the schema are unordered)."""
    if isinstance(value, list):
        return json.dumps(sorted(canonical(item) for item in value))
    if isinstance(value, dict):
        return json.dumps({k: canonical(v) for k, v in sorted(value.items())})
    return json.dumps(value)


def integral(value: Any) -> Any:
    """Whole numbers as ints: the engine protocol carries every number as a double, the provider's
    schema types these fields int."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [integral(item) for item in value]
    if isinstance(value, dict):
        return {key: integral(item) for key, item in value.items()}
    return value


def is_zero(value: Any) -> bool:
    return value in (None, "", 0, False, [], {})


def mismatches(readback: ReadBack, declared: dict[str, Any], state: dict[str, Any]) -> list[str]:
    """Every field the provider reads back that differs from what was declared (or the default)."""
    problems = []
    unmapped = set(declared) - set(readback.kinds) - set(readback.not_read)
    if unmapped:
        problems.append(f"declared inputs the mapping does not know: {sorted(unmapped)}")
    for key, kind in readback.kinds.items():
        if key in declared:
            if key not in state:
                problems.append(f"{key}: declared {declared[key]!r}, the read does not return it")
            elif canonical(state[key]) != canonical(declared[key]):
                problems.append(f"{key}: declared {declared[key]!r}, read back {state[key]!r}")
        elif isinstance(kind, Default) and key in state:
            expected_zero = kind.value is None
            if is_zero(state[key]) if expected_zero else state[key] == kind.value:
                continue
            shown = "nothing" if expected_zero else repr(kind.value)
            problems.append(f"{key}: not declared (schema default {shown}), read back {state[key]!r}")
        elif kind not in (COMPUTED, IF_DECLARED) and not isinstance(kind, Default):
            problems.append(f"{key}: unknown kind {kind!r}")
    return problems
