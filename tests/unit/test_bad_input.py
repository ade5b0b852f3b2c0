"""The bad-input catalogue: each case fails with ONE line that names the config key, says what is
wrong and what is expected. Every case asserts that whole line, that it is a ``pulumi.RunError``
(the CLI prints no traceback) and that no secret value is echoed.

Four ways in: the settings objects (``parse_settings``), the keys as the engine hands them to the
program (``run_stack``: dotted keys, unknown keys, plaintext secrets), the stack file as written
(``stack_file.parse``: YAML errors with their line and cause, duplicate keys), and the offline
plan's own options (policy config).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pulumi
import pytest

from components.engine_facts import EngineFacts
from components.errors import ConfigError
from components.settings import PROJECT_ROOT, parse_settings, stack_file
from components.settings import values as settings_values
from policy import policies
from tests.unit.conftest import run_stack
from tools.plan import main as plan_main

SECRET = "s3cr3t-VALUE-never-echoed"
CODER = {"version": "v2.25.1", "digest": "sha256:" + "e" * 64, "accessUrl": "http://127.0.0.1:7080"}
IMAGES = {"base": {"tag": "22bba72"}}
CHILD = {"name": "creative-lab", "context": "images/creative-lab", "repository": "ghcr.io/joshsymonds/creative-lab"}
SOURCES = "generate[:length], config:<key>, op://vault/item/[section/]field, or none"
TOP_LEVEL = (
    "egoengine:engine, egoengine:coder, egoengine:database, egoengine:backup, egoengine:secrets, "
    "egoengine:admin, egoengine:images, egoengine:templates, egoengine:hosts"
)


def coder(**changes: Any) -> dict:
    return {"coder": {**CODER, **changes}, "images": IMAGES}


def external(**changes: Any) -> dict:
    return {"mode": "external", "host": "127.0.0.1", **changes}


def child(**changes: Any) -> dict:
    return {**coder(), "images": {**IMAGES, "children": [{**CHILD, **changes}]}}


def assert_line(error: BaseException, line: str) -> None:
    """The whole message, and the properties every bad-input message has."""
    assert isinstance(error, pulumi.RunError), "must exit without a traceback"
    message = str(error)
    assert message == line
    assert "\n" not in message and SECRET not in message
    assert "Traceback" not in message and "pydantic" not in message.lower()


# (case id, config objects, the whole line)
CATALOGUE: list[tuple[str, dict, str]] = [
    ('coder missing', {},
     'config egoengine:coder: is missing; expected an object with at least version, digest and accessUrl'),
    ('access URL missing', {"coder": {k: v for k, v in CODER.items() if k != "accessUrl"}},
     'config egoengine:coder.accessUrl: is missing; expected the URL users reach Coder at, e.g. https://coder.example.com (required: without it Coder opens a public tunnel)'),
    ('access URL not http', coder(accessUrl="ftp://coder.example.com"),
     'config egoengine:coder.accessUrl: is not an http(s) URL with a host (access URL); expected the URL users reach Coder at, e.g. https://coder.example.com (required: without it Coder opens a public tunnel)'),
    ('access URL with credentials', coder(accessUrl=f"https://admin:{SECRET}@coder.example.com"),
     'config egoengine:coder.accessUrl: carries credentials in the URL; expected the URL users reach Coder at, e.g. https://coder.example.com (required: without it Coder opens a public tunnel)'),
    ('port out of range', coder(port=70000),
     'config egoengine:coder.port: is invalid (input should be less than or equal to 65535); expected a TCP port number 1..65535'),
    ('port zero', coder(port=0),
     'config egoengine:coder.port: is invalid (input should be greater than or equal to 1); expected a TCP port number 1..65535'),
    ('bad bind address', coder(bindAddress="localhost"),
     'config egoengine:coder.bindAddress: is not an IP address; expected an IP address to bind on, e.g. 127.0.0.1 (loopback) or 0.0.0.0'),
    ('coder tag latest', coder(version="latest"),
     'config egoengine:coder.version: is not a pinned release tag; expected a Coder release tag such as v2.26.6'),
    ('coder digest truncated', coder(digest="sha256:abc"),
     'config egoengine:coder.digest: is not a sha256 digest; expected the image digest for that tag, sha256:<64 hex>'),
    ('wildcard without star', coder(wildcardAccessUrl="coder.example.com"),
     'config egoengine:coder.wildcardAccessUrl: is not a wildcard host; expected a wildcard host such as "*.coder.example.com"'),
    ('unknown coder setting (typo)', coder(acessUrl="http://x"),
     'config egoengine:coder.acessUrl: is not a known setting (did you mean accessUrl?); expected one of the keys of egoengine:coder: repository, version, digest, accessUrl, wildcardAccessUrl, port, bindAddress, network, telemetry, restart, healthTimeoutSeconds, containerName, allowDowngrade'),
    ('health timeout too short', coder(healthTimeoutSeconds=1),
     'config egoengine:coder.healthTimeoutSeconds: is invalid (input should be greater than or equal to 10); expected seconds to wait for /healthz, 10..3600'),
    ('bad restart policy', coder(restart="sometimes"),
     "config egoengine:coder.restart: is invalid (input should be 'no', 'on-failure', 'always' or 'unless-stopped'); expected a restart policy: no, on-failure, always, unless-stopped"),
    ('bad database mode', {**coder(), "database": {"mode": "sqlite"}},
     'config egoengine:database.mode: is not a known mode; expected mode: container or external'),
    ('database mode missing', {**coder(), "database": {"name": "coder"}},
     'config egoengine:database.mode: is missing; expected mode: container or external'),
    ('external without host', {**coder(), "database": {"mode": "external"}},
     "config egoengine:database.host: is missing; expected the PostgreSQL server's host name or IP"),
    ('postgres image latest', {**coder(), "database": {"mode": "container", "image": "postgres:latest@sha256:" + "a" * 64}},
     "config egoengine:database.image: uses the mutable tag 'latest'; expected a postgres image pinned as repo:tag@sha256:<digest>"),
    ('postgres image unpinned', {**coder(), "database": {"mode": "container", "image": "postgres:15"}},
     'config egoengine:database.image: is not an image reference pinned by tag and digest; expected a postgres image pinned as repo:tag@sha256:<digest>'),
    ('postgres host port privileged', {**coder(), "database": {"mode": "container", "hostPort": 80}},
     'config egoengine:database.hostPort: is invalid (input should be greater than or equal to 1024); expected a loopback port 1024..65535 for the deploy machine'),
    ('role name not an identifier', {**coder(), "database": {"mode": "container", "user": "Coder; DROP"}},
     'config egoengine:database.user: is not a lower-case PostgreSQL identifier; expected a lower-case PostgreSQL identifier'),
    ('bad sslmode', {**coder(), "database": external(sslmode="maybe")},
     "config egoengine:database.sslmode: is invalid (input should be 'disable', 'allow', 'prefer', 'require', 'verify-ca' or 'verify-full'); expected a libpq sslmode: disable, require, verify-ca, verify-full, ..."),
    ('database existing not create or adopt', {**coder(), "database": external(existing="import")},
     "config egoengine:database.existing: is invalid (input should be 'create' or 'adopt'); expected create (make the role and database) or adopt (take over the ones that exist, e.g. the NixOS module's)"),
    ('coder allowDowngrade not a boolean', coder(allowDowngrade="sometimes"),
     'config egoengine:coder.allowDowngrade: is not true or false; expected true or false (true lets up start an older Coder than the running one)'),
    ('unknown secret source (value not echoed)', {**coder(), "secrets": {"adminPassword": SECRET}},
     'config egoengine:secrets.adminPassword: is not a known secret source; expected generate[:length], config:<key>, op://vault/item/[section/]field, or none'),
    ('op reference without field', {**coder(), "secrets": {"codexAuth": "op://egoengine/Codex Auth"}},
     'config egoengine:secrets.codexAuth: is a malformed 1Password reference; expected generate[:length], config:<key>, op://vault/item/[section/]field, or none'),
    ('op reference with empty part', {**coder(), "secrets": {"codexAuth": "op://egoengine//auth.json"}},
     'config egoengine:secrets.codexAuth: is a malformed 1Password reference; expected generate[:length], config:<key>, op://vault/item/[section/]field, or none'),
    ('op reference with query', {**coder(), "secrets": {"codexAuth": "op://egoengine/Codex Auth/auth.json?attribute=otp"}},
     'config egoengine:secrets.codexAuth: is a 1Password reference with query attributes, which are not supported; expected generate[:length], config:<key>, op://vault/item/[section/]field, or none'),
    ('generated secret too short', {**coder(), "secrets": {"databasePassword": "generate:8"}},
     'config egoengine:secrets.databasePassword: asks for a generated length outside 16..128; expected generate[:length], config:<key>, op://vault/item/[section/]field, or none'),
    ('required secret set to none', {**coder(), "secrets": {"provisionerPsk": "none"}},
     "config egoengine:secrets.provisionerPsk: may not be 'none': this secret is required; expected generate[:length], config:<key> or op://vault/item/[section/]field"),
    ('external admin password generated', {**coder(), "database": external()},
     "config egoengine:secrets.databaseAdminPassword: cannot be generated for an external server (its admin password already exists); expected config:<key> or op://vault/item/[section/]field: the server's admin password"),
    ('backup count below 1', {**coder(), "backup": {"keep": 0}},
     'config egoengine:backup.keep: is invalid (input should be greater than or equal to 1); expected how many dumps to keep, 1..1000'),
    ('backup directory with shell characters', {**coder(), "backup": {"directory": "/tmp/x'; rm -rf /"}},
     "config egoengine:backup.directory: has characters outside [A-Za-z0-9_./-] or a '..' component; expected a directory for pg_dump files (relative to the project, or absolute)"),
    ('engine host not a socket URI', {**coder(), "engine": {"host": "http://localhost:2375"}},
     "config egoengine:engine.host: is not a unix://, tcp:// or ssh:// URI; expected the container engine's Docker-compatible API, e.g. unix:///run/podman/podman.sock"),
    ('engine socket gid negative', {**coder(), "engine": {"socketGid": -1}},
     'config egoengine:engine.socketGid: is invalid (input should be greater than or equal to 0); expected the numeric group id owning the engine socket'),
    ('admin e-mail malformed', {**coder(), "admin": {"email": "not-an-email"}},
     'config egoengine:admin.email: is not an e-mail address; expected an e-mail address for the first admin'),
    ('admin token lifetime zero', {**coder(), "admin": {"tokenLifetimeHours": 0}},
     'config egoengine:admin.tokenLifetimeHours: is invalid (input should be greater than or equal to 1); expected token lifetime in hours, 1..87600'),
    ('object given as a string', {"coder": "v2.25.1"},
     'config egoengine:coder: is not an object; expected an object with at least version, digest and accessUrl'),
    ('images missing', {"coder": CODER},
     'config egoengine:images: is missing; expected an object with at least base.tag (see the README)'),
    ('base tag latest without a digest', {**coder(), "images": {"base": {"tag": "latest"}}},
     "config egoengine:images.base.tag: is not an immutable git sha (and no digest is pinned); expected the git sha the base image's CI pushed (7-40 hex)"),
    ('base repository malformed', {**coder(), "images": {"base": {"tag": "22bba72", "repository": "Not A Repo"}}},
     'config egoengine:images.base.repository: is not an image repository such as ghcr.io/owner/name; expected the base image repository, e.g. ghcr.io/joshsymonds/nix-config/egoengine'),
    ('child name with capitals', {**coder(), "images": {**IMAGES, "children": [{**CHILD, "name": "Creative"}]}},
     'config egoengine:images.children[0].name: is not a lower-case name of letters, digits and dashes; expected a lower-case image name, e.g. creative-lab'),
    ('child names twice', {**coder(), "images": {**IMAGES, "children": [CHILD, CHILD]}},
     "config egoengine:images.children[1].name: is used twice (or is 'base'); expected a lower-case image name, e.g. creative-lab"),
    ('child context outside the project', {**coder(), "images": {**IMAGES, "children": [{**CHILD, "context": "../elsewhere"}]}},
     "config egoengine:images.children[0].context: is outside the project (absolute or with '..'); expected the build context directory under images/ (containerfile builder)"),
    ('child context without a Containerfile head', {**coder(), "images": {**IMAGES, "children": [{**CHILD, "context": "coder-templates/docker-shell"}]}},
     f"config egoengine:images.children[0].context: '{PROJECT_ROOT}/coder-templates/docker-shell/Containerfile' does not exist; "
     "expected a Containerfile whose first instructions are `ARG BASE_IMAGE` then `FROM ${BASE_IMAGE}`"),
    ('nix child without attr', {**coder(), "images": {**IMAGES, "children": [{**CHILD, "builder": "nix", "flake": "tests/unit/fixtures/nix-child"}]}},
     'config egoengine:images.children[0].attr: is missing for a nix child; expected a flake attribute such as creative-lab'),
    ('nix child flake at the project root', {**coder(), "images": {**IMAGES, "children": [{**CHILD, "builder": "nix", "flake": ".", "attr": "lab"}]}},
     "config egoengine:images.children[0].flake: is missing or the project root; expected the directory of the child's flake (its files decide the image tag)"),
    ('database admin password none', {**coder(), "secrets": {"databaseAdminPassword": "none"}},
     "config egoengine:secrets.databaseAdminPassword: may not be 'none': this secret is required; expected generate[:length], config:<key> or op://vault/item/[section/]field"),
    ('container database on a remote engine', {**coder(), "engine": {"host": "tcp://10.0.0.5:2375", "socketGid": 998}},
     'config egoengine:database.mode: is container but the engine is not local (unix://); expected external (a server this machine reaches), or a unix:// egoengine:engine.host'),
    ('container database with TLS', {**coder(), "database": {"mode": "container", "sslmode": "require"}},
     'config egoengine:database.sslmode: must be disable: the postgres container serves no TLS; expected disable (TLS needs database.mode external)'),
    ('child builds over ssh', {**coder(), "engine": {"host": "ssh://deploy@vermissian", "socketGid": 998}, "database": external(), "secrets": {"databaseAdminPassword": "config:pgAdmin"}, "images": {**IMAGES, "children": [CHILD]}},
     'config egoengine:engine.host: is ssh://, which child image builds cannot use; expected a unix:// or tcp:// engine, or no egoengine:images.children'),
    ('child link target relative', {**coder(), "images": {**IMAGES, "children": [{**CHILD, "links": {"lab": "bin/lab"}}]}},
     "config egoengine:images.children[0].links.lab: target 'bin/lab' is not an absolute path; expected an absolute path inside the image, e.g. /opt/tool/bin/tool"),
    ('workspace image names no image', {**coder(), "templates": {"workspaceImage": "gpu"}},
     'config egoengine:templates.workspaceImage: names no configured image; expected one of base'),
    ('override for a missing template', {**coder(), "templates": {"overrides": {"docker-gpu": {}}}},
     'config egoengine:templates.overrides.docker-gpu: names no template directory under coder-templates; expected one of docker-envbuilder, docker-shell'),
    ('override variable not declared', {**coder(), "templates": {"overrides": {"docker-shell": {"variables": {"nope": "x"}}}}},
     'config egoengine:templates.overrides.docker-shell.variables.nope: is not declared by the template docker-shell; expected a variable its main.tf declares'),
    ('override sets a program variable', {**coder(), "templates": {"overrides": {"docker-shell": {"variables": {"workspace_image": "x"}}}}},
     'config egoengine:templates.overrides.docker-shell.variables.workspace_image: is set by the program; expected a variable the stack does not set'),
    ('template description too long', {**coder(), "templates": {"overrides": {"docker-shell": {"description": "x" * 200}}}},
     "config egoengine:templates.overrides.docker-shell.description: is longer than 127 bytes; expected up to 127 bytes of UTF-8 (Coder's limit)"),
    ('typo next to a missing key', {"coder": {**{k: v for k, v in CODER.items() if k != "accessUrl"}, "acessUrl": "http://x"}, "images": IMAGES},
     'config egoengine:coder.acessUrl: is not a known setting (did you mean accessUrl? egoengine:coder.accessUrl is missing); expected one of the keys of egoengine:coder: repository, version, digest, accessUrl, wildcardAccessUrl, port, bindAddress, network, telemetry, restart, healthTimeoutSeconds, containerName, allowDowngrade'),
    ('unknown engine key lists the valid keys', {**coder(), "engine": {"hots": "unix:///x"}},
     'config egoengine:engine.hots: is not a known setting (did you mean host?); expected one of the keys of egoengine:engine: host, socketGid'),
    ('unknown key far from any', {**coder(), "admin": {"nickname": "x"}},
     'config egoengine:admin.nickname: is not a known setting; expected one of the keys of egoengine:admin: email, username, fullName, tokenName, tokenLifetimeHours'),
    ('unknown child key', child(contxt="images/creative-lab"),
     'config egoengine:images.children[0].contxt: is not a known setting (did you mean context?); expected one of the keys of egoengine:images.children[0]: name, builder, repository, context, flake, attr, envLocal, links'),
    ('unknown template override key', {**coder(), "templates": {"overrides": {"docker-shell": {"displayname": "x"}}}},
     'config egoengine:templates.overrides.docker-shell.displayname: is not a known setting (did you mean displayName?); expected one of the keys of egoengine:templates.overrides.docker-shell: displayName, description, icon, variables, provisionerTags, workspaceImage'),
    ('unknown secrets key (value not echoed)', {**coder(), "secrets": {"adminPasword": SECRET}},
     'config egoengine:secrets.adminPasword: is not a known setting (did you mean adminPassword?); expected one of the keys of egoengine:secrets: databasePassword, databaseAdminPassword, provisionerPsk, adminPassword, opServiceAccountToken, codexAuth, registryPassword, hostsSshKey'),
    ('child context does not exist', child(context="images/nope"),
     'config egoengine:images.children[0].context: does not exist in the project (no such directory); expected the build context directory under images/ (containerfile builder)'),
    ('child repository malformed', child(repository="Creative Lab"),
     'config egoengine:images.children[0].repository: is not an image repository such as ghcr.io/owner/name; expected where the child is pushed, e.g. ghcr.io/owner/name'),
    ('child builder unknown', child(builder="docker"),
     "config egoengine:images.children[0].builder: is invalid (input should be 'containerfile' or 'nix'); expected 'containerfile' or 'nix'"),
    ('child envLocal not a list', child(envLocal="export X=1"),
     "config egoengine:images.children[0].envLocal: is not a list; expected lines for the base user's ~/.env.local"),
    ('children not a list', {**coder(), "images": {**IMAGES, "children": {"name": "x"}}},
     'config egoengine:images.children: is not a list; expected a list of child images, each {name, repository, context} or {name, builder: nix, repository, flake, attr}'),
    ('child link name as a path', child(links={"bin/lab": "/opt/lab"}),
     "config egoengine:images.children[0].links.bin/lab: link name 'bin/lab' is not a plain file name; expected a file name in ~/.local/bin (letters, digits, '_', '.', '+', '-')"),
    ('override workspace image names no image', {**coder(), "templates": {"overrides": {"docker-shell": {"workspaceImage": "gpu"}}}},
     'config egoengine:templates.overrides.docker-shell.workspaceImage: names no configured image; expected one of base'),
    ('templates directory does not exist', {**coder(), "templates": {"directory": "no-such-templates"}},
     'config egoengine:templates.directory: does not exist in the project (no such directory); expected the directory whose subdirectories are Coder templates'),
    ('templates directory outside the project', {**coder(), "templates": {"directory": "/etc"}},
     "config egoengine:templates.directory: is outside the project (absolute or with '..'); expected the directory whose subdirectories are Coder templates"),
    ('import timeout too short', {**coder(), "templates": {"importTimeoutSeconds": 5}},
     'config egoengine:templates.importTimeoutSeconds: is invalid (input should be greater than or equal to 30); expected seconds to wait for a template import, 30..7200'),
    ('external port not a number', {**coder(), "database": external(port="abc"), "secrets": {"databaseAdminPassword": "config:pgAdmin"}},
     'config egoengine:database.port: is not a whole number; expected a TCP port number 1..65535'),
    ('external coder host malformed', {**coder(), "database": external(coderHost="db host"), "secrets": {"databaseAdminPassword": "config:pgAdmin"}},
     "config egoengine:database.coderHost: is not a host name or IP address; expected the host Coder's container uses to reach PostgreSQL (default: host)"),
    ('database name not an identifier', {**coder(), "database": external(name="Coder"), "secrets": {"databaseAdminPassword": "config:pgAdmin"}},
     'config egoengine:database.name: is not a lower-case PostgreSQL identifier; expected a lower-case PostgreSQL identifier'),
    ('database volume name invalid', {**coder(), "database": {"mode": "container", "volumeName": "my volume"}},
     'config egoengine:database.volumeName: is not a valid container or volume name; expected a volume name [a-zA-Z0-9_.-]'),
    ('telemetry not a boolean', coder(telemetry="maybe"),
     'config egoengine:coder.telemetry: is not true or false; expected true or false'),
    ('coder network unknown', coder(network="none"),
     "config egoengine:coder.network: is invalid (input should be 'bridge' or 'host'); expected 'bridge' (published port) or 'host' (host networking)"),
    ('coder container name invalid', coder(containerName="-coder"),
     'config egoengine:coder.containerName: is not a valid container name; expected a container name [a-zA-Z0-9_.-]'),
    ('coder repository not a string', coder(repository=5),
     'config egoengine:coder.repository: is not a string; expected the Coder image repository, ghcr.io/coder/coder'),
    ('wildcard with a bad port', coder(wildcardAccessUrl="*.coder.example.com:x"),
     'config egoengine:coder.wildcardAccessUrl: is not a wildcard host; expected a wildcard host such as "*.coder.example.com"'),
    ('access URL with a bad port', coder(accessUrl="http://coder.example.com:99999"),
     'config egoengine:coder.accessUrl: has an invalid port; expected the URL users reach Coder at, e.g. https://coder.example.com (required: without it Coder opens a public tunnel)'),
    ('admin username with capitals', {**coder(), "admin": {"username": "Admin"}},
     'config egoengine:admin.username: is not a lower-case name of letters, digits and dashes; expected a Coder user name [a-z0-9-], 1..32 characters'),
    ('admin token name with spaces', {**coder(), "admin": {"tokenName": "my token"}},
     'config egoengine:admin.tokenName: is not a lower-case name of letters, digits and dashes; expected a token name [a-z0-9-]'),
    ('admin token lifetime above ten years', {**coder(), "admin": {"tokenLifetimeHours": 100000}},
     'config egoengine:admin.tokenLifetimeHours: is invalid (input should be less than or equal to 87600); expected token lifetime in hours, 1..87600'),
    ('backup pg_dump with a space', {**coder(), "backup": {"pgDump": "pg dump"}},
     "config egoengine:backup.pgDump: has characters outside [A-Za-z0-9_./-] or a '..' component; expected the pg_dump executable (name or absolute path)"),
    ('backup keep above 1000', {**coder(), "backup": {"keep": 5000}},
     'config egoengine:backup.keep: is invalid (input should be less than or equal to 1000); expected how many dumps to keep, 1..1000'),
    ('engine tcp without a host', {**coder(), "engine": {"host": "tcp://"}},
     "config egoengine:engine.host: has no host name; expected the container engine's Docker-compatible API, e.g. unix:///run/podman/podman.sock"),
    ('engine unix socket with a host part', {**coder(), "engine": {"host": "unix://run/podman.sock"}},
     "config egoengine:engine.host: is a unix socket URI without an absolute path; expected the container engine's Docker-compatible API, e.g. unix:///run/podman/podman.sock"),
    ('base digest malformed', {**coder(), "images": {"base": {"tag": "22bba72", "digest": "sha256:XYZ"}}},
     'config egoengine:images.base.digest: is not a sha256 digest; expected sha256:<64 hex> to pin offline; when absent the digest is looked up in the registry'),
    ('base tag missing', {**coder(), "images": {"base": {}}},
     "config egoengine:images.base.tag: is missing; expected the git sha the base image's CI pushed (7-40 hex)"),
    ('base missing', {**coder(), "images": {}},
     "config egoengine:images.base: is missing; expected an object with at least tag: the git sha the base image's CI pushed"),
    ('secret source length not a number', {**coder(), "secrets": {"databasePassword": "generate:lots"}},
     'config egoengine:secrets.databasePassword: is not a known secret source; expected generate[:length], config:<key>, op://vault/item/[section/]field, or none'),
    ('config secret source with a bad key', {**coder(), "secrets": {"databasePassword": "config:my-key"}},
     'config egoengine:secrets.databasePassword: is not a known secret source; expected generate[:length], config:<key>, op://vault/item/[section/]field, or none'),
    ('admin password set to none', {**coder(), "secrets": {"adminPassword": "none"}},
     "config egoengine:secrets.adminPassword: may not be 'none': this secret is required; expected generate[:length], config:<key> or op://vault/item/[section/]field"),
]


def test_the_catalogue_has_at_least_eighty_cases() -> None:
    cases = len(CATALOGUE) + len(PROGRAM_CASES) + len(STACK_FILE_CASES) + len(POLICY_CONFIG_CASES) + 4
    assert cases >= 80
    ids = [c[0] for c in (*CATALOGUE, *PROGRAM_CASES, *STACK_FILE_CASES, *POLICY_CONFIG_CASES)]
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize(("values", "line"), [c[1:] for c in CATALOGUE], ids=[c[0] for c in CATALOGUE])
def test_bad_settings(values: dict, line: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings("dev", values)
    assert_line(caught.value, line)


# --- keys as the engine hands them to the program --------------------------------------------------

# (case id, config overrides, secret config, 1Password token, the whole line)
PROGRAM_CASES: list[tuple[str, dict, dict, str | None, str]] = [
    ("unparseable object", {"egoengine:coder": "{not json"}, {}, None,
     "config egoengine:coder: is not valid YAML/JSON; expected an object (see the README)"),
    ("bad value through the engine", {"egoengine:coder": {**CODER, "port": 99999}}, {}, None,
     "config egoengine:coder.port: is invalid (input should be less than or equal to 65535); expected a TCP port number 1..65535"),
    ("config secret not set", {"egoengine:secrets": {"adminPassword": "config:adminPassword"}}, {}, None,
     "config egoengine:adminPassword: is not set (it is named by egoengine:secrets.adminPassword); "
     "expected a secret: pulumi config set --secret egoengine:adminPassword <value>"),
    ("op source without a token", {"egoengine:secrets": {"codexAuth": "op://egoengine/Codex Auth/auth.json"}}, {}, None,
     "config onepassword:serviceAccountToken: is not set (nor OP_SERVICE_ACCOUNT_TOKEN) but a secret source uses op://; "
     "expected a service-account token: pulumi config set --secret onepassword:serviceAccountToken <token>, "
     "or OP_SERVICE_ACCOUNT_TOKEN in the deploy's environment"),
    ("top-level typo", {"egoengine:databse": {"mode": "container"}}, {}, None,
     f"config egoengine:databse: is not a known setting (did you mean egoengine:database?); expected one of {TOP_LEVEL}"),
    ("unknown top-level key", {"egoengine:frobnicate": "x"}, {}, None,
     f"config egoengine:frobnicate: is not a known setting; expected one of {TOP_LEVEL}, "
     "or a secret named by a config:<key> secret source"),
    ("dotted key", {"egoengine:coder.port": "7443"}, {}, None,
     "config egoengine:coder.port: is a dotted key (set without --path), which the program never reads; "
     "expected the nested value: pulumi config set --path 'egoengine:coder.port' 7443"),
    ("dotted key with a list index", {"egoengine:images.children[0].name": "lab"}, {}, None,
     "config egoengine:images.children[0].name: is a dotted key (set without --path), which the program never reads; "
     "expected the nested value: pulumi config set --path 'egoengine:images.children[0].name' lab"),
    ("dotted key under secrets (value not echoed)", {"egoengine:secrets.adminPassword": SECRET}, {}, None,
     "config egoengine:secrets.adminPassword: is a dotted key (set without --path), which the program never reads; "
     "expected the nested value: pulumi config set --path 'egoengine:secrets.adminPassword' <value>"),
    ("dotted secret key (value not echoed)", {}, {"egoengine:coder.accessUrl": SECRET}, None,
     "config egoengine:coder.accessUrl: is a dotted key (set without --path), which the program never reads; "
     "expected the nested value: pulumi config set --path --secret 'egoengine:coder.accessUrl' <value>"),
    ("dotted key of a mistyped object", {"egoengine:databse.mode": "container"}, {}, None,
     f"config egoengine:databse.mode: is not a known setting (did you mean egoengine:database?); expected one of {TOP_LEVEL}"),
    ("config secret in plain text (value not echoed)",
     {"egoengine:secrets": {"databasePassword": "config:dbPassword"}, "egoengine:dbPassword": SECRET}, {}, None,
     "config egoengine:dbPassword: is plain text but egoengine:secrets.databasePassword names it as a secret; "
     "expected a Pulumi secret: pulumi config set --secret egoengine:dbPassword <value> "
     "(and the plain value rotated: it is in the file's history)"),
    ("secret next to the one a source names", {"egoengine:secrets": {"databasePassword": "config:dbPassword"}},
     {"egoengine:dbPassword": SECRET, "egoengine:dbPasword": SECRET}, None,
     f"config egoengine:dbPasword: is not a known setting (did you mean egoengine:dbPassword?); expected one of {TOP_LEVEL}, "
     "or a secret named by a config:<key> secret source"),
    ("secret no source names", {}, {"egoengine:oldToken": SECRET}, None,
     f"config egoengine:oldToken: is not a known setting; expected one of {TOP_LEVEL}, "
     "or a secret named by a config:<key> secret source"),
]


@pytest.mark.parametrize(
    ("overrides", "secrets", "op_token", "line"), [c[1:] for c in PROGRAM_CASES], ids=[c[0] for c in PROGRAM_CASES]
)
def test_the_program_fails_cleanly_on_bad_input(
    overrides: dict, secrets: dict, op_token: str | None, line: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OP_SERVICE_ACCOUNT_TOKEN", raising=False)
    with pytest.raises(ConfigError) as caught:
        run_stack("dev", overrides=overrides, extra_secrets=secrets, op_token=op_token)
    assert_line(caught.value, line)


def test_an_engine_socket_that_is_not_there_names_socket_gid() -> None:
    with pytest.raises(ConfigError) as caught:
        run_stack("dev", socket_gid=None)
    assert_line(
        caught.value,
        "config egoengine:engine.socketGid: is not set and the engine socket /var/run/docker.sock cannot be found "
        "here; expected the numeric group id owning the engine socket, or a reachable egoengine:engine.host "
        "(is Docker or Podman running?)",
    )


@pytest.mark.parametrize("kind", ["podman", "docker"])
def test_a_rootless_engine_socket_is_refused_with_the_way_out(kind: str) -> None:
    with pytest.raises(ConfigError) as caught:
        run_stack("dev", engine=EngineFacts(kind=kind, rootless=True))  # type: ignore[arg-type]
    assert_line(
        caught.value,
        f"config egoengine:engine.host: is a rootless {kind} socket (/var/run/docker.sock), whose user namespace "
        "does not map the socket's group into the Coder container; expected a rootful socket: "
        "unix:///run/podman/podman.sock (sudo systemctl enable --now podman.socket, or podman system service "
        "as root) or Docker's unix:///var/run/docker.sock",
    )


def test_a_key_in_the_stack_file_is_named_with_its_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The program reads the stack file too: the same rule, with where to look."""
    text = (PROJECT_ROOT / "Pulumi.dev.yaml").read_text() + "  egoengine:databse:\n    mode: container\n"
    (tmp_path / "Pulumi.dev.yaml").write_text(text)
    monkeypatch.setattr(settings_values, "PROJECT_ROOT", tmp_path)
    with pytest.raises(ConfigError) as caught:
        run_stack("dev", overrides={"egoengine:databse": {"mode": "container"}})
    line = len(text.splitlines()) - 1
    assert_line(
        caught.value,
        f"config egoengine:databse (Pulumi.dev.yaml line {line}): is not a known setting "
        f"(did you mean egoengine:database?); expected one of {TOP_LEVEL}",
    )


# --- the stack file as written ---------------------------------------------------------------------

STACK = "config:\n  egoengine:coder:\n"
# (case id, file text, the whole line)
STACK_FILE_CASES: list[tuple[str, str, str]] = [
    ("unquoted value starting with *", STACK + "    wildcardAccessUrl: *.coder.example.com\n",
     "config Pulumi.dev.yaml line 3: is not valid YAML: an unquoted value starting with '*' (YAML reads it as an alias); "
     'expected the value in quotes, e.g. wildcardAccessUrl: "*.coder.example.com"'),
    ("tab indentation", STACK + "\tport: 7443\n",
     "config Pulumi.dev.yaml line 3: is not valid YAML: a tab character (YAML indents with spaces only); "
     "expected spaces instead of the tab"),
    ("unquoted colon in a value", STACK + "    accessUrl: http: //coder\n",
     "config Pulumi.dev.yaml line 3: is not valid YAML: an unquoted value containing ': '; expected the value in quotes"),
    ("quote never closed", STACK + '    accessUrl: "http://coder\n',
     "config Pulumi.dev.yaml line 3: is not valid YAML: a quote that is never closed; expected the closing quote on the same value"),
    ("reserved first character", STACK + "    version: @v2.25.1\n",
     "config Pulumi.dev.yaml line 3: is not valid YAML: an unquoted value starting with '@', '`' or '%' (reserved in YAML); "
     "expected the value in quotes"),
    ("uneven indentation", STACK + "    version: v2.25.1\n   digest: x\n",
     "config Pulumi.dev.yaml line 4: is not valid YAML: a line indented differently from its siblings; "
     "expected keys of one object indented by the same number of spaces"),
    ("duplicate top-level key", "config:\n  egoengine:coder: {}\n  egoengine:images: {}\n  egoengine:coder: {}\n",
     "config egoengine:coder (Pulumi.dev.yaml line 4): is given twice (first on line 2), and the last one would "
     "silently win; expected each key once: merge the two"),
    ("duplicate nested key", STACK + "    port: 7080\n    port: 7443\n",
     "config egoengine:coder.port (Pulumi.dev.yaml line 4): is given twice (first on line 3), and the last one would "
     "silently win; expected each key once: merge the two"),
    ("duplicate key in a list item",
     "config:\n  egoengine:images:\n    children:\n      - name: a\n        name: b\n",
     "config egoengine:images.children[0].name (Pulumi.dev.yaml line 5): is given twice (first on line 4), and the "
     "last one would silently win; expected each key once: merge the two"),
    ("duplicate config section", "config: {}\nconfig: {}\n",
     "config config (Pulumi.dev.yaml line 2): is given twice (first on line 1), and the last one would silently win; "
     "expected each key once: merge the two"),
    ("not a stack file", "- egoengine:coder\n",
     "config Pulumi.dev.yaml: is not a stack file; expected a mapping with a config: mapping of keys"),
]


@pytest.mark.parametrize(("text", "line"), [c[1:] for c in STACK_FILE_CASES], ids=[c[0] for c in STACK_FILE_CASES])
def test_bad_stack_file(text: str, line: str) -> None:
    with pytest.raises(ConfigError) as caught:
        stack_file.parse(text, "Pulumi.dev.yaml")
    assert_line(caught.value, line)


def test_the_offline_plan_reads_the_stack_file_the_same_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tools import mock_engine

    (tmp_path / "Pulumi.broken.yaml").write_text(STACK + "    port: 7080\n    port: 7443\n")
    monkeypatch.setattr(mock_engine, "PROJECT_DIR", tmp_path)
    assert plan_main(["broken"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "config egoengine:coder.port (Pulumi.broken.yaml line 4): is given twice (first on line 3), and the last "
        "one would silently win; expected each key once: merge the two\n"
    )


# --- the offline plan's policy config ------------------------------------------------------------

# (case id, policy config document, the whole line; {path} is the file)
POLICY_CONFIG_CASES: list[tuple[str, Any, str]] = [
    ("unknown policy", {"ports-loopback": "advisory"},
     "--policy-config {path}: 'ports-loopback' is not a policy of the pack; expected one of "
     + ", ".join(sorted(policy.name for policy in policies.ALL_POLICIES))),
    ("unknown policy setting", {"ports-loopback-only": {"allowPublicBinds": True}},
     "--policy-config {path}: 'ports-loopback-only.allowPublicBinds' is not a setting of that policy; "
     "expected enforcementLevel or one of allowPublicBind"),
    ("setting of a policy without settings", {"images-pinned": {"allowTags": True}},
     "--policy-config {path}: 'images-pinned.allowTags' is not a setting of that policy; "
     "expected only enforcementLevel (this policy has no settings)"),
    ("setting of the wrong type", {"ports-loopback-only": {"allowPublicBind": "yes"}},
     "--policy-config {path}: 'ports-loopback-only.allowPublicBind' is not a boolean; "
     "expected a boolean: allow ports bound on all interfaces (0.0.0.0, ::, or no ip)."),
    ("unknown enforcement level", {"images-pinned": "strict"},
     "--policy-config {path}: 'images-pinned' has an unknown enforcement level; expected one of advisory, mandatory, "
     "remediate, disabled"),
    ("not an object", ["images-pinned"],
     "--policy-config {path}: expected an object of policy name -> settings"),
]


@pytest.mark.parametrize(("document", "line"), [c[1:] for c in POLICY_CONFIG_CASES], ids=[c[0] for c in POLICY_CONFIG_CASES])
def test_bad_policy_config(tmp_path: Path, capsys: pytest.CaptureFixture[str], document: Any, line: str) -> None:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(document))
    assert plan_main(["dev", "--policy-config", str(path)]) == 2
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", line.format(path=path) + "\n")
