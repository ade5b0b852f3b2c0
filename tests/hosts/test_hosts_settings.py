"""``egoengine:hosts`` and ``egoengine:secrets.hostsSshKey``: accepted shapes and the bad-input
cases (one line each, naming the key; never a key body echoed back)."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from components.errors import ConfigError
from components.settings.hosts import known_hosts
from components.settings import parse_settings
from tests.hosts.keys import HOST_KEY, OTHER_HOST_KEY

def assert_clean(error: ConfigError, key: str, fragment: str) -> None:
    """One line naming the key, the problem and what is expected; no traceback."""
    message = str(error)
    assert isinstance(error, pulumi.RunError), "must exit without a traceback"
    assert message.startswith(f"config {key}: "), message
    assert fragment in message, message
    assert "; expected " in message and len(message.split("; expected ")[1]) > 5, message
    assert "\n" not in message and "Traceback" not in message and "pydantic" not in message.lower()


CODER = {"version": "v2.25.1", "digest": "sha256:" + "e" * 64, "accessUrl": "https://coder.example.com"}
IMAGES = {"base": {"tag": "22bba72"}}
GPU = {"name": "gpu-box", "uri": "ssh://coder@gpu-box.lan", "hostKey": HOST_KEY, "gpus": True}


def config(*hosts: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"coder": CODER, "images": IMAGES, "hosts": list(hosts), **top}


def host(**changes: Any) -> dict[str, Any]:
    return {**GPU, **changes}


def test_hosts_parse_and_build_known_hosts_lines() -> None:
    settings = parse_settings(
        "dev", config(GPU, host(name="cpu", uri="ssh://root@10.250.9.2:2222", hostKey=OTHER_HOST_KEY, gpus=False))
    )
    gpu, cpu = settings.hosts
    assert (gpu.user, gpu.hostname, gpu.port, gpu.gpus) == ("coder", "gpu-box.lan", 22, True)
    assert known_hosts(settings.hosts) == (
        f"gpu-box.lan {' '.join(HOST_KEY.split()[:2])}\n"
        f"[10.250.9.2]:2222 {' '.join(OTHER_HOST_KEY.split()[:2])}\n"
    )
    assert settings.secrets.hosts_ssh_key == "generate"


def test_no_hosts_is_the_default_and_needs_no_key() -> None:
    settings = parse_settings("dev", {"coder": {**CODER, "accessUrl": "http://127.0.0.1:7080"}, "images": IMAGES, "secrets": {"hostsSshKey": "none"}})
    assert settings.hosts == []


TRUNCATED = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA"
WRONG_TYPE = "ecdsa-sha2-nistp256 " + HOST_KEY.split()[1]

# (case id, config objects, expected key, fragment of the problem)
CASES: list[tuple[str, dict, str, str]] = [
    ("duplicate host name", config(GPU, host(hostKey=OTHER_HOST_KEY)), "egoengine:hosts[1].name", "used twice"),
    ("host named local", config(host(name="local")), "egoengine:hosts[0].name", "implicit local engine"),
    ("host name with capitals", config(host(name="GPU")), "egoengine:hosts[0].name", "lower-case"),
    ("tcp URI", config(host(uri="tcp://gpu-box.lan:2375")), "egoengine:hosts[0].uri", "not an ssh:// URI"),
    ("unix URI", config(host(uri="unix:///var/run/docker.sock")), "egoengine:hosts[0].uri", "not an ssh:// URI"),
    ("ssh URI without user", config(host(uri="ssh://gpu-box.lan")), "egoengine:hosts[0].uri", "has no user"),
    ("ssh URI with a password", config(host(uri="ssh://coder:hunter2@gpu-box.lan")), "egoengine:hosts[0].uri", "carries a password"),
    ("ssh URI with a socket path", config(host(uri="ssh://coder@gpu-box.lan/run/docker.sock")), "egoengine:hosts[0].uri", "has a path"),
    ("ssh URI with a bad port", config(host(uri="ssh://coder@gpu-box.lan:99999")), "egoengine:hosts[0].uri", "invalid port"),
    ("host key missing", config({k: v for k, v in GPU.items() if k != "hostKey"}), "egoengine:hosts[0].hostKey", "is missing"),
    ("host key without body", config(host(hostKey="ssh-ed25519")), "egoengine:hosts[0].hostKey", "not a public key line"),
    ("host key of unknown type", config(host(hostKey="ssh-dss AAAAB3NzaC1kc3M=")), "egoengine:hosts[0].hostKey", "not a known host key type"),
    ("host key not base64", config(host(hostKey="ssh-ed25519 not*base64")), "egoengine:hosts[0].hostKey", "not valid base64"),
    ("host key truncated", config(host(hostKey=TRUNCATED)), "egoengine:hosts[0].hostKey", "truncated"),
    ("host key type and data disagree", config(host(hostKey=WRONG_TYPE)), "egoengine:hosts[0].hostKey", "does not match its type"),
    ("gpus not a boolean", config(host(gpus="some")), "egoengine:hosts[0].gpus", "is not true or false"),
    ("unknown host setting", config(host(hostkey=HOST_KEY)), "egoengine:hosts[0].hostkey", "not a known setting"),
    ("hosts not a list", {"coder": CODER, "images": IMAGES, "hosts": {"gpu-box": GPU}}, "egoengine:hosts", "is not a list"),
    ("loopback access URL with remote hosts", config(GPU, coder={**CODER, "accessUrl": "http://127.0.0.1:7080"}), "egoengine:coder.accessUrl", "egoengine:hosts"),
    ("localhost access URL with remote hosts", config(GPU, coder={**CODER, "accessUrl": "http://localhost:7080"}), "egoengine:coder.accessUrl", "loopback"),
    ("hosts key with a length", config(GPU, secrets={"hostsSshKey": "generate:32"}), "egoengine:secrets.hostsSshKey", "no length"),
    ("hosts key none with hosts", config(GPU, secrets={"hostsSshKey": "none"}), "egoengine:secrets.hostsSshKey", "required"),
    ("hosts key pasted as a value", config(GPU, secrets={"hostsSshKey": "-----BEGIN OPENSSH PRIVATE KEY-----"}), "egoengine:secrets.hostsSshKey", "not a known secret source"),
]


@pytest.mark.parametrize(("values", "key", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_hosts(values: dict, key: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings("dev", values)
    assert_clean(caught.value, key, fragment)
    # A host key's base64 body is never echoed back.
    assert HOST_KEY.split()[1] not in str(caught.value)
    assert "hunter2" not in str(caught.value)
