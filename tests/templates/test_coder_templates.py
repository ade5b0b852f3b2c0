"""Contract tests for the Coder templates shipped in ``coder-templates/``.

No Terraform provider can be downloaded where these tests run, so the templates are checked
statically: each ``main.tf`` is parsed with python-hcl2 and compared with the variable contract in
``components.template_variables`` (the names the stack passes) and with the rules in DESIGN.md
("Templates shipped"). The shell steps the templates run in the workspace (``codex-auth.sh`` at
start, ``secret-cleanup.sh`` at stop) are executed for real with bash and sh, in a temporary
HOME, against a fake ``op`` executable.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hcl2
import pytest
from hcl2 import SerializationOptions

from components import template_variables

TEMPLATES_ROOT = Path(__file__).resolve().parents[2] / "coder-templates"
TEMPLATE_NAMES = ("docker-envbuilder", "docker-shell")

# Provider local name -> registry source each template must require.
REQUIRED_PROVIDER_SOURCES: dict[str, dict[str, str]] = {
    "docker-envbuilder": {
        "coder": "coder/coder",
        "docker": "kreuzwerker/docker",
        "envbuilder": "coder/envbuilder",
        "local": "hashicorp/local",
    },
    "docker-shell": {"coder": "coder/coder", "docker": "kreuzwerker/docker"},
}

CODEX_AUTH_SCRIPT = "codex-auth.sh"
SECRET_CLEANUP_SCRIPT = "secret-cleanup.sh"
# Each template directory is uploaded to Coder on its own, so the scripts are copied per
# directory; these must stay byte-identical.
SHARED_SCRIPTS = (CODEX_AUTH_SCRIPT, SECRET_CLEANUP_SCRIPT)
CODEX_SECRET_REFERENCE = "op://egoengine/Codex Auth/auth.json"

PINNED_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
# A registry path ending in :latest, e.g. ghcr.io/owner/image:latest (not the bare ":latest"
# string a validation rule compares against).
MUTABLE_LATEST_REFERENCE = re.compile(r"[\w.-]+/[\w./-]*:latest\b")
HCL_STRING = r'("(?:[^"\\]|\\.)*")'

_HCL_OPTIONS = SerializationOptions(
    strip_string_quotes=True, explicit_blocks=False, with_comments=False
)


# --- Parsing helpers -----------------------------------------------------------------------------


def _strip_quotes(text: str) -> str:
    """Turn an HCL string literal that kept its quotes ('"x"') into its value; leave others."""
    if len(text) >= 2 and text.startswith('"') and text.endswith('"'):
        try:
            return str(json.loads(text))
        except json.JSONDecodeError:
            return text[1:-1]
    return text


def _normalise(node: Any) -> Any:
    """Normalise python-hcl2 output: unquoted keys and strings, no bookkeeping keys."""
    if isinstance(node, Mapping):
        return {
            _strip_quotes(key): _normalise(value)
            for key, value in node.items()
            if not key.startswith("__")
        }
    if isinstance(node, list):
        return [_normalise(item) for item in node]
    if isinstance(node, str):
        return _strip_quotes(node)
    return node


def expression(value: Any) -> str:
    """The HCL expression text of an attribute, without python-hcl2's ``${...}`` wrapper.

    ``"${var.x}"`` becomes ``var.x``; a template string such as ``"a-${var.x}"`` is returned as is.
    """
    text = str(value)
    if not (text.startswith("${") and text.endswith("}")):
        return text
    depth = 0
    for index, char in enumerate(text[1:], start=1):
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                # Only unwrap when the first interpolation spans the whole string.
                return text[2:-1] if index == len(text) - 1 else text
    return text


def _compact(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _merge_single_key_blocks(blocks: list[dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for block in blocks:
        merged.update(block)
    return merged


@dataclass(frozen=True)
class Template:
    """One parsed template directory."""

    name: str
    directory: Path
    source: str
    document: dict[str, Any]

    @property
    def variables(self) -> dict[str, dict[str, Any]]:
        return _merge_single_key_blocks(self.document.get("variable", []))

    @property
    def locals(self) -> dict[str, Any]:
        return _merge_single_key_blocks(self.document.get("locals", []))

    @property
    def required_providers(self) -> dict[str, dict[str, Any]]:
        providers: dict[str, dict[str, Any]] = {}
        for terraform_block in self.document.get("terraform", []):
            for block in terraform_block.get("required_providers", []):
                providers.update(block)
        return providers

    def _typed_blocks(self, kind: str, type_name: str) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for block in self.document.get(kind, []):
            found.update(block.get(type_name, {}))
        return found

    def resources(self, type_name: str) -> dict[str, dict[str, Any]]:
        return self._typed_blocks("resource", type_name)

    def data_sources(self, type_name: str) -> dict[str, dict[str, Any]]:
        return self._typed_blocks("data", type_name)

    def only_resource(self, type_name: str) -> tuple[str, dict[str, Any]]:
        found = self.resources(type_name)
        assert len(found) == 1, f"{self.name}: expected one {type_name}, found {sorted(found)}"
        return next(iter(found.items()))

    def parameter_and_variable_defaults(self) -> Iterator[tuple[str, Any]]:
        for name, body in self.variables.items():
            if "default" in body:
                yield f"variable.{name}", body["default"]
        for name, body in self.data_sources("coder_parameter").items():
            if "default" in body:
                yield f"coder_parameter.{name}", body["default"]


@functools.cache
def load_template(name: str) -> Template:
    directory = TEMPLATES_ROOT / name
    # Terraform reads every *.tf of the directory as one module (main.tf, hosts.tf).
    source, document = "", {}
    for tf in sorted(directory.glob("*.tf")):
        source += tf.read_text(encoding="utf-8")
        with tf.open(encoding="utf-8") as handle:
            for key, blocks in _normalise(hcl2.load(handle, serialization_options=_HCL_OPTIONS)).items():
                document[key] = [*document.get(key, []), *blocks] if isinstance(blocks, list) else blocks
    return Template(name=name, directory=directory, source=source, document=document)


# --- A tiny evaluator for the validation shapes the templates use --------------------------------


def validation_accepts(condition: str, variable: str, value: str) -> bool:
    """Evaluate a ``validation`` condition made of ``&&``-joined clauses for one value.

    Supports ``!endswith(var.X, "s")``, ``strcontains(var.X, "s")``, ``can(regex("re", var.X))``
    and ``!can(regex("re", var.X))``; Terraform's regex() is a search (RE2, compatible with
    Python's ``re`` for these patterns). Any other clause fails the test so the evaluator is
    extended rather than silently skipped.
    """
    ref = re.escape(f"var.{variable}")
    accepted = True
    for clause in (part.strip() for part in expression(condition).split("&&")):
        if match := re.fullmatch(rf"!endswith\({ref},\s*{HCL_STRING}\)", clause):
            accepted &= not value.endswith(json.loads(match[1]))
        elif match := re.fullmatch(rf"strcontains\({ref},\s*{HCL_STRING}\)", clause):
            accepted &= json.loads(match[1]) in value
        elif match := re.fullmatch(rf"(!?)can\(regex\({HCL_STRING},\s*{ref}\)\)", clause):
            found = re.search(json.loads(match[2]), value) is not None
            accepted &= (not found) if match[1] else found
        elif match := re.fullmatch(rf"can\(\[for h in jsondecode\({ref}\)\s*:\s*regex\({HCL_STRING},\s*h\.uri\)\]\)", clause):
            try:
                items = json.loads(value)
                accepted &= all(re.search(json.loads(match[1]), item["uri"]) for item in items)
            except (ValueError, TypeError, KeyError):
                accepted = False
        else:
            pytest.fail(f"validation clause {clause!r} of var.{variable} is not understood by this test")
    return accepted


def _conditions(variable_body: dict[str, Any]) -> list[str]:
    return [rule["condition"] for rule in variable_body.get("validation", [])]


def variable_accepts(template: Template, variable: str, value: str) -> bool:
    conditions = _conditions(template.variables[variable])
    return all(validation_accepts(condition, variable, value) for condition in conditions)


# --- Template structure --------------------------------------------------------------------------

templates = pytest.mark.parametrize("template_name", TEMPLATE_NAMES)


@templates
def test_main_tf_parses_with_python_hcl2(template_name: str) -> None:
    template = load_template(template_name)
    assert template.variables, f"{template_name}: no variables parsed"
    assert template.resources("coder_agent"), f"{template_name}: no coder_agent parsed"


# Terraform reads a bare version, or one after "=", as exactly that version.
EXACT_VERSION = re.compile(r"^=?\s*\d+\.\d+\.\d+$")


@templates
def test_required_providers_are_pinned_to_exact_versions(template_name: str) -> None:
    providers = load_template(template_name).required_providers
    for local_name, source in REQUIRED_PROVIDER_SOURCES[template_name].items():
        assert local_name in providers, f"{template_name}: required_providers lacks {local_name}"
        assert providers[local_name].get("source") == source
    for local_name, spec in providers.items():
        version = str(spec.get("version", "")).strip()
        assert EXACT_VERSION.match(version), (
            f"{template_name}: provider {local_name} is not pinned exactly ({version!r}); "
            "use a version such as 2.9.0, not ~>, >= or a range"
        )


def test_a_provider_is_pinned_to_the_same_version_in_every_template() -> None:
    versions: dict[str, set[str]] = {}
    for name in TEMPLATE_NAMES:
        for spec in load_template(name).required_providers.values():
            versions.setdefault(spec["source"], set()).add(str(spec["version"]).lstrip("= "))
    assert {source: found for source, found in versions.items() if len(found) > 1} == {}


@templates
def test_no_lock_file_is_invented(template_name: str) -> None:
    # Providers cannot be downloaded here, so a lock file could only be made up.
    assert not (TEMPLATES_ROOT / template_name / ".terraform.lock.hcl").exists()


@templates
def test_every_stack_variable_is_declared(template_name: str) -> None:
    variables = load_template(template_name).variables
    expected = (*template_variables.PLAIN_VARIABLES, *template_variables.SECRET_VARIABLES)
    missing = [name for name in expected if name not in variables]
    assert not missing, f"{template_name}: variables the stack passes are not declared: {missing}"
    for name in expected:
        assert variables[name].get("type") == "string", f"{template_name}: var.{name} is not a string"


@templates
def test_secret_variables_are_sensitive_and_plain_ones_are_not(template_name: str) -> None:
    variables = load_template(template_name).variables
    for name in template_variables.SECRET_VARIABLES:
        assert variables[name].get("sensitive") is True, f"{template_name}: var.{name} must be sensitive"
        assert variables[name].get("default") == "", (
            f"{template_name}: var.{name} must default to empty (the step is then skipped)"
        )
    for name in template_variables.PLAIN_VARIABLES:
        assert variables[name].get("sensitive") in (None, False), (
            f"{template_name}: var.{name} is plain and must not be sensitive"
        )


@templates
def test_plain_variable_defaults_match_the_contract(template_name: str) -> None:
    variables = load_template(template_name).variables
    assert variables[template_variables.WORKSPACE_USER].get("default") == "joshsymonds"
    assert variables[template_variables.DOCKER_SOCKET].get("default") == ""
    assert variables[template_variables.WORKSPACE_NETWORK].get("default") == ""
    assert variables[template_variables.CODER_AGENT_URL].get("default") == ""


@templates
def test_workspace_image_has_no_default_and_only_accepts_digest_pinned_references(
    template_name: str,
) -> None:
    template = load_template(template_name)
    name = template_variables.WORKSPACE_IMAGE
    body = template.variables[name]
    assert "default" not in body, f"{template_name}: var.{name} must have no default"
    assert _conditions(body), f"{template_name}: var.{name} has no validation block"

    repo = "ghcr.io/joshsymonds/nix-config/egoengine"
    digest = "sha256:" + "ab12" * 16
    assert variable_accepts(template, name, f"{repo}:0a1b2c3@{digest}")
    for rejected in (
        f"{repo}:latest",
        f"{repo}:0a1b2c3",
        f"{repo}",
        f"{repo}:0a1b2c3@sha256:abc",
        f"{repo}:0a1b2c3@{digest}:latest",
    ):
        assert not variable_accepts(template, name, rejected), f"{template_name}: accepts {rejected!r}"


@templates
def test_every_default_passes_its_own_validation(template_name: str) -> None:
    template = load_template(template_name)
    for name, body in template.variables.items():
        if "default" in body and isinstance(body["default"], str):
            assert variable_accepts(template, name, body["default"]), (
                f"{template_name}: the default of var.{name} fails its own validation"
            )


@templates
def test_no_default_uses_latest_or_an_unpinned_image(template_name: str) -> None:
    template = load_template(template_name)
    for where, default in template.parameter_and_variable_defaults():
        if not isinstance(default, str):
            continue
        assert ":latest" not in default, f"{template_name}: {where} defaults to {default!r}"
        if re.search(r"image|builder", where) and default:
            assert PINNED_DIGEST.search(default), (
                f"{template_name}: {where} defaults to an image not pinned by digest: {default!r}"
            )
    assert not MUTABLE_LATEST_REFERENCE.search(template.source), (
        f"{template_name}: main.tf names a :latest image"
    )


def test_envbuilder_builder_is_a_pinned_variable_and_the_fallback_is_the_stack_image() -> None:
    template = load_template("docker-envbuilder")
    builder = template.variables["devcontainer_builder"]
    assert builder["default"].startswith("ghcr.io/coder/envbuilder:")
    assert PINNED_DIGEST.search(builder["default"])
    assert not variable_accepts(template, "devcontainer_builder", "ghcr.io/coder/envbuilder:latest")
    assert not variable_accepts(template, "devcontainer_builder", "ghcr.io/coder/envbuilder")
    assert variable_accepts(template, "devcontainer_builder", "ghcr.io/coder/envbuilder:1.3.0")

    envbuilder_env = template.locals["envbuilder_env"]
    assert expression(envbuilder_env["ENVBUILDER_FALLBACK_IMAGE"]) == "var.workspace_image"
    _, builder_image = template.only_resource("docker_image")
    assert expression(builder_image["name"]) == "var.devcontainer_builder"
    (cached,) = template.resources("envbuilder_cached_image").values()
    assert expression(cached["builder_image"]) == "var.devcontainer_builder"
    assert not {"fallback_image", "devcontainer_builder"} & set(template.data_sources("coder_parameter")), (
        "the images come from variables, not workspace parameters"
    )


def test_shell_template_runs_the_stack_image_as_the_image_user() -> None:
    template = load_template("docker-shell")
    image_name, image = template.only_resource("docker_image")
    assert expression(image["name"]) == "var.workspace_image"
    _, container = template.only_resource("docker_container")
    assert expression(container["image"]) == f"docker_image.{image_name}.image_id"
    assert expression(container["user"]) == "var.workspace_user"


@templates
def test_agent_never_runs_as_root(template_name: str) -> None:
    _, container = load_template(template_name).only_resource("docker_container")
    # Envbuilder starts as root by design and drops to the image user itself, so it sets none.
    assert expression(container.get("user", "var.workspace_user")) == "var.workspace_user"


@templates
def test_only_the_workspace_dir_persists_so_the_image_home_stays_current(template_name: str) -> None:
    template = load_template(template_name)
    assert template.locals["home_dir"] == "/home/${var.workspace_user}"
    assert template.locals["workspace_dir"] == "${local.home_dir}/workspaces"

    volume_name, volume = template.only_resource("docker_volume")
    assert volume_name == "workspaces"
    assert "${data.coder_workspace.me.id}" in volume["name"], "volume must be named from the workspace id"
    assert [expression(rule["ignore_changes"]) for rule in volume["lifecycle"]] == ["all"]
    labels = {label["label"] for label in volume["labels"]}
    assert {"coder.owner", "coder.owner_id", "coder.workspace_id"} <= labels
    # The old whole-home volume is moved, never destroyed, on a workspace made before.
    assert [
        (expression(block["from"]), expression(block["to"])) for block in template.document["moved"]
    ] == [("docker_volume.home", f"docker_volume.{volume_name}")]

    _, container = template.only_resource("docker_container")
    mounts = {
        expression(mount["volume_name"]): expression(mount["container_path"])
        for mount in container["volumes"]
    }
    # Nothing is mounted over the home itself: the image's home is what the workspace sees.
    assert mounts == {f"docker_volume.{volume_name}.name": "local.workspace_dir"}
    if template_name == "docker-envbuilder":
        env = template.locals["envbuilder_env"]
        assert expression(env["ENVBUILDER_WORKSPACE_BASE_DIR"]) == "local.workspace_dir"


@templates
def test_agent_keeps_metadata_and_git_author_env(template_name: str) -> None:
    template = load_template(template_name)
    _, agent = template.only_resource("coder_agent")
    keys = {item["key"] for item in agent["metadata"]}
    assert len(keys) >= 3, f"{template_name}: expected CPU, RAM and home-disk metadata"
    assert any("coder stat disk" in item["script"] for item in agent["metadata"])
    assert set(template.locals["git_env"]) == {
        "GIT_AUTHOR_NAME",
        "GIT_AUTHOR_EMAIL",
        "GIT_COMMITTER_NAME",
        "GIT_COMMITTER_EMAIL",
    }
    assert "local.git_env" in expression(agent["env"])


@templates
def test_token_reaches_only_the_agent_env_and_only_when_set(template_name: str) -> None:
    template = load_template(template_name)
    token = template_variables.OP_SERVICE_ACCOUNT_TOKEN
    op_env = _compact(expression(template.locals["op_env"]))
    assert op_env == _compact(f'var.{token}==""?{{}}:{{OP_SERVICE_ACCOUNT_TOKEN=var.{token}}}')

    _, agent = template.only_resource("coder_agent")
    agent_env = _compact(expression(agent["env"]))
    assert agent_env.startswith("merge(") and "local.op_env" in agent_env

    # Nowhere else: not the container env (docker inspect shows it), not Envbuilder's env.
    other_locals = {name: value for name, value in template.locals.items() if name != "op_env"}
    assert token not in json.dumps(other_locals)
    assert "local.op_env" not in json.dumps(other_locals)
    _, container = template.only_resource("docker_container")
    assert token not in json.dumps(container) and "op_env" not in json.dumps(container)
    mentions = re.findall(rf"\bvar\.{token}\b", template.source)
    assert len(mentions) == 2, f"{template_name}: var.{token} is used outside local.op_env"


@templates
def test_startup_and_stop_scripts_are_wired_from_files_in_the_template_dir(template_name: str) -> None:
    template = load_template(template_name)
    scripts = template.resources("coder_script")
    by_file: dict[str, dict[str, Any]] = {}
    for body in scripts.values():
        match = re.fullmatch(r'file\("\$\{path\.module\}/([^"/]+)"\)', expression(body["script"]))
        assert match, f"{template_name}: coder_script does not read a file next to main.tf"
        by_file[match[1]] = body
    assert by_file[CODEX_AUTH_SCRIPT].get("run_on_start") is True
    assert by_file[CODEX_AUTH_SCRIPT].get("start_blocks_login") is not True
    assert by_file[SECRET_CLEANUP_SCRIPT].get("run_on_stop") is True
    for file_name in by_file:
        script = template.directory / file_name
        # Coder leaves hidden files out of the uploaded archive.
        assert not file_name.startswith(".") and script.is_file(), f"{template_name}: {file_name} missing"


@pytest.mark.parametrize("script_name", SHARED_SCRIPTS)
def test_script_copies_are_identical_across_templates(script_name: str) -> None:
    contents = {name: (TEMPLATES_ROOT / name / script_name).read_bytes() for name in TEMPLATE_NAMES}
    assert len(set(contents.values())) == 1, f"{script_name} differs between {sorted(contents)}"


def test_codex_auth_script_never_traces_or_echoes_the_secret() -> None:
    text = (TEMPLATES_ROOT / TEMPLATE_NAMES[0] / CODEX_AUTH_SCRIPT).read_text(encoding="utf-8")
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    assert not re.search(r"set\s+-[a-z]*x", code), "set -x would print the credential"
    assert f"'{CODEX_SECRET_REFERENCE}'" in code
    assert "umask 077" in code
    assert not re.search(r"\bcat\b", code), "the script must not print the file back"


# --- Running the scripts for real ---------------------------------------------------------------

SCRIPT_TOOLS = ("mkdir", "mktemp", "mv", "chmod", "rm", "timeout", "sh")
MARKER = "codex-marker-5d1c9a7e"
FAKE_TOKEN = "ops_fake-token-for-tests"


@dataclass(frozen=True)
class Workspace:
    """A temporary HOME plus a PATH directory holding only the tools the scripts use."""

    home: Path
    bin_dir: Path
    record_dir: Path

    @property
    def auth_file(self) -> Path:
        return self.home / ".codex" / "auth.json"

    def install_fake_op(self, *, stdout: str, stderr: str = "", exit_code: int = 0) -> None:
        """Put an `op` on PATH that records its arguments and token, then answers as told."""
        fake = self.bin_dir / "op"
        fake.write_text(
            "#!/bin/sh\n"
            f"printf '%s\\n' \"$@\" > '{self.record_dir}/op-args'\n"
            f"printf '%s' \"${{OP_SERVICE_ACCOUNT_TOKEN:-}}\" > '{self.record_dir}/op-token'\n"
            f"printf '%s' '{stdout}'\n"
            f"printf '%s' '{stderr}' >&2\n"
            f"exit {exit_code}\n",
            encoding="utf-8",
        )
        fake.chmod(0o755)

    @property
    def op_args(self) -> list[str] | None:
        record = self.record_dir / "op-args"
        return record.read_text(encoding="utf-8").splitlines() if record.exists() else None

    @property
    def op_token(self) -> str | None:
        record = self.record_dir / "op-token"
        return record.read_text(encoding="utf-8") if record.exists() else None


def _system_tool(name: str) -> str:
    found = shutil.which(name)
    assert found, f"the tests need `{name}` on PATH"
    return found


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    home = tmp_path / "home" / "tester"
    home.mkdir(parents=True)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record_dir = tmp_path / "records"
    record_dir.mkdir()
    for tool in SCRIPT_TOOLS:
        (bin_dir / tool).symlink_to(_system_tool(tool))
    return Workspace(home=home, bin_dir=bin_dir, record_dir=record_dir)


INTERPRETERS = pytest.mark.parametrize("interpreter", ["bash", "sh"])


def run_script(
    template_name: str,
    script_name: str,
    interpreter: str,
    workspace: Workspace,
    extra_env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    env = {"HOME": str(workspace.home), "PATH": str(workspace.bin_dir), "USER": "tester"}
    env.update(extra_env or {})
    return subprocess.run(
        [_system_tool(interpreter), str(TEMPLATES_ROOT / template_name / script_name)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        # A permissive caller umask proves the script tightens permissions itself.
        preexec_fn=lambda: os.umask(0o022),
    )


def _codex_dir_entries(workspace: Workspace) -> list[str]:
    codex_dir = workspace.home / ".codex"
    return sorted(entry.name for entry in codex_dir.iterdir()) if codex_dir.exists() else []


@templates
@INTERPRETERS
def test_codex_auth_writes_the_credential_privately_without_printing_it(
    template_name: str, interpreter: str, workspace: Workspace
) -> None:
    credential = json.dumps({"marker": MARKER})
    workspace.install_fake_op(stdout=credential)

    result = run_script(
        template_name, CODEX_AUTH_SCRIPT, interpreter, workspace, {"OP_SERVICE_ACCOUNT_TOKEN": FAKE_TOKEN}
    )

    assert result.returncode == 0, result.stderr
    assert workspace.op_args == ["read", CODEX_SECRET_REFERENCE]
    assert workspace.op_token == FAKE_TOKEN
    assert workspace.auth_file.read_text(encoding="utf-8") == credential
    assert workspace.auth_file.stat().st_mode & 0o777 == 0o600
    assert _codex_dir_entries(workspace) == ["auth.json"], "a temporary file was left behind"
    assert MARKER not in result.stdout + result.stderr
    assert FAKE_TOKEN not in result.stdout + result.stderr


@templates
def test_codex_auth_works_without_timeout_and_replaces_an_old_file(
    template_name: str, workspace: Workspace
) -> None:
    (workspace.bin_dir / "timeout").unlink()
    workspace.auth_file.parent.mkdir()
    workspace.auth_file.write_text("stale", encoding="utf-8")
    workspace.auth_file.chmod(0o644)
    workspace.install_fake_op(stdout=MARKER)

    result = run_script(
        template_name, CODEX_AUTH_SCRIPT, "bash", workspace, {"OP_SERVICE_ACCOUNT_TOKEN": FAKE_TOKEN}
    )

    assert result.returncode == 0, result.stderr
    assert workspace.auth_file.read_text(encoding="utf-8") == MARKER
    assert workspace.auth_file.stat().st_mode & 0o777 == 0o600
    assert MARKER not in result.stdout + result.stderr


@templates
@INTERPRETERS
def test_codex_auth_does_nothing_without_a_token(
    template_name: str, interpreter: str, workspace: Workspace
) -> None:
    workspace.install_fake_op(stdout=MARKER)

    result = run_script(template_name, CODEX_AUTH_SCRIPT, interpreter, workspace)

    assert result.returncode == 0, result.stderr
    assert workspace.op_args is None, "op must not be called without a token"
    assert not (workspace.home / ".codex").exists()


@templates
@INTERPRETERS
def test_codex_auth_does_nothing_when_op_is_missing(
    template_name: str, interpreter: str, workspace: Workspace
) -> None:
    result = run_script(
        template_name, CODEX_AUTH_SCRIPT, interpreter, workspace, {"OP_SERVICE_ACCOUNT_TOKEN": FAKE_TOKEN}
    )

    assert result.returncode == 0, result.stderr
    assert not (workspace.home / ".codex").exists()
    assert "not installed" in result.stdout


@templates
@INTERPRETERS
@pytest.mark.parametrize(
    ("op_stdout", "op_exit"),
    [(f'{{"partial": "{MARKER}', 1), ("", 0)],
    ids=["op-fails-mid-write", "op-returns-nothing"],
)
def test_codex_auth_failed_read_leaves_no_partial_file_and_keeps_the_old_one(
    template_name: str,
    interpreter: str,
    op_stdout: str,
    op_exit: int,
    workspace: Workspace,
) -> None:
    workspace.install_fake_op(stdout=op_stdout, stderr="[ERROR] could not read secret", exit_code=op_exit)

    result = run_script(
        template_name, CODEX_AUTH_SCRIPT, interpreter, workspace, {"OP_SERVICE_ACCOUNT_TOKEN": FAKE_TOKEN}
    )

    assert result.returncode == 0, "a failed read must not fail the workspace start"
    assert _codex_dir_entries(workspace) == [], "no partial or temporary file may remain"
    assert MARKER not in result.stdout + result.stderr

    # An earlier good credential survives a failed refresh untouched.
    workspace.auth_file.write_text("previous", encoding="utf-8")
    rerun = run_script(
        template_name, CODEX_AUTH_SCRIPT, interpreter, workspace, {"OP_SERVICE_ACCOUNT_TOKEN": FAKE_TOKEN}
    )
    assert rerun.returncode == 0
    assert workspace.auth_file.read_text(encoding="utf-8") == "previous"
    assert _codex_dir_entries(workspace) == ["auth.json"]


@templates
@INTERPRETERS
def test_secret_cleanup_removes_manifest_entries_inside_home_only(
    template_name: str, interpreter: str, workspace: Workspace, tmp_path: Path
) -> None:
    home = workspace.home
    (home / ".aws").mkdir()
    (home / ".aws" / "credentials").write_text("secret", encoding="utf-8")
    (home / ".config" / "tool").mkdir(parents=True)
    (home / ".config" / "tool" / "token").write_text("secret", encoding="utf-8")
    (home / "notes.txt").write_text("keep", encoding="utf-8")
    (home / "keep-me").write_text("keep", encoding="utf-8")
    outside = tmp_path / "outside.txt"
    outside.write_text("keep", encoding="utf-8")
    sibling = home.parent / "tester2"
    sibling.mkdir()
    (sibling / "file").write_text("keep", encoding="utf-8")
    manifest = home / ".local" / "state" / "ee" / "synced-files"
    manifest.parent.mkdir(parents=True)
    manifest.write_text(
        "\n".join(
            [
                "# written by ee sync",
                ".aws",
                "",
                f"{home}/.config/tool/token",
                "../../outside.txt",
                str(outside),
                str(home),
                ".",
                "keep-me/..",
                f"{sibling}/file",
                "missing-file",
            ]
        ),
        encoding="utf-8",
    )
    clean_marker = tmp_path / "clean-cmd-ran"

    result = run_script(
        template_name,
        SECRET_CLEANUP_SCRIPT,
        interpreter,
        workspace,
        {
            "WORKSPACE_SECRET_MANIFEST": str(manifest),
            "WORKSPACE_SECRET_CLEAN_CMD": f"mkdir '{clean_marker}'",
        },
    )

    assert result.returncode == 0, result.stderr
    assert not (home / ".aws").exists()
    assert not (home / ".config" / "tool" / "token").exists()
    assert not manifest.exists()
    assert clean_marker.is_dir(), "WORKSPACE_SECRET_CLEAN_CMD did not run"
    for kept in (home / "notes.txt", home / "keep-me", outside, sibling / "file"):
        assert kept.exists(), f"{kept} was removed"


@templates
def test_secret_cleanup_without_manifest_or_with_a_failing_command_exits_cleanly(
    template_name: str, workspace: Workspace
) -> None:
    (workspace.home / "file").write_text("keep", encoding="utf-8")

    quiet = run_script(template_name, SECRET_CLEANUP_SCRIPT, "bash", workspace)
    failing = run_script(
        template_name,
        SECRET_CLEANUP_SCRIPT,
        "bash",
        workspace,
        {"WORKSPACE_SECRET_MANIFEST": str(workspace.home / "absent"), "WORKSPACE_SECRET_CLEAN_CMD": "exit 3"},
    )

    assert quiet.returncode == 0 and failing.returncode == 0
    assert (workspace.home / "file").exists()
