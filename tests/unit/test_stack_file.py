"""The base-pin rewrite of a stack file: only the changed values differ, byte for byte."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tools import stack_file
from tools.stack_file import StackFileError

REPO_ROOT = Path(__file__).resolve().parents[2]
NEW_TAG = "3f9c2d1"
NEW_DIGEST = "sha256:" + "ab" * 32
OLD_DIGEST = "sha256:" + "0f" * 32

COMMENTED = f"""\
# Production host.   Odd spacing, trailing spaces and comments everywhere must survive.   
config:
  # the engine
  egoengine:engine:
    host: unix:///run/podman/podman.sock   # rootful Podman

  egoengine:images:
    # The base image: its CI pushes <git sha> tags.
    base:
      repository: ghcr.io/joshsymonds/nix-config/egoengine
      tag: 22bba72 # bumped by tools.bump_base
      # pinned, so preview works offline
      digest: '{OLD_DIGEST}'
      user: joshsymonds
    children:
        -   name: creative-lab
            repository: ghcr.io/joshsymonds/creative-lab
            context: images/creative-lab
  egoengine:templates: {{workspaceImage: base, provisionerTags: {{}}}}
# trailing comment, no newline at the end"""


def pin_of(text: str, name: str = "Pulumi.test.yaml") -> stack_file.BasePin:
    return stack_file.parse(Path(name), text)


@pytest.mark.parametrize("stack", ["dev", "vermissian"])
def test_the_shipped_stack_files_change_only_in_the_tag(stack: str) -> None:
    original = (REPO_ROOT / f"Pulumi.{stack}.yaml").read_text()
    pin = pin_of(original)
    assert pin.digest is None and pin.repository == "ghcr.io/joshsymonds/nix-config/egoengine"
    updated = stack_file.rewritten(pin, NEW_TAG, NEW_DIGEST)
    assert updated == original.replace("      tag: 22bba72\n", f"      tag: {NEW_TAG}\n", 1)
    assert original.count("tag: 22bba72") == 1


def test_a_commented_file_keeps_every_byte_but_the_tag_and_the_pinned_digest() -> None:
    pin = pin_of(COMMENTED)
    assert (pin.tag.value, pin.digest and pin.digest.value) == ("22bba72", OLD_DIGEST)
    updated = stack_file.rewritten(pin, NEW_TAG, NEW_DIGEST)
    expected = COMMENTED.replace("tag: 22bba72 #", f"tag: {NEW_TAG} #").replace(
        f"digest: '{OLD_DIGEST}'", f"digest: '{NEW_DIGEST}'"
    )
    assert updated == expected
    assert updated != COMMENTED


def test_crlf_line_endings_and_double_quotes_are_kept() -> None:
    original = f'config:\r\n  egoengine:images:\r\n    base:\r\n      tag: "22bba72"\r\n      digest: "{OLD_DIGEST}"\r\n'
    updated = stack_file.rewritten(pin_of(original), NEW_TAG, NEW_DIGEST)
    assert updated == original.replace('"22bba72"', f'"{NEW_TAG}"').replace(OLD_DIGEST, NEW_DIGEST)


def test_a_digest_is_only_rewritten_when_the_file_pins_one() -> None:
    original = "config:\n  egoengine:images:\n    base: {tag: 22bba72, user: joshsymonds}\n"
    updated = stack_file.rewritten(pin_of(original), NEW_TAG, NEW_DIGEST)
    assert updated == original.replace("22bba72", NEW_TAG)
    assert "digest" not in updated


@pytest.mark.parametrize("tag", ["1234567", "1e45678", "0000000"])
def test_a_sha_that_would_read_as_a_number_is_quoted(tag: str) -> None:
    original = "config:\n  egoengine:images:\n    base:\n      tag: 22bba72\n"
    updated = stack_file.rewritten(pin_of(original), tag, None)
    assert updated == original.replace("22bba72", f'"{tag}"')
    assert yaml.safe_load(updated)["config"]["egoengine:images"]["base"]["tag"] == tag


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("config:\n  egoengine:coder:\n    version: v2.25.1\n", "egoengine:images.base.tag is not set"),
        ("config:\n  egoengine:images:\n    base:\n      user: me\n", "egoengine:images.base.tag is not set"),
        ("config:\n  egoengine:images: [1, 2]\n", "egoengine:images is not an object"),
        ("config:\n  egoengine:images:\n    base:\n      tag: {a: 1}\n", "egoengine:images.base.tag is not a plain"),
        ("config:\n  egoengine:images:\n    base:\n      tag:\n", "egoengine:images.base.tag is not a plain"),
        ("config:\n  egoengine:images:\n    base:\n      tag: a\n      tag: b\n", "key 'tag' appears 2 times"),
        ("config:\n  egoengine:images:\n    base: [\n", "is not valid YAML (line"),
        ("", "egoengine:images.base.tag is not set"),
    ],
)
def test_a_file_without_a_usable_base_pin_is_one_clear_error(text: str, problem: str) -> None:
    with pytest.raises(StackFileError) as raised:
        pin_of(text)
    message = str(raised.value)
    assert message.startswith("Pulumi.test.yaml: ") and problem in message and "\n" not in message


def test_write_replaces_the_file_atomically_with_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.test.yaml"
    path.write_bytes(b"old\r\n")
    path.chmod(0o640)
    stack_file.write(path, "new\r\n")
    assert path.read_bytes() == b"new\r\n" and path.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["Pulumi.test.yaml"]
