"""pulumi-docker's Container: the create request and the read-back of terraform-provider-docker's
``resourceDockerContainerCreate`` / ``resourceDockerContainerRead`` (see ``readback.py``)."""

from __future__ import annotations

from typing import Any

from tests.engine.engine_api import EngineApi
from tests.engine.readback import (
    COMPUTED,
    IF_DECLARED,
    Default,
    ReadBack,
    go_duration,
    go_parse_duration,
    label_map,
    label_set,
)

HEALTHCHECK_DEFAULTS = {"interval": "0s", "timeout": "0s", "startPeriod": "0s", "startInterval": "0s", "retries": 0}
PORT_DEFAULTS = {"ip": "0.0.0.0", "protocol": "tcp"}


def complete(declared: dict[str, Any]) -> dict[str, Any]:
    """The schema's nested defaults, as the provider fills them in before create and diff."""
    done = dict(declared)
    if "healthcheck" in done:
        done["healthcheck"] = {**HEALTHCHECK_DEFAULTS, **done["healthcheck"]}
    if "ports" in done:
        done["ports"] = [{**PORT_DEFAULTS, **port} for port in done["ports"]]
    return done


def _binds(volumes: list[dict[str, Any]]) -> tuple[dict[str, dict], list[str]]:
    """``volumeSetToDockerVolumes``: a host path or volume name becomes a bind ``src:dst:rw``."""
    paths: dict[str, dict] = {}
    binds: list[str] = []
    for volume in volumes:
        source = volume.get("hostPath") or volume.get("volumeName")
        paths[volume["containerPath"]] = {}
        if source:
            binds.append(f"{source}:{volume['containerPath']}:{'ro' if volume.get('readOnly') else 'rw'}")
    return paths, binds


def create(api: EngineApi, declared: dict[str, Any]) -> str:
    declared = complete(declared)
    config: dict[str, Any] = {
        "Image": declared["image"], "Hostname": "", "Domainname": "", "Tty": False, "OpenStdin": False,
        "StopSignal": "", "Env": declared.get("envs") or None, "Labels": label_map(declared.get("labels")),
    }
    host: dict[str, Any] = {
        "Privileged": False, "PublishAllPorts": False,
        "RestartPolicy": {"Name": declared.get("restart", "no"), "MaximumRetryCount": declared.get("maxRetryCount", 0)},
        "Runtime": "", "Mounts": [], "AutoRemove": False, "ReadonlyRootfs": False, "LogConfig": {"Type": ""},
        "NetworkMode": declared.get("networkMode", "bridge"), "Init": False,
    }
    if declared.get("ports"):
        config["ExposedPorts"] = {f"{p['internal']}/{p['protocol']}": {} for p in declared["ports"]}
        bindings: dict[str, list[dict[str, str]]] = {}
        for port in declared["ports"]:
            binding = {"HostIp": port["ip"], "HostPort": str(port.get("external", ""))}
            bindings.setdefault(f"{port['internal']}/{port['protocol']}", []).append(binding)
        host["PortBindings"] = bindings
    if declared.get("volumes"):
        config["Volumes"], host["Binds"] = _binds(declared["volumes"])
    if declared.get("groupAdds"):
        host["GroupAdd"] = declared["groupAdds"]
    if "healthcheck" in declared:
        check = declared["healthcheck"]
        config["Healthcheck"] = {
            "Test": check["tests"], "Retries": check["retries"],
            **{key: go_parse_duration(check[name]) for key, name in (
                ("Interval", "interval"), ("Timeout", "timeout"), ("StartPeriod", "startPeriod"),
                ("StartInterval", "startInterval"))},
        }
    created = api.post("/containers/create", {**config, "HostConfig": host}, params={"name": declared["name"]})
    container_id = str(created["Id"])
    if declared.get("networksAdvanced"):
        # The provider creates on the default bridge, leaves it, then joins each declared network.
        api.post("/networks/bridge/disconnect", {"Container": container_id, "Force": False})
        for network in declared["networksAdvanced"]:
            endpoint: dict[str, Any] = {"Aliases": network.get("aliases") or [], "IPAMConfig": {}}
            api.post(f"/networks/{network['name']}/connect", {"Container": container_id, "EndpointConfig": endpoint})
    return container_id


def _ports(port_map: dict[str, Any] | None) -> list[dict[str, Any]]:
    """``flattenContainerPorts``."""
    out = []
    ports = port_map or {}
    for key in sorted(ports):
        internal, protocol = key.split("/")
        for binding in ports[key] or []:
            out.append({"internal": int(internal), "external": int(binding.get("HostPort") or 0),
                        "ip": binding.get("HostIp", ""), "protocol": protocol})
    return out


def read(api: EngineApi, container_id: str) -> dict[str, Any]:
    inspected = api.get(f"/containers/{container_id}/json")
    config, host = inspected["Config"], inspected["HostConfig"]
    check = config.get("Healthcheck")
    state: dict[str, Any] = {
        "name": inspected["Name"].lstrip("/"), "rm": host.get("AutoRemove"), "readOnly": host.get("ReadonlyRootfs"),
        "image": inspected["Image"], "hostname": config.get("Hostname"), "domainname": config.get("Domainname"),
        "command": config.get("Cmd") or [], "entrypoints": config.get("Entrypoint") or [], "user": config.get("User"),
        "dns": host.get("Dns") or [], "dnsOpts": host.get("DnsOptions") or [],
        "securityOpts": host.get("SecurityOpt") or [], "dnsSearches": host.get("DnsSearch") or [],
        "publishAllPorts": host.get("PublishAllPorts"), "restart": host["RestartPolicy"]["Name"],
        "maxRetryCount": host["RestartPolicy"].get("MaximumRetryCount", 0), "init": bool(host.get("Init")),
        "workingDir": config.get("WorkingDir"), "runtime": host.get("Runtime"), "platform": inspected.get("Platform"),
        "mounts": host.get("Mounts") or [], "tmpfs": host.get("Tmpfs") or {},
        "hosts": host.get("ExtraHosts") or [], "privileged": host.get("Privileged"),
        "deviceReadBps": host.get("BlkioDeviceReadBps") or [], "deviceReadIops": host.get("BlkioDeviceReadIOps") or [],
        "deviceWriteBps": host.get("BlkioDeviceWriteBps") or [],
        "deviceWriteIops": host.get("BlkioDeviceWriteIOps") or [],
        "memory": (host.get("Memory") or 0) // 2**20, "memoryReservation": (host.get("MemoryReservation") or 0) // 2**20,
        "memorySwap": max(host.get("MemorySwap") or 0, 0) // 2**20, "shmSize": (host.get("ShmSize") or 0) // 2**20,
        "cpuShares": host.get("CpuShares") or 0, "cpuSet": host.get("CpusetCpus") or "",
        "logDriver": host["LogConfig"].get("Type"), "logOpts": host["LogConfig"].get("Config") or {},
        "storageOpts": host.get("StorageOpt") or {}, "networkMode": host.get("NetworkMode"),
        "usernsMode": host.get("UsernsMode") or "", "sysctls": host.get("Sysctls") or {},
        "ipcMode": host.get("IpcMode"), "groupAdds": host.get("GroupAdd") or [], "tty": config.get("Tty"),
        "stdinOpen": config.get("OpenStdin"), "stopSignal": config.get("StopSignal"),
        "stopTimeout": config.get("StopTimeout"), "ports": _ports(inspected["NetworkSettings"].get("Ports")),
    }
    if host.get("CapAdd") or host.get("CapDrop"):
        state["capabilities"] = {"adds": host.get("CapAdd") or [], "drops": host.get("CapDrop") or []}
    if check is not None:
        state["healthcheck"] = {
            "tests": check.get("Test") or [], "retries": check.get("Retries", 0),
            **{name: go_duration(check.get(key) or 0) for key, name in (
                ("Interval", "interval"), ("Timeout", "timeout"), ("StartPeriod", "startPeriod"),
                ("StartInterval", "startInterval"))},
        }
    return state


def engine_checks(api: EngineApi, container_id: str, declared: dict[str, Any]) -> list[str]:
    """What the provider does not read back but the engine must hold as declared."""
    inspected = api.get(f"/containers/{container_id}/json")
    problems = []
    labels = inspected["Config"].get("Labels") or {}
    for label in declared.get("labels") or []:
        if labels.get(label["label"]) != label["value"]:
            problems.append(f"label {label['label']}={label['value']!r}: the engine has {labels.get(label['label'])!r}")
    env = set(inspected["Config"].get("Env") or [])
    missing_env = [entry.split("=", 1)[0] for entry in declared.get("envs") or [] if entry not in env]
    if missing_env:
        problems.append(f"env {missing_env} not as declared")
    mounts = {m["Destination"]: m for m in inspected.get("Mounts") or []}
    for volume in declared.get("volumes") or []:
        mount = mounts.get(volume["containerPath"])
        source = volume.get("hostPath") or volume.get("volumeName")
        held = mount and (mount.get("Name") if volume.get("volumeName") else mount.get("Source"))
        if held != source:
            problems.append(f"mount at {volume['containerPath']}: declared {source!r}, the engine has {held!r}")
    networks = inspected["NetworkSettings"].get("Networks") or {}
    for network in declared.get("networksAdvanced") or []:
        aliases = set((networks.get(network["name"]) or {}).get("Aliases") or [])
        if network["name"] not in networks or not set(network.get("aliases") or []) <= aliases:
            problems.append(f"network {network['name']} with aliases {network.get('aliases')}: the engine has {networks}")
    return problems


CONTAINER = ReadBack(
    create=create,
    read=read,
    complete=complete,
    engine_checks=engine_checks,
    kinds={
        "name": Default(), "rm": Default(False), "readOnly": Default(False), "image": Default(),
        "hostname": COMPUTED, "domainname": Default(), "command": COMPUTED, "entrypoints": COMPUTED,
        # user and working_dir: a DiffSuppressFunc treats an empty config as "keep the engine's value".
        "user": COMPUTED, "workingDir": COMPUTED,
        "dns": Default(), "dnsOpts": Default(), "securityOpts": COMPUTED, "dnsSearches": Default(),
        "publishAllPorts": Default(False), "restart": Default("no"), "maxRetryCount": Default(0),
        "init": COMPUTED, "capabilities": Default(), "runtime": COMPUTED, "platform": COMPUTED,
        "mounts": Default(), "tmpfs": Default(), "hosts": Default(), "privileged": Default(False),
        "deviceReadBps": Default(), "deviceReadIops": Default(), "deviceWriteBps": Default(),
        "deviceWriteIops": Default(), "memory": Default(0), "memoryReservation": Default(0),
        "memorySwap": Default(0), "shmSize": COMPUTED, "cpuShares": Default(0), "cpuSet": Default(),
        "logDriver": COMPUTED, "logOpts": Default(), "storageOpts": Default(), "networkMode": Default("bridge"),
        "usernsMode": Default(), "healthcheck": COMPUTED, "sysctls": Default(), "ipcMode": COMPUTED,
        "groupAdds": Default(), "tty": Default(False), "stdinOpen": Default(False), "stopSignal": COMPUTED,
        "stopTimeout": COMPUTED,
        # Read when declared (and the container runs or must_run is set).
        "ports": IF_DECLARED,
    },
    not_read={
        "envs": "not read (the provider's comment: env and labels come from the image too)",
        "labels": "not read, for the same reason; engine_checks compares them",
        "volumes": "not read; engine_checks compares the mounts",
        "networksAdvanced": "read only on import; engine_checks compares networks and aliases",
        "wait": "a provider-side option of create", "waitTimeout": "a provider-side option of create",
        "mustRun": "set to false by the read only when the container is not running (this test creates "
                   "without starting: the stack's fixed host ports are shared on this machine)",
    },
)

__all__ = ["CONTAINER", "label_set"]
