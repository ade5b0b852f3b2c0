"""``python -m tools.devcontainer``: rewrite only the image value of a JSONC devcontainer.json.

``run_tool`` calls the tool's ``main`` in this process, its output captured; the outputs read from
a pipe go through the real command line (so does ``tools.plan ... | tools.devcontainer`` in
tests/plan/test_plan_document.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests import in_process
from tests.in_process import Completed
from tools import devcontainer
from tools.devcontainer import JsoncError, loads_jsonc, set_image

REPO_ROOT = Path(__file__).resolve().parents[2]
OLD_REF = "ghcr.io/joshsymonds/nix-config/egoengine:0ld5ha@sha256:" + "1" * 64
NEW_REF = "ghcr.io/joshsymonds/creative-lab:c-0123456789abcdef@sha256:" + "2" * 64
EGO_REF = "ghcr.io/joshsymonds/nix-config/egoengine:abc1234@sha256:" + "3" * 64
IMAGES = {
    "creative-lab": {"ref": NEW_REF, "tag": "c-0123456789abcdef", "digest": "sha256:" + "2" * 64},
    "gpu-lab": {"ref": "ghcr.io/o/gpu-lab:c-1@sha256:" + "4" * 64, "tag": "c-1", "digest": "sha256:" + "4" * 64},
}
OUTPUTS = {
    "devcontainers": {
        "creative-lab": {"image": NEW_REF, "runArgs": ["--user", "joshsymonds"]},
        "egoengine": {"image": EGO_REF, "runArgs": ["--user", "joshsymonds"]},
    },
    "images": IMAGES,
    "coderUrl": "http://127.0.0.1:7080",
}

# Comments that mention "image", a nested "image" key, a string containing '// "image": x', CRLF line
# endings, tabs, trailing commas and a block comment right before the value.
JSONC = (
    '// devcontainer for the lab; "image": "not this one"\r\n'
    "{\r\n"
    '\t"name": "Creative // lab /* not a comment */",\r\n'
    '\t"build": { "image": "nested-is-not-top-level", },\r\n'
    "\t/* the image is written by tools/devcontainer.py */\r\n"
    f'\t"image":   /* pinned */ "{OLD_REF}",\r\n'
    '\t"runArgs": ["--user", "joshsymonds",],\r\n'
    '\t"customizations": {"vscode": {"extensions": ["a.b", ], }, },\r\n'
    "}\r\n"
)


def run_tool(*args: str) -> Completed:
    return in_process.call(devcontainer.main, *args)


def run_command(*args: str, stdin: str) -> subprocess.CompletedProcess[str]:
    """``python -m tools.devcontainer ARGS`` as a real subprocess, ``stdin`` piped in."""
    return subprocess.run(
        [sys.executable, "-m", "tools.devcontainer", *args],
        cwd=REPO_ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture()
def outputs_file(tmp_path: Path) -> Path:
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(OUTPUTS))
    return path


def test_existing_jsonc_comes_back_byte_identical_except_the_image_value(tmp_path: Path, outputs_file: Path) -> None:
    target = tmp_path / ".devcontainer" / "devcontainer.json"
    target.parent.mkdir()
    target.write_bytes(JSONC.encode())
    target.chmod(0o640)
    completed = run_tool("--outputs", str(outputs_file), "--image", "creative-lab", "--file", str(target))
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == f"{target}: image set to {NEW_REF}"
    assert target.read_bytes() == JSONC.replace(OLD_REF, NEW_REF).encode()
    assert target.stat().st_mode & 0o777 == 0o640
    assert loads_jsonc(target.read_text())["build"]["image"] == "nested-is-not-top-level"

    again = run_tool("--outputs", str(outputs_file), "--image", "creative-lab", "--file", str(target))
    assert again.returncode == 0 and "already" in again.stdout
    assert target.read_bytes() == JSONC.replace(OLD_REF, NEW_REF).encode()


def test_outputs_can_come_from_stdin_and_from_the_images_output_alone(tmp_path: Path) -> None:
    target = tmp_path / "devcontainer.json"
    target.write_text('{\n  "image": "old", // keep me\n}\n')
    completed = run_command("--outputs", "-", "--image", "gpu-lab", "--file", str(target), stdin=json.dumps(OUTPUTS))
    assert completed.returncode == 0, completed.stderr
    ref = IMAGES["gpu-lab"]["ref"]
    assert target.read_text() == f'{{\n  "image": "{ref}", // keep me\n}}\n'


def test_a_missing_file_is_created_from_the_devcontainers_document(tmp_path: Path, outputs_file: Path) -> None:
    target = tmp_path / "project" / ".devcontainer" / "devcontainer.json"
    completed = run_tool("--outputs", str(outputs_file), "--image", "egoengine", "--file", str(target))
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == f"{target}: created with image {EGO_REF}"
    assert json.loads(target.read_text()) == {"image": EGO_REF, "runArgs": ["--user", "joshsymonds"]}
    assert target.read_text().endswith("\n")


def test_unknown_image_name_lists_the_known_ones(tmp_path: Path, outputs_file: Path) -> None:
    target = tmp_path / "devcontainer.json"
    completed = run_tool("--outputs", str(outputs_file), "--image", "creative_lab", "--file", str(target))
    assert completed.returncode == 2
    assert (
        completed.stderr.strip()
        == "devcontainer: unknown image 'creative_lab'; known images: creative-lab, egoengine, gpu-lab"
    )
    assert not target.exists()


@pytest.mark.parametrize(
    ("original", "expected"),
    [
        ('{\n  "name": "lab",\n  "runArgs": []\n}\n', '{\n  "image": "REF",\n  "name": "lab",\n  "runArgs": []\n}\n'),
        ('{\n\t// comment first\n\t"name": "lab"\n}', '{\n\t"image": "REF",\n\t// comment first\n\t"name": "lab"\n}'),
        ('{"name": "lab"}', '{"image": "REF", "name": "lab"}'),
        ("{}", '{"image": "REF"}'),
        ("{\n}\n", '{\n  "image": "REF"\n}\n'),
        ('{\n  "build": {"image": "nested"}\n}', '{\n  "image": "REF",\n  "build": {"image": "nested"}\n}'),
    ],
)
def test_a_missing_top_level_image_key_is_inserted_after_the_brace(original: str, expected: str) -> None:
    updated = set_image(original, "REF")
    assert updated == expected
    assert loads_jsonc(updated)["image"] == "REF"


def test_insertion_through_the_command_line(tmp_path: Path, outputs_file: Path) -> None:
    target = tmp_path / "devcontainer.json"
    target.write_text('{\n  // no image yet\n  "name": "lab",\n}\n')
    completed = run_tool("--outputs", str(outputs_file), "--image", "creative-lab", "--file", str(target))
    assert completed.returncode == 0, completed.stderr
    assert target.read_text() == f'{{\n  "image": "{NEW_REF}",\n  // no image yet\n  "name": "lab",\n}}\n'


@pytest.mark.parametrize(
    ("outputs", "message"),
    [
        (
            "{not json",
            "devcontainer: the outputs in {path} are not JSON (line 1 column 2: Expecting property name enclosed "
            "in double quotes); expected `pulumi stack output --json`",
        ),
        ("[]", "devcontainer: the outputs document is not a JSON object; expected `pulumi stack output --json`"),
        (
            '{"coderUrl": "x"}',
            "devcontainer: the outputs have no 'devcontainers' or 'images' output; "
            "expected the egoengine stack's outputs",
        ),
        (
            '{"devcontainers": "[secret]"}',
            "devcontainer: stack output 'devcontainers' is not an object (is it a secret shown as \"[secret]\"?)",
        ),
        (
            '{"images": {"creative-lab": {"ref": "ghcr.io/o/lab:latest"}}}',
            "devcontainer: the reference for 'creative-lab' ('ghcr.io/o/lab:latest') is not pinned by digest; "
            "expected repo:tag@sha256:<hex>",
        ),
    ],
)
def test_bad_outputs_give_one_line_and_exit_2(tmp_path: Path, outputs: str, message: str) -> None:
    source = tmp_path / "outputs.json"
    source.write_text(outputs)
    completed = run_tool("--outputs", str(source), "--image", "creative-lab", "--file", str(tmp_path / "d.json"))
    assert completed.returncode == 2
    assert completed.stderr.strip() == message.format(path=source)
    assert "Traceback" not in completed.stderr


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ('{"image": "x",', "line 1 column 15: expected a string key or '}'"),
        ('["image"]', "line 1 column 1: the document is not a JSON object"),
        ('{"image": "x"} {}', "line 1 column 16: unexpected '{' after the top-level object"),
        ("{\n  /* open", "line 2 column 3: unterminated /* comment"),
        ('{"image": "x" "name": 1}', "line 1 column 15: expected ',' or '}', found '\"name\"'"),
        ('{"image": tru}', "line 1 column 11: 'tru' is not a JSON value"),
    ],
)
def test_a_broken_devcontainer_json_is_left_alone_with_a_clear_error(
    tmp_path: Path, outputs_file: Path, content: str, problem: str
) -> None:
    target = tmp_path / "devcontainer.json"
    target.write_text(content)
    completed = run_tool("--outputs", str(outputs_file), "--image", "creative-lab", "--file", str(target))
    assert completed.returncode == 2
    assert completed.stderr.strip() == (
        f"devcontainer: {target} is not a JSON object with comments ({problem}); expected a devcontainer.json"
    )
    assert target.read_text() == content


def test_scanner_errors_carry_positions() -> None:
    with pytest.raises(JsoncError, match="line 2 column 11: unterminated string"):
        set_image('{\n  "name": "lab\n}', "REF")
