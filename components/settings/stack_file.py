"""Reading ``Pulumi.<stack>.yaml`` strictly: YAML errors with their line and likely cause,
duplicate keys, and where each config key is (for messages).

Pulumi's own reader and ``yaml.safe_load`` let the last of two equal keys win silently; here a
duplicate at any depth fails. Both the program (``loading.load``) and the offline plan's mocked
engine (``tools.mock_engine.load_stack_config``) read stack files through this module.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from components.errors import ConfigError


class StackFile(NamedTuple):
    name: str
    """The file name, e.g. ``Pulumi.dev.yaml`` (messages name it)."""
    config: dict[str, Any]
    """The ``config:`` mapping as written (a secure value is ``{"secure": "v1:..."}``)."""
    lines: dict[str, int]
    """Config key -> the line it is on (1-based)."""

    def secure(self, key: str) -> bool:
        value = self.config.get(key)
        return isinstance(value, dict) and set(value) == {"secure"}


# (what PyYAML says, the likely cause, what to write instead)
_CAUSES: tuple[tuple[str, str, str], ...] = (
    ("alias", "an unquoted value starting with '*' (YAML reads it as an alias)",
     'the value in quotes, e.g. wildcardAccessUrl: "*.coder.example.com"'),
    ("'\\t'", "a tab character (YAML indents with spaces only)", "spaces instead of the tab"),
    ("mapping values are not allowed", "an unquoted value containing ': '", "the value in quotes"),
    ("cannot start any token", "an unquoted value starting with '@', '`' or '%' (reserved in YAML)",
     "the value in quotes"),
    ("quoted scalar", "a quote that is never closed", "the closing quote on the same value"),
    ("expected <block end>", "a line indented differently from its siblings",
     "keys of one object indented by the same number of spaces"),
)


def _yaml_error(name: str, exc: yaml.YAMLError) -> ConfigError:
    said = f"{getattr(exc, 'context', '') or ''} {getattr(exc, 'problem', '') or ''}"
    # An unclosed quote is found at the end of the file; the line that opened it is the one to fix.
    first = ("context_mark", "problem_mark") if "quoted scalar" in said else ("problem_mark", "context_mark")
    mark = getattr(exc, first[0], None) or getattr(exc, first[1], None)
    where = f"{name} line {mark.line + 1}" if mark is not None else name
    for clue, cause, expected in _CAUSES:
        if clue in said:
            return ConfigError(where, f"is not valid YAML: {cause}", expected)
    return ConfigError(where, "is not valid YAML", "a YAML mapping such as the stack files in this repository")


def _key_text(node: yaml.Node) -> str:
    return str(node.value) if isinstance(node, yaml.ScalarNode) else "<complex key>"


def _check_duplicates(node: yaml.Node, path: str, name: str, deep: bool = True) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = _key_text(key_node)
            full = f"{path}.{key}" if path else key
            line = key_node.start_mark.line + 1
            if key in seen:
                raise ConfigError(
                    f"{full} ({name} line {line})",
                    f"is given twice (first on line {seen[key]}), and the last one would silently win",
                    "each key once: merge the two",
                )
            seen[key] = line
            if deep:
                _check_duplicates(value_node, full, name)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _check_duplicates(item, f"{path}[{index}]", name)


_FAST_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's loader when PyYAML has it: the same nodes and marks, about 20 times faster than the
pure-Python one (which took 15 ms per stack file read at every preview)."""


def _load(text: str, loader: Any) -> tuple[yaml.Node | None, Any]:
    root = yaml.compose(text, Loader=loader)
    return root, (yaml.load(text, Loader=loader) if root is not None else {})


@functools.lru_cache(maxsize=8)
def parse(text: str, name: str) -> StackFile:
    """Parse a stack file's text; raises ``ConfigError`` (file and line named) when it is bad.

    The same text is parsed once per process (the offline plan's engine and the program both read
    the stack file): callers must not change what it returns."""
    try:
        root, document = _load(text, _FAST_LOADER)
    except yaml.YAMLError:
        try:  # libyaml words its errors differently: PyYAML's carry the clues _CAUSES reads
            root, document = _load(text, yaml.SafeLoader)
        except yaml.YAMLError as exc:
            raise _yaml_error(name, exc) from None
    if not isinstance(document, dict) or not isinstance(document.get("config", {}) or {}, dict):
        raise ConfigError(name, "is not a stack file", "a mapping with a config: mapping of keys")
    lines: dict[str, int] = {}
    if isinstance(root, yaml.MappingNode):
        _check_duplicates(root, "", name, deep=False)
        for key_node, value_node in root.value:
            if _key_text(key_node) == "config":
                _check_duplicates(value_node, "", name)
                if isinstance(value_node, yaml.MappingNode):
                    lines = {_key_text(k): k.start_mark.line + 1 for k, _v in value_node.value}
    return StackFile(name, dict(document.get("config") or {}), lines)


def read(path: Path) -> StackFile:
    """``parse`` of the file at ``path`` (``FileNotFoundError`` when there is none)."""
    return parse(path.read_text(encoding="utf-8"), path.name)
