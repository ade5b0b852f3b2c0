"""Templates validated at preview: one clear line per problem, before anything reaches Coder.

Each case copies the shipped templates into a project of its own, breaks one thing, and parses the
stack's settings there, in the bad-input catalogue's style (key, problem, expectation; no traceback,
no secret).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from components import settings as cfg
from components.settings import values
from components.errors import ConfigError
from components.template_archive import TEMPLATE_ARCHIVE_LIMIT
from tests.unit.test_bad_input import CODER, IMAGES, assert_line

KEY = "egoengine:templates.directory"
SHELL = f"{KEY} (coder-templates/docker-shell)"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The shipped templates in a project of this test's own. The parse cache stays the session's
    (keyed by content: the templates a case leaves alone are not parsed again for every case; the
    one it changes is); test_the_shipped_templates_pass parses with a cold cache."""
    root = tmp_path / "project"
    shutil.copytree(cfg.PROJECT_ROOT / "coder-templates", root / "coder-templates")
    monkeypatch.setattr(values, "PROJECT_ROOT", root)
    return root


def parse(templates: dict | None = None) -> cfg.Settings:
    values: dict = {"coder": CODER, "images": IMAGES}
    if templates is not None:
        values["templates"] = templates
    return cfg.parse_settings("dev", values)


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new))


def _undeclare(name: str) -> Callable[[Path], None]:
    def change(project: Path) -> None:
        main_tf = project / "coder-templates/docker-shell/main.tf"
        _edit(main_tf, f'variable "{name}" {{', f'variable "{name}_renamed" {{')

    return change


def _not_sensitive(project: Path) -> None:
    main_tf = project / "coder-templates/docker-shell/main.tf"
    text = main_tf.read_text()
    start = text.index('variable "op_service_account_token" {')
    end = text.index("}\n", start)
    main_tf.write_text(text[:start] + text[start:end].replace("  sensitive   = true\n", "") + text[end:])


def _broken_hcl(project: Path) -> None:
    (project / "coder-templates/docker-shell/extra.tf").write_text('locals {\n  a = "b"\n  c = \n}\n')


def _broken_json(project: Path) -> None:
    (project / "coder-templates/docker-shell/extra.tf.json").write_text('{"variable": ')


def _no_terraform(project: Path) -> None:
    (project / "coder-templates/docker-gpu").mkdir()
    (project / "coder-templates/docker-gpu/README.md").write_text("# forgot main.tf\n")


def _too_large(project: Path) -> None:
    with (project / "coder-templates/docker-shell/model.bin").open("wb") as handle:
        handle.truncate(TEMPLATE_ARCHIVE_LIMIT)  # sparse: the size without the bytes


def _no_templates(project: Path) -> None:
    shutil.rmtree(project / "coder-templates")
    (project / "coder-templates").mkdir()


# (case id, change to the project, the whole line)
CASES: list[tuple[str, Callable[[Path], None], str]] = [
    ("directory with files but no tf", _no_terraform, f"config {KEY}: coder-templates/docker-gpu holds files but no *.tf; expected a main.tf in every subdirectory of coder-templates (each is one template), or move that directory elsewhere"),
    ("no template at all", _no_templates, f"config {KEY}: coder-templates holds no template (no subdirectory with a main.tf); expected the directory of the Coder templates, or egoengine:templates.allowNone: true (an empty set deletes every template at up)"),
    ("upload over 1 MiB", _too_large, f"config {SHELL}: its upload archive would be 1085440 bytes; expected less than 1048576 bytes (Coder's 1 MiB template limit); move large files out of the template directory"),
    ("program variable not declared", _undeclare("coder_agent_url"), f'config {SHELL}: does not declare coder_agent_url, which the program passes; expected a variable block for each, e.g. variable "coder_agent_url" {{ type = string }} (the shipped templates declare them all)'),
    ("secret variable not declared", _undeclare("op_service_account_token"), f'config {SHELL}: does not declare op_service_account_token, which the program passes; expected a variable block for each, e.g. variable "op_service_account_token" with type = string and sensitive = true (the shipped templates declare them all)'),
    ("secret variable not sensitive", _not_sensitive, f"config {SHELL}: declares op_service_account_token without sensitive = true; expected sensitive = true on the variables that carry secrets, so Coder never shows them"),
    ("tf file does not parse", _broken_hcl, f"config {SHELL}: extra.tf does not parse as HCL (line 3); expected valid Terraform (HCL) syntax"),
    ("tf.json file does not parse", _broken_json, f"config {SHELL}: extra.tf.json is not valid JSON (Expecting value: line 1 column 14 (char 13)); expected Terraform JSON syntax"),
]


@pytest.mark.parametrize(("change", "line"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_bad_template_fails_the_preview_with_one_line(project: Path, change: Callable[[Path], None], line: str) -> None:
    change(project)
    with pytest.raises(ConfigError) as caught:
        parse()
    assert_line(caught.value, line)


def test_the_shipped_templates_pass(project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EGOENGINE_CACHE_DIR", str(tmp_path / "cold-cache"))
    assert parse().templates.discover() == ["docker-envbuilder", "docker-shell"]
    assert len(list((tmp_path / "cold-cache").rglob("*.json"))) == 2  # both parsed, not read back


def test_no_templates_is_allowed_when_the_stack_says_so(project: Path) -> None:
    _no_templates(project)
    assert parse({"allowNone": True}).templates.discover() == []


def test_hidden_or_empty_directories_are_not_templates_and_not_errors(project: Path) -> None:
    (project / "coder-templates/empty").mkdir()
    (project / "coder-templates/.git").mkdir()
    (project / "coder-templates/.git/config").write_text("[core]\n")
    (project / "coder-templates/only-hidden/.terraform").mkdir(parents=True)
    (project / "coder-templates/only-hidden/.terraform/x").write_text("cache\n")
    assert parse().templates.discover() == ["docker-envbuilder", "docker-shell"]


def test_the_size_is_checked_before_any_file_of_that_template_is_read(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _too_large(project)
    shell = project / "coder-templates/docker-shell"
    real_read_bytes = Path.read_bytes
    real_read_text = Path.read_text

    def guarded(read: Callable[..., object]) -> Callable[..., object]:
        def wrapper(self: Path, *args: object, **kwargs: object) -> object:
            if self.is_relative_to(shell):
                pytest.fail(f"{self} was read before the size check")
            return read(self, *args, **kwargs)

        return wrapper

    monkeypatch.setattr(Path, "read_bytes", guarded(real_read_bytes))
    monkeypatch.setattr(Path, "read_text", guarded(real_read_text))
    with pytest.raises(ConfigError, match="would be"):
        parse()


def test_allow_none_must_be_a_boolean(project: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        parse({"allowNone": "maybe"})
    assert_line(
        caught.value,
        "config egoengine:templates.allowNone: is not true or false; "
        "expected true to allow a stack with no templates (an empty set deletes them all)",
    )
