"""Read and rewrite the base image pin (``egoengine:images.base``) in a ``Pulumi.<stack>.yaml``.

ruamel.yaml's round-trip parser finds the exact character span of ``base.tag`` (and ``base.digest``)
in the file; only those spans are replaced, so every comment, blank line, indentation and quote
style stays as it was. Dumping the round-trip tree instead is not byte-faithful: ruamel's emitter
re-indents block sequences and folds lines longer than 80 characters (the stacks' ``coder.digest``
lines), which would rewrite unrelated lines of the file.

After the splice the new text is parsed again and compared with the old document: everything but the
replaced values must be equal, or nothing is written.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml as pyyaml
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode

from components.settings import BaseImageSettings

BASE_SECTION = "egoengine:images"
BASE_KEY = f"{BASE_SECTION}.base"
DEFAULT_REPOSITORY: str = BaseImageSettings.model_fields["repository"].default


class StackFileError(Exception):
    """The stack file cannot be read, is not valid YAML, or pins no base image: one line, exit 2."""


@dataclass(frozen=True)
class ScalarSpan:
    """One scalar value in the file: where it is and how it is quoted."""

    value: str
    start: int
    end: int
    style: str | None
    """None for plain, ``'`` or ``"`` for quoted."""


@dataclass(frozen=True)
class BasePin:
    """The base image settings of one stack file, with where its values sit in the text."""

    path: Path
    text: str
    repository: str
    tag: ScalarSpan
    digest: ScalarSpan | None

    @property
    def name(self) -> str:
        return self.path.name


def _child(node: MappingNode, key: str, where: str, name: str) -> Node | None:
    matches = [value for key_node, value in node.value if isinstance(key_node, ScalarNode) and key_node.value == key]
    if len(matches) > 1:
        raise StackFileError(f"{name}: {where}: key {key!r} appears {len(matches)} times; expected it once")
    return matches[0] if matches else None


def _mapping(node: Node | None, key: str, name: str) -> MappingNode | None:
    if node is None:
        return None
    if not isinstance(node, MappingNode):
        raise StackFileError(f"{name}: {key} is not an object; expected a mapping of settings")
    return node


def _scalar(node: Node, key: str, name: str) -> ScalarSpan:
    if not isinstance(node, ScalarNode) or node.style not in (None, "'", '"') or str(node.tag).endswith(":null"):
        raise StackFileError(f"{name}: {key} is not a plain or quoted string; expected one value on its line")
    return ScalarSpan(str(node.value), node.start_mark.index, node.end_mark.index, node.style)


def parse(path: Path, text: str) -> BasePin:
    """The base pin of ``text`` (the contents of ``path``); StackFileError when there is none."""
    name = path.name
    try:
        root = YAML(typ="rt").compose(text)
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise StackFileError(f"{name}: is not valid YAML{where}") from None
    config = _mapping(_child(root, "config", "the top level", name) if isinstance(root, MappingNode) else None,
                      "config", name)
    images = _mapping(_child(config, BASE_SECTION, "config", name) if config else None, BASE_SECTION, name)
    base = _mapping(_child(images, "base", BASE_SECTION, name) if images else None, BASE_KEY, name)
    tag_node = _child(base, "tag", BASE_KEY, name) if base else None
    if base is None or tag_node is None:
        raise StackFileError(
            f"{name}: {BASE_KEY}.tag is not set, so the stack has no base image to bump; "
            f"expected {BASE_SECTION}: {{base: {{tag: <git sha>}}}}"
        )
    tag = _scalar(tag_node, f"{BASE_KEY}.tag", name)
    digest_node = _child(base, "digest", BASE_KEY, name)
    digest = _scalar(digest_node, f"{BASE_KEY}.digest", name) if digest_node is not None else None
    repository_node = _child(base, "repository", BASE_KEY, name)
    repository = (
        _scalar(repository_node, f"{BASE_KEY}.repository", name).value if repository_node else DEFAULT_REPOSITORY
    )
    return BasePin(path, text, repository, tag, digest)


def read(path: Path) -> BasePin:
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise StackFileError(f"{path.name}: does not exist in {path.parent}") from None
    except OSError as error:
        raise StackFileError(f"{path.name}: cannot be read ({error.strerror})") from None
    except UnicodeDecodeError:
        raise StackFileError(f"{path.name}: is not UTF-8 text") from None
    return parse(path, text)


def _plain_is_string(value: str) -> bool:
    """Whether ``value`` written unquoted reads back as the same string (YAML 1.1 and 1.2 readers)."""
    try:
        as_12 = YAML(typ="safe", pure=True).load(f"v: {value}\n")
        as_11 = pyyaml.safe_load(f"v: {value}\n")
    except Exception:  # noqa: BLE001 - any parse problem means: quote it
        return False
    return bool(as_12 == {"v": value} and as_11 == {"v": value})


def render(value: str, style: str | None) -> str:
    """``value`` as a YAML scalar in the original's quote style (quoted when plain would not be a string)."""
    if style == "'":
        return "'" + value.replace("'", "''") + "'"
    if style == '"' or not _plain_is_string(value):
        return json.dumps(value)
    return value


def _document(text: str) -> Any:
    return YAML(typ="safe", pure=True).load(text)


def rewritten(pin: BasePin, tag: str, digest: str | None) -> str:
    """The file's text with ``base.tag`` (and ``base.digest`` when the file pins one) replaced."""
    replacements = [(pin.tag, tag)]
    if pin.digest is not None and digest is not None:
        replacements.append((pin.digest, digest))
    text = pin.text
    for span, value in sorted(replacements, key=lambda item: item[0].start, reverse=True):
        text = text[: span.start] + render(value, span.style) + text[span.end :]
    expected = _document(pin.text)
    base = expected["config"][BASE_SECTION]["base"]
    base["tag"] = tag
    if pin.digest is not None and digest is not None:
        base["digest"] = digest
    if _document(text) != expected:  # a bug here must never write a wrong stack file
        raise AssertionError(f"{pin.name}: the rewrite changed more than {BASE_KEY}.tag/digest")
    return text


def write(path: Path, text: str) -> None:
    """Replace the file atomically (same directory, same mode), bytes exactly as given."""
    mode = path.stat().st_mode & 0o7777
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(text.encode("utf-8"))
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
