"""The offline plan (``python -m tools.plan``); the benchmark's tests are in tests/unit/test_bench.py.

The command line itself runs as a real subprocess (``cli``) where the process adds something: a
failed evaluation must exit 2 with one line and nothing else on stderr, not even what an exiting
interpreter prints about its threads and event loops (the successful one is piped into
tools.devcontainer in test_plan_document.py). The other tests call ``tools.plan.main`` in this
process with its output captured (``plan``), and compare with an in-process run of the same stack on
the same mocked engine, so the expectations come from the program's registrations, not a
hard-coded resource list.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests import in_process
from tests.in_process import Completed
from tools import mock_engine, plan_stubs
from tools.plan import COMPUTED_TEXT, SECRET_TEXT, Redactor, secret_strings, show
from tools.plan import main as plan_main

PROJECT_DIR = mock_engine.PROJECT_DIR
CANARY = "canary-5f3a9c-never-printed"
CANARY_ENV = "PLAN_TEST_CANARY"
CONTAINER = "docker:index/container:Container"
ROLE = "postgresql:index/role:Role"


def cli(*args: str) -> Completed:
    """``python -m tools.plan ARGS`` as a real subprocess: for the command-line contract itself."""
    done = subprocess.run(
        [sys.executable, "-m", "tools.plan", *args],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return Completed(done.returncode, done.stdout, done.stderr)


def plan(*args: str, env: Mapping[str, str] | None = None) -> Completed:
    """``tools.plan.main(ARGS)`` in this process, its output captured: what the subprocess would
    print, without an interpreter start and the imports per call (``cli`` keeps a few real ones)."""
    return in_process.call(plan_main, *args, env=env)


def stack_object(stack: str, key: str, **changes: Any) -> str:
    """``--config-override`` text for one object of a stack file, with some settings changed."""
    document = yaml.safe_load((PROJECT_DIR / f"Pulumi.{stack}.yaml").read_text())["config"]
    return f"{key}={json.dumps({**document.get(key, {}), **changes})}"


def section(text: str, title: str) -> str:
    """The lines of one section of the text report (from its title to the next blank line)."""
    match = re.search(rf"^{re.escape(title)}\n(.*?)(?:\n\n|\Z)", text, re.DOTALL | re.MULTILINE)
    assert match, f"no section {title!r} in:\n{text}"
    return match[1]


def tree_line(tree: str, typ: str, name: str) -> str:
    [line] = [line for line in tree.splitlines() if re.search(rf"{re.escape(typ)}  {re.escape(name)}\b", line)]
    return line


def details(tree: str, typ: str, name: str) -> list[str]:
    """The input lines printed under one resource (up to the next resource line)."""
    lines = tree.splitlines()
    start = lines.index(tree_line(tree, typ, name)) + 1
    end = next((i for i in range(start, len(lines)) if re.search(r"[├└]─ ", lines[i])), len(lines))
    return [line.strip(" │") for line in lines[start:end]]


def column(line: str) -> int:
    """Where the resource's type starts: its depth in the tree."""
    return re.search(r"[a-z][\w-]*:", line).start()  # type: ignore[union-attr]


def assert_matches_run(text: str, run: mock_engine.EngineRun) -> None:
    """Every registration is in the tree under its parent, and every dependency is listed."""
    tree = section(text, "Resources:")
    by_urn = run.registrations
    for reg in by_urn.values():
        line = tree_line(tree, reg.type, reg.name)
        parent = by_urn.get(reg.parent)
        if parent is not None:
            assert column(line) > column(tree_line(tree, parent.type, parent.name)), line
    deps = {
        line.split(" -> ")[0].strip(): line.split(" -> ")[1].split(", ")
        for line in section(text, "Dependencies:").splitlines()
    }
    for reg in by_urn.values():
        for dependency in reg.dependencies:
            assert by_urn[dependency].name in deps[reg.name], (reg.name, dependency)
        provider = by_urn.get(reg.provider.rsplit("::", 1)[0])
        if provider is not None:
            assert f"provider {provider.name}" in deps[reg.name], reg.name


# --- the two stacks: clean plans that match the program's registrations --------------------------


@pytest.fixture(scope="module")
def dev_text() -> Completed:
    return plan("dev")


@pytest.fixture(scope="module")
def vermissian_text() -> Completed:
    return plan("vermissian")


@pytest.mark.parametrize("stack", ["dev", "vermissian"])
def test_plan_of_each_stack_is_clean_and_shows_the_whole_graph(stack: str, request: pytest.FixtureRequest) -> None:
    result: Completed = request.getfixturevalue(f"{stack}_text")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    run: mock_engine.EngineRun = request.getfixturevalue(f"offline_{stack}")
    assert_matches_run(result.stdout, run)
    tree = section(result.stdout, "Resources:")
    coder = run.one(CONTAINER, "coder-container")
    assert f"{CONTAINER}  {coder.name}" in tree
    assert f"{ROLE}  {run.one(ROLE).name}" in tree
    assert section(result.stdout, "Policy findings:").strip() == "none"
    summary = result.stdout.strip().splitlines()[-1]
    assert summary.startswith(f"OK: stack {stack}") and "0 policy findings" in summary
    assert f"{len(run.registrations)} resources" in summary


def test_protected_data_and_secret_inputs_are_visible_in_the_tree(dev_text: Completed, offline_dev: mock_engine.EngineRun) -> None:
    run = offline_dev
    database = run.one("postgresql:index/database:Database")
    line = tree_line(section(dev_text.stdout, "Resources:"), database.type, database.name)
    assert "[protect, retain-on-delete" in line
    # The Coder container's environment: every name, the database URL and the PSK masked.
    coder = details(section(dev_text.stdout, "Resources:"), CONTAINER, run.one(CONTAINER, "coder-container").name)
    [envs] = [line for line in coder if line.startswith("envs: ")]
    assert '"CODER_PG_CONNECTION_URL=[secret]"' in envs and '"CODER_PROVISIONER_DAEMON_PSK=[secret]"' in envs
    assert '"CODER_ACCESS_URL=http://127.0.0.1:7080"' in envs
    assert any(line.startswith("ports: ") and '"127.0.0.1"' in line for line in coder), coder


def test_vermissian_reads_every_1password_item_its_config_names(vermissian_text: Completed) -> None:
    config, _ = plan_stubs.stack_config("vermissian")
    refs = plan_stubs.op_references(config)
    assert refs, "the vermissian stack names 1Password items"
    lookups = section(vermissian_text.stdout, "Look-ups (read-only invokes):")
    for ref in refs:
        assert f'title: "{ref.item}"' in lookups


def test_preview_leaves_computed_values_unknown() -> None:
    result = plan("vermissian", "--preview")
    assert result.returncode == 0, result.stderr
    assert "(preview)" in result.stdout.splitlines()[-1]
    assert f"image: {COMPUTED_TEXT}" in section(result.stdout, "Resources:")


def test_markdown_and_mermaid(tmp_path: Path, offline_dev: mock_engine.EngineRun) -> None:
    graph_file = tmp_path / "graph.mmd"
    result = plan("dev", "--markdown", "--mermaid", str(graph_file))
    assert result.returncode == 0, result.stderr
    text = result.stdout
    for heading in ("## Offline plan: `dev`", "### Resources", "### Dependencies", "### Stack outputs", "### Policy findings"):
        assert re.search(rf"^{re.escape(heading)}$", text, re.MULTILINE), heading
    tree = text.split("### Resources", 1)[1].split("### Dependencies", 1)[0]
    assert "```text" in tree and "egoengine-coder-container" in tree
    assert "_No policy findings._" in text
    assert text.rstrip().splitlines()[-1].startswith("**OK: stack dev")

    mermaid = graph_file.read_text()
    assert mermaid.startswith("graph TD\n")
    run = offline_dev
    nodes = re.findall(r'^  (r\d+)\["', mermaid, re.MULTILINE)
    assert len(nodes) == len(run.registrations) + 1  # and the stack
    solid = re.findall(r"^  r\d+ --> r\d+$", mermaid, re.MULTILINE)
    dashed = re.findall(r"^  r\d+ -\.-> r\d+$", mermaid, re.MULTILINE)
    assert len(solid) == len(run.registrations)  # one parent edge each
    assert len(dashed) == sum(len(r.dependencies) for r in run.registrations.values())
    assert "```mermaid\ngraph TD" in text  # the summary carries the same graph


# --- failures: one clean line on stderr, the right exit code -------------------------------------


def test_config_error_exits_2_with_one_line_and_no_traceback() -> None:
    result = cli("dev", "--config-override", stack_object("dev", "egoengine:coder", version="latest"))
    assert result.returncode == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("config egoengine:coder.version: ") and "expected" in line


def test_failed_program_exits_2_with_its_message(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A failure that is not a config error (here: a provider call) is reported, not a traceback."""

    class FailingProvider(plan_stubs.PermissiveStubs):
        def new_outputs(self, typ: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
            if typ == "docker:index/remoteImage:RemoteImage":
                raise RuntimeError("registry unreachable (stubbed failure)")
            return super().new_outputs(typ, name, inputs)

    monkeypatch.setattr(plan_stubs, "stubs_for", lambda config: FailingProvider())
    assert plan_main(["dev"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == ["registry unreachable (stubbed failure)"]


def test_unknown_stack_exits_2_and_names_the_stacks() -> None:
    result = plan("no-such-stack")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    [line] = result.stderr.splitlines()
    assert "Pulumi.no-such-stack.yaml" in line and "dev" in line and "vermissian" in line


def test_policy_violation_exits_1_and_names_the_policy() -> None:
    public = stack_object("dev", "egoengine:coder", bindAddress="0.0.0.0")
    result = plan("dev", "--config-override", public)
    assert result.returncode == 1, result.stderr
    findings = section(result.stdout, "Policy findings:")
    assert "[mandatory/high] ports-loopback-only on egoengine-coder-container" in findings
    assert result.stdout.strip().splitlines()[-1].startswith("FAIL: stack dev")


@pytest.mark.parametrize(
    ("policy_config", "finding_shown"),
    [
        ({"ports-loopback-only": {"allowPublicBind": True}}, False),
        ({"ports-loopback-only": "advisory"}, True),
        ({"all": "disabled"}, False),
    ],
    ids=["allowPublicBind", "advisory", "all-disabled"],
)
def test_policy_config_file(tmp_path: Path, policy_config: dict, finding_shown: bool) -> None:
    config_file = tmp_path / "policy-config.json"
    config_file.write_text(json.dumps(policy_config))
    public = stack_object("dev", "egoengine:coder", bindAddress="0.0.0.0")
    result = plan("dev", "--config-override", public, "--policy-config", str(config_file))
    assert result.returncode == 0, result.stdout + result.stderr
    assert ("[advisory/high] ports-loopback-only" in result.stdout) is finding_shown


def test_policy_config_naming_an_unknown_policy_exits_2(tmp_path: Path) -> None:
    config_file = tmp_path / "policy-config.json"
    config_file.write_text(json.dumps({"ports-loopback": "advisory"}))
    result = plan("dev", "--policy-config", str(config_file))
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert "'ports-loopback' is not a policy of the pack" in line and "ports-loopback-only" in line


# --- secrets never printed -----------------------------------------------------------------------

CANARY_SECRETS = 'egoengine:secrets={"databasePassword": "config:canaryPassword"}'


def test_canary_secret_reaches_the_graph() -> None:
    """The canary tests below are only meaningful if the marker really flows into resources."""
    run = plan_stubs.run_stack_offline(
        "dev",
        overrides={"egoengine:secrets": {"databasePassword": "config:canaryPassword"}},
        secret_overrides={"egoengine:canaryPassword": CANARY},
    )
    carriers = [r.name for r in run.registrations.values() if CANARY in json.dumps(mock_engine.unwrap(r.inputs), default=str)]
    assert len(carriers) >= 2, carriers  # the role's password, Coder's connection URL, the dump's env


@pytest.mark.parametrize("output_format", [["--all-inputs"], ["--markdown", "--all-inputs"]], ids=["text", "markdown"])
def test_canary_secret_is_never_printed(tmp_path: Path, output_format: list[str]) -> None:
    # A policy violation too, so the findings path prints messages built from plaintext props.
    public = stack_object("dev", "egoengine:coder", bindAddress="0.0.0.0")
    graph_file = tmp_path / "graph.mmd"
    result = plan(
        "dev", *output_format, "--mermaid", str(graph_file),
        "--config-override", CANARY_SECRETS, "--config-override", public,
        "--secret-from-env", f"egoengine:canaryPassword={CANARY_ENV}",
        env={CANARY_ENV: CANARY},
    )
    assert result.returncode == 1, result.stderr
    # Every input is rendered, the secret-bearing ones too (the role's password carries the canary).
    assert "password: [secret]" in result.stdout
    for text in (result.stdout, result.stderr, graph_file.read_text()):
        assert CANARY not in text


@pytest.mark.parametrize("stack", ["dev", "vermissian"])
def test_no_secret_of_the_run_is_printed(stack: str, request: pytest.FixtureRequest) -> None:
    """Every value the engine holds as a secret (generated passwords, 1Password placeholders, the
    connection URL...) is absent from the report of all inputs, unless the same text is public."""
    result = plan(stack, "--all-inputs")
    assert result.returncode == 0, result.stderr
    run: mock_engine.EngineRun = request.getfixturevalue(f"offline_{stack}")
    public: set[str] = set()
    hidden: set[str] = set()
    for reg in run.registrations.values():
        for values in (reg.inputs, reg.outputs):
            public.update(mock_engine.plaintext_strings(values))
            hidden.update(secret_strings(values))
    # A container environment is shown by name; an entry is public only where it holds no secret.
    entries = {s for s in hidden if re.match(r"^[A-Z_]+=", s)}
    hidden -= public | {e for e in entries if not any(h in e for h in hidden - entries - public)}
    assert any(len(s) >= 16 for s in hidden), "the run holds secrets to look for"
    assert SECRET_TEXT in section(result.stdout, "Resources:")
    leaked = [s for s in hidden if s in result.stdout]
    assert leaked == []


def test_show_never_opens_a_secret_wrapper() -> None:
    wrapped = {mock_engine.SECRET_KEY: mock_engine.SECRET_SIG, "value": ["PASSWORD=hunter2-long"]}
    rendered = show({"envs": wrapped, "nested": [{"x": wrapped}], "port": 7080.0, "ok": True})
    assert "hunter2" not in rendered
    assert rendered == '{envs: [secret], nested: [{x: [secret]}], ok: true, port: 7080}'


def test_redactor_blanks_secrets_in_free_text() -> None:
    redactor = Redactor.for_config({"egoengine:x": "s3cret-value-123", "egoengine:y": "public"}, ["egoengine:x"])
    assert redactor.scrub("error near s3cret-value-123 in public") == f"error near {SECRET_TEXT} in public"


# --- the generic 1Password stand-in --------------------------------------------------------------


def test_any_1password_reference_is_answered_whatever_its_shape() -> None:
    """Sectioned fields, plain fields and file names anywhere in the config all resolve."""
    secrets = {
        "codexAuth": "op://Private/Some Item/a section/a field",
        "opServiceAccountToken": "op://Other Vault/Files/auth.json",
    }
    config_key = "egoengine:secrets"
    config, _ = plan_stubs.stack_config("vermissian")
    merged = {**json.loads(config[config_key]), **secrets}
    run = plan_stubs.run_stack_offline("vermissian", overrides={config_key: merged})
    titles = {args["title"] for token, args in run.invokes if token.endswith("getItem")}
    assert {"Some Item", "Files"} <= titles
