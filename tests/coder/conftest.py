"""Fixtures: a fake Coder server per test, template directories copied into the test's temp
dir, and factories for the inputs the Pulumi engine would hand the dynamic providers."""

from __future__ import annotations

import shutil
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from components import template_variables as tv
from components.coder_admin import AdminProvider
from components.coder_template import TemplateProvider
from components.template_archive import content_hash
from tests.coder.fake_coder import FakeCoder

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_NAMES = ("docker-envbuilder", "docker-shell")

ADMIN_EMAIL = "admin@egoengine.test"
ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "correct-horse-battery-staple-7f3a"
OP_TOKEN = "ops_fake-1password-service-account-token-9d2c"

PLAIN_VARIABLES = {
    tv.WORKSPACE_IMAGE: "ghcr.io/joshsymonds/nix-config/egoengine:0123abc@sha256:" + "a" * 64,
    tv.WORKSPACE_USER: "joshsymonds",
    tv.DOCKER_SOCKET: "unix:///run/podman/podman.sock",
}
SECRET_VARIABLES = {tv.OP_SERVICE_ACCOUNT_TOKEN: OP_TOKEN}

# Used when the real template directories are not there yet: declares the variables the
# program passes (the image without a default, as the real templates must).
_MINIMAL_MAIN_TF = """\
terraform {
  required_providers {
    coder  = { source = "coder/coder" }
    docker = { source = "kreuzwerker/docker" }
  }
}

variable "workspace_image" {
  type        = string
  description = "immutable image reference"
}

variable "workspace_user" {
  type    = string
  default = "joshsymonds"
}

variable "docker_socket" {
  type    = string
  default = ""
}

variable "op_service_account_token" {
  type      = string
  default   = ""
  sensitive = true
}

resource "coder_agent" "main" {
  os   = "linux"
  arch = "amd64"
}
"""


@pytest.fixture
def fake_coder() -> Iterator[FakeCoder]:
    fake = FakeCoder()
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def closed_port_url() -> str:
    """A loopback URL where nothing listens (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def template_dirs(tmp_path: Path) -> dict[str, Path]:
    """Copies of coder-templates/<name> (or a minimal template if not written yet) that a test
    may change freely."""
    result: dict[str, Path] = {}
    for name in TEMPLATE_NAMES:
        source = REPO_ROOT / "coder-templates" / name
        target = tmp_path / "coder-templates" / name
        if any(source.glob("*.tf")):
            shutil.copytree(
                source, target, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*")
            )
        else:
            target.mkdir(parents=True)
            (target / "main.tf").write_text(f"# template {name}\n{_MINIMAL_MAIN_TF}")
        result[name] = target
    return result


@pytest.fixture
def admin_provider() -> AdminProvider:
    return AdminProvider(request_timeout_seconds=5.0, poll_interval_seconds=0.001)


@pytest.fixture
def template_provider() -> TemplateProvider:
    return TemplateProvider(
        request_timeout_seconds=5.0, startup_grace_seconds=2.0, poll_interval_seconds=0.001
    )


@pytest.fixture
def admin_props(fake_coder: FakeCoder) -> Callable[..., dict[str, Any]]:
    def make(**overrides: Any) -> dict[str, Any]:
        props: dict[str, Any] = {
            "url": fake_coder.url,
            "email": ADMIN_EMAIL,
            "username": ADMIN_USERNAME,
            "full_name": "egoengine admin",
            "password": ADMIN_PASSWORD,
            "token_name": "egoengine-operator",
            "token_lifetime_hours": 168,
            "health_timeout_seconds": 5.0,
        }
        props.update(overrides)
        return props

    return make


@pytest.fixture
def template_props(fake_coder: FakeCoder) -> Callable[..., dict[str, Any]]:
    """Inputs for one template; ``content_hash`` is computed from the directory now, as the
    program does at preview time."""

    def make(name: str, directory: Path, **overrides: Any) -> dict[str, Any]:
        props: dict[str, Any] = {
            "url": fake_coder.url,
            "admin_email": ADMIN_EMAIL,
            "admin_password": ADMIN_PASSWORD,
            "name": name,
            "directory": str(directory),
            "content_hash": content_hash(directory),
            "variables": dict(PLAIN_VARIABLES),
            "secret_variables": dict(SECRET_VARIABLES),
            "provisioner_tags": {"scope": "organization"},
            "display_name": name.replace("-", " ").title(),
            "description": f"egoengine {name} workspace",
            "icon": "/icon/docker.png",
            "import_timeout_seconds": 5.0,
        }
        props.update(overrides)
        return props

    return make
