"""The bad-input catalogue: each case fails with ONE message that names the config key, says what
is wrong and what is expected, exits cleanly (a pulumi.RunError: no traceback) and never echoes a
secret value."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from components.errors import ConfigError
from components.settings import parse_settings
from tests.unit.conftest import run_stack

SECRET = "s3cr3t-VALUE-never-echoed"
CODER = {"version": "v2.25.1", "digest": "sha256:" + "e" * 64, "accessUrl": "http://127.0.0.1:7080"}


IMAGES = {"base": {"tag": "22bba72"}}
CHILD = {"name": "creative-lab", "context": "images/creative-lab", "repository": "ghcr.io/joshsymonds/creative-lab"}


def coder(**changes: Any) -> dict:
    return {"coder": {**CODER, **changes}, "images": IMAGES}


def external(**changes: Any) -> dict:
    return {"mode": "external", "host": "127.0.0.1", **changes}


# (case id, config objects, expected key, fragment of the problem)
CATALOGUE: list[tuple[str, dict, str, str]] = [
    ("coder missing", {}, "egoengine:coder", "is missing"),
    ("access URL missing", {"coder": {k: v for k, v in CODER.items() if k != "accessUrl"}}, "egoengine:coder.accessUrl", "is missing"),
    ("access URL not http", coder(accessUrl="ftp://coder.example.com"), "egoengine:coder.accessUrl", "http(s) URL"),
    ("access URL with credentials", coder(accessUrl=f"https://admin:{SECRET}@coder.example.com"), "egoengine:coder.accessUrl", "credentials"),
    ("port out of range", coder(port=70000), "egoengine:coder.port", "65535"),
    ("port zero", coder(port=0), "egoengine:coder.port", "greater than or equal to 1"),
    ("bad bind address", coder(bindAddress="localhost"), "egoengine:coder.bindAddress", "not an IP address"),
    ("coder tag latest", coder(version="latest"), "egoengine:coder.version", "not a pinned release tag"),
    ("coder digest truncated", coder(digest="sha256:abc"), "egoengine:coder.digest", "not a sha256 digest"),
    ("wildcard without star", coder(wildcardAccessUrl="coder.example.com"), "egoengine:coder.wildcardAccessUrl", "not a wildcard host"),
    ("unknown coder setting (typo)", coder(acessUrl="http://x"), "egoengine:coder.acessUrl", "not a known setting"),
    ("health timeout too short", coder(healthTimeoutSeconds=1), "egoengine:coder.healthTimeoutSeconds", "greater than or equal to 10"),
    ("bad restart policy", coder(restart="sometimes"), "egoengine:coder.restart", "is invalid"),
    ("bad database mode", {**coder(), "database": {"mode": "sqlite"}}, "egoengine:database.mode", "not a known mode"),
    ("database mode missing", {**coder(), "database": {"name": "coder"}}, "egoengine:database.mode", "is missing"),
    ("external without host", {**coder(), "database": {"mode": "external"}}, "egoengine:database.host", "is missing"),
    ("postgres image latest", {**coder(), "database": {"mode": "container", "image": "postgres:latest@sha256:" + "a" * 64}}, "egoengine:database.image", "latest"),
    ("postgres image unpinned", {**coder(), "database": {"mode": "container", "image": "postgres:15"}}, "egoengine:database.image", "pinned by tag and digest"),
    ("postgres host port privileged", {**coder(), "database": {"mode": "container", "hostPort": 80}}, "egoengine:database.hostPort", "1024"),
    ("role name not an identifier", {**coder(), "database": {"mode": "container", "user": "Coder; DROP"}}, "egoengine:database.user", "identifier"),
    ("bad sslmode", {**coder(), "database": external(sslmode="maybe")}, "egoengine:database.sslmode", "is invalid"),
    ("database existing not create or adopt", {**coder(), "database": external(existing="import")}, "egoengine:database.existing", "is invalid"),
    ("coder allowDowngrade not a boolean", coder(allowDowngrade="sometimes"), "egoengine:coder.allowDowngrade", "is invalid"),
    ("unknown secret source (value not echoed)", {**coder(), "secrets": {"adminPassword": SECRET}}, "egoengine:secrets.adminPassword", "not a known secret source"),
    ("op reference without field", {**coder(), "secrets": {"codexAuth": "op://egoengine/Codex Auth"}}, "egoengine:secrets.codexAuth", "malformed 1Password reference"),
    ("op reference with empty part", {**coder(), "secrets": {"codexAuth": "op://egoengine//auth.json"}}, "egoengine:secrets.codexAuth", "malformed 1Password reference"),
    ("op reference with query", {**coder(), "secrets": {"codexAuth": "op://egoengine/Codex Auth/auth.json?attribute=otp"}}, "egoengine:secrets.codexAuth", "query attributes"),
    ("generated secret too short", {**coder(), "secrets": {"databasePassword": "generate:8"}}, "egoengine:secrets.databasePassword", "16..128"),
    ("required secret set to none", {**coder(), "secrets": {"provisionerPsk": "none"}}, "egoengine:secrets.provisionerPsk", "required"),
    ("external admin password generated", {**coder(), "database": external()}, "egoengine:secrets.databaseAdminPassword", "cannot be generated"),
    ("backup count below 1", {**coder(), "backup": {"keep": 0}}, "egoengine:backup.keep", "greater than or equal to 1"),
    ("backup directory with shell characters", {**coder(), "backup": {"directory": "/tmp/x'; rm -rf /"}}, "egoengine:backup.directory", "characters outside"),
    ("engine host not a socket URI", {**coder(), "engine": {"host": "http://localhost:2375"}}, "egoengine:engine.host", "unix://, tcp:// or ssh://"),
    ("engine socket gid negative", {**coder(), "engine": {"socketGid": -1}}, "egoengine:engine.socketGid", "greater than or equal to 0"),
    ("admin e-mail malformed", {**coder(), "admin": {"email": "not-an-email"}}, "egoengine:admin.email", "not an e-mail address"),
    ("admin token lifetime zero", {**coder(), "admin": {"tokenLifetimeHours": 0}}, "egoengine:admin.tokenLifetimeHours", "greater than or equal to 1"),
    ("object given as a string", {"coder": "v2.25.1"}, "egoengine:coder", "is invalid"),
    ("images missing", {"coder": CODER}, "egoengine:images", "is missing"),
    ("base tag latest without a digest", {**coder(), "images": {"base": {"tag": "latest"}}}, "egoengine:images.base.tag", "not an immutable git sha"),
    ("base repository malformed", {**coder(), "images": {"base": {"tag": "22bba72", "repository": "Not A Repo"}}}, "egoengine:images.base.repository", "not an image repository"),
    ("child name with capitals", {**coder(), "images": {**IMAGES, "children": [{**CHILD, "name": "Creative"}]}}, "egoengine:images.children[0].name", "lower-case"),
    ("child names twice", {**coder(), "images": {**IMAGES, "children": [CHILD, CHILD]}}, "egoengine:images.children[1].name", "used twice"),
    ("child context outside the project", {**coder(), "images": {**IMAGES, "children": [{**CHILD, "context": "../elsewhere"}]}}, "egoengine:images.children[0].context", "inside the project"),
    ("child context without a Containerfile head", {**coder(), "images": {**IMAGES, "children": [{**CHILD, "context": "coder-templates/docker-shell"}]}}, "egoengine:images.children[0].context", "does not exist"),
    ("nix child without attr", {**coder(), "images": {**IMAGES, "children": [{**CHILD, "builder": "nix", "flake": "tests/unit/fixtures/nix-child"}]}}, "egoengine:images.children[0].attr", "is missing"),
    ("nix child flake at the project root", {**coder(), "images": {**IMAGES, "children": [{**CHILD, "builder": "nix", "flake": ".", "attr": "lab"}]}}, "egoengine:images.children[0].flake", "project root"),
    ("database admin password none", {**coder(), "secrets": {"databaseAdminPassword": "none"}}, "egoengine:secrets.databaseAdminPassword", "required"),
    ("container database on a remote engine", {**coder(), "engine": {"host": "tcp://10.0.0.5:2375", "socketGid": 998}}, "egoengine:database.mode", "not local"),
    ("container database with TLS", {**coder(), "database": {"mode": "container", "sslmode": "require"}}, "egoengine:database.sslmode", "must be disable"),
    ("child builds over ssh", {**coder(), "engine": {"host": "ssh://deploy@vermissian", "socketGid": 998}, "database": external(), "secrets": {"databaseAdminPassword": "config:pgAdmin"}, "images": {**IMAGES, "children": [CHILD]}}, "egoengine:engine.host", "ssh://"),
    ("child link target relative", {**coder(), "images": {**IMAGES, "children": [{**CHILD, "links": {"lab": "bin/lab"}}]}}, "egoengine:images.children[0].links.lab", "not an absolute path"),
    ("workspace image names no image", {**coder(), "templates": {"workspaceImage": "gpu"}}, "egoengine:templates.workspaceImage", "names no configured image"),
    ("override for a missing template", {**coder(), "templates": {"overrides": {"docker-gpu": {}}}}, "egoengine:templates.overrides.docker-gpu", "names no template directory"),
    ("override variable not declared", {**coder(), "templates": {"overrides": {"docker-shell": {"variables": {"nope": "x"}}}}}, "egoengine:templates.overrides.docker-shell.variables.nope", "not declared"),
    ("override sets a program variable", {**coder(), "templates": {"overrides": {"docker-shell": {"variables": {"workspace_image": "x"}}}}}, "egoengine:templates.overrides.docker-shell.variables.workspace_image", "set by the program"),
    ("template description too long", {**coder(), "templates": {"overrides": {"docker-shell": {"description": "x" * 200}}}}, "egoengine:templates.overrides.docker-shell.description", "longer than 127 bytes"),
]


def assert_clean(error: ConfigError, key: str, fragment: str) -> None:
    message = str(error)
    assert isinstance(error, pulumi.RunError), "must exit without a traceback"
    assert message.startswith(f"config {key}: "), message
    assert fragment in message, message
    assert "; expected " in message and len(message.split("; expected ")[1]) > 5, message
    assert "\n" not in message and SECRET not in message
    assert "Traceback" not in message and "pydantic" not in message.lower()


def test_the_catalogue_has_at_least_twenty_cases() -> None:
    assert len(CATALOGUE) >= 20
    assert len({case[0] for case in CATALOGUE}) == len(CATALOGUE)


@pytest.mark.parametrize(("values", "key", "fragment"), [c[1:] for c in CATALOGUE], ids=[c[0] for c in CATALOGUE])
def test_bad_settings(values: dict, key: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings("dev", values)
    assert_clean(caught.value, key, fragment)


@pytest.mark.parametrize(
    ("overrides", "op_token", "key", "fragment"),
    [
        ({"egoengine:coder": "{not json"}, None, "egoengine:coder", "not valid YAML/JSON"),
        ({"egoengine:coder": {**CODER, "port": 99999}}, None, "egoengine:coder.port", "65535"),
        ({"egoengine:secrets": {"adminPassword": "config:adminPassword"}}, None, "egoengine:adminPassword", "is not set"),
        ({"egoengine:secrets": {"codexAuth": "op://egoengine/Codex Auth/auth.json"}}, None, "onepassword:serviceAccountToken", "is not set"),
    ],
    ids=["unparseable object", "bad value", "config secret not set", "op source without a token"],
)
def test_the_program_fails_cleanly_on_bad_input(
    overrides: dict, op_token: str | None, key: str, fragment: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OP_SERVICE_ACCOUNT_TOKEN", raising=False)
    with pytest.raises(ConfigError) as caught:
        run_stack("dev", overrides=overrides, op_token=op_token)
    assert_clean(caught.value, key, fragment)


def test_an_engine_socket_that_is_not_there_names_socket_gid() -> None:
    with pytest.raises(ConfigError) as caught:
        run_stack("dev", socket_gid=None)
    assert_clean(caught.value, "egoengine:engine.socketGid", "cannot be found here")
