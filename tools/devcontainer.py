"""Write a stack's immutable image reference into a devcontainer.json, leaving the rest untouched.

    pulumi stack output --json | python -m tools.devcontainer --outputs - --image creative-lab \\
        --file path/.devcontainer/devcontainer.json

The outputs document is the JSON of ``pulumi stack output --json`` (or the document of
``python -m tools.plan STACK --json``, whose stubbed digests are refused). The reference is taken from
``devcontainers.<NAME>.image`` or else ``images.<NAME>.ref``, and must be pinned by digest.

- An existing file (JSON with comments and trailing commas, as devcontainer.json allows) keeps every
  byte except the value of its top-level ``"image"`` key; comments, ordering, indentation and line
  endings stay as they were. A file without a top-level ``"image"`` gets one right after its opening
  brace.
- A missing file is created (with its parent directories) from ``devcontainers.<NAME>`` (image and
  runArgs), or from the reference alone when only ``images`` is present.

stdout: one line saying what happened. Bad input (unreadable outputs, unknown image name, a file that is
not a JSON object) prints one line starting with ``devcontainer:`` to stderr and exits 2.

(json5 and similar libraries parse JSONC but cannot write it back byte for byte, hence the small
scanner below.)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

EXIT_BAD_INPUT = 2


class DevcontainerError(Exception):
    """Bad input: printed as one line, exit status 2."""


# ---------------------------------------------------------------------------------------------------
# JSONC scanning
# ---------------------------------------------------------------------------------------------------

TokenKind = Literal["punct", "string", "literal", "comment"]
_PUNCTUATION = "{}[]:,"
_WHITESPACE = " \t\r\n\ufeff"


@dataclass(frozen=True)
class Token:
    kind: TokenKind
    start: int
    end: int


class JsoncError(ValueError):
    def __init__(self, text: str, position: int, problem: str) -> None:
        line = text.count("\n", 0, position) + 1
        column = position - (text.rfind("\n", 0, position) + 1) + 1
        super().__init__(f"line {line} column {column}: {problem}")


def tokenize(text: str) -> list[Token]:
    """Tokens with their spans; whitespace is skipped, comments are kept as tokens."""
    tokens: list[Token] = []
    position, length = 0, len(text)
    while position < length:
        char = text[position]
        if char in _WHITESPACE:
            position += 1
        elif text.startswith("//", position):
            end = text.find("\n", position)
            end = length if end == -1 else end
            tokens.append(Token("comment", position, end))
            position = end
        elif text.startswith("/*", position):
            end = text.find("*/", position + 2)
            if end == -1:
                raise JsoncError(text, position, "unterminated /* comment")
            tokens.append(Token("comment", position, end + 2))
            position = end + 2
        elif char == '"':
            end = position + 1
            while True:
                if end >= length or text[end] == "\n":
                    raise JsoncError(text, position, "unterminated string")
                if text[end] == "\\":
                    end += 2
                    continue
                if text[end] == '"':
                    break
                end += 1
            tokens.append(Token("string", position, end + 1))
            position = end + 1
        elif char in _PUNCTUATION:
            tokens.append(Token("punct", position, position + 1))
            position += 1
        else:
            end = position
            while end < length and text[end] not in _WHITESPACE + _PUNCTUATION + '"/':
                end += 1
            if end == position:
                raise JsoncError(text, position, f"unexpected {char!r}")
            tokens.append(Token("literal", position, end))
            position = end
    return tokens


@dataclass(frozen=True)
class Member:
    """A top-level ``"key": value`` pair; value_start/value_end span the value's text."""

    key: str
    value_start: int
    value_end: int


@dataclass(frozen=True)
class TopLevelObject:
    open_brace: Token
    members: tuple[Member, ...]


class _Parser:
    """Checks the structure of a JSONC document and records the top-level object's members."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.all_tokens = tokenize(text)
        self.tokens = [token for token in self.all_tokens if token.kind != "comment"]
        self.index = 0

    def source(self, token: Token) -> str:
        return self.text[token.start : token.end]

    def peek(self) -> Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self, expected: str | None = None) -> Token:
        token = self.peek()
        if token is None:
            raise JsoncError(
                self.text, len(self.text), f"unexpected end of document{f', expected {expected!r}' if expected else ''}"
            )
        if expected is not None and self.source(token) != expected:
            raise JsoncError(self.text, token.start, f"expected {expected!r}, found {self.source(token)!r}")
        self.index += 1
        return token

    def parse_document(self) -> TopLevelObject:
        first = self.peek()
        if first is None or self.source(first) != "{":
            raise JsoncError(self.text, first.start if first else 0, "the document is not a JSON object")
        members: list[Member] = []
        self.parse_object(members)
        extra = self.peek()
        if extra is not None:
            raise JsoncError(self.text, extra.start, f"unexpected {self.source(extra)!r} after the top-level object")
        return TopLevelObject(first, tuple(members))

    def parse_value(self) -> tuple[int, int]:
        token = self.peek()
        if token is None:
            raise JsoncError(self.text, len(self.text), "unexpected end of document, expected a value")
        text = self.source(token)
        if text == "{":
            return self.parse_object(None)
        if text == "[":
            return self.parse_array()
        if token.kind == "string":
            self.decode_string(token)
        elif token.kind == "literal":
            try:
                json.loads(text)
            except json.JSONDecodeError:
                raise JsoncError(self.text, token.start, f"{text!r} is not a JSON value") from None
        else:
            raise JsoncError(self.text, token.start, f"unexpected {text!r}, expected a value")
        self.index += 1
        return token.start, token.end

    def decode_string(self, token: Token) -> str:
        try:
            value = json.loads(self.source(token))
        except json.JSONDecodeError:
            raise JsoncError(self.text, token.start, "invalid string") from None
        assert isinstance(value, str)
        return value

    def parse_object(self, members: list[Member] | None) -> tuple[int, int]:
        start = self.take("{").start
        while True:
            token = self.peek()
            if token is not None and self.source(token) == "}":
                return start, self.take("}").end
            if token is None or token.kind != "string":
                raise JsoncError(self.text, token.start if token else len(self.text), "expected a string key or '}'")
            key = self.decode_string(self.take())
            self.take(":")
            value_start, value_end = self.parse_value()
            if members is not None:
                members.append(Member(key, value_start, value_end))
            following = self.take()
            if self.source(following) == "}":
                return start, following.end
            if self.source(following) != ",":
                raise JsoncError(self.text, following.start, f"expected ',' or '}}', found {self.source(following)!r}")

    def parse_array(self) -> tuple[int, int]:
        start = self.take("[").start
        while True:
            token = self.peek()
            if token is not None and self.source(token) == "]":
                return start, self.take("]").end
            self.parse_value()
            following = self.take()
            if self.source(following) == "]":
                return start, following.end
            if self.source(following) != ",":
                raise JsoncError(self.text, following.start, f"expected ',' or ']', found {self.source(following)!r}")


def parse_top_level(text: str) -> TopLevelObject:
    return _Parser(text).parse_document()


def loads_jsonc(text: str) -> Any:
    """Parse JSONC (comments, trailing commas) into Python values."""
    parse_top_level(text)  # structure check with positions in the error
    tokens = [token for token in tokenize(text) if token.kind != "comment"]
    pieces: list[str] = []
    for index, token in enumerate(tokens):
        piece = text[token.start : token.end]
        following = text[tokens[index + 1].start] if index + 1 < len(tokens) else ""
        if piece == "," and following in "}]":
            continue  # a trailing comma
        pieces.append(piece)
    return json.loads(" ".join(pieces))


def set_image(text: str, reference: str) -> str:
    """``text`` with the top-level ``"image"`` value set to ``reference``; all other bytes unchanged."""
    document = parse_top_level(text)
    value = json.dumps(reference)
    image_members = [member for member in document.members if member.key == "image"]
    if image_members:
        # Replace from the end so earlier spans stay valid (duplicates: JSON readers use the last).
        for member in reversed(image_members):
            text = text[: member.value_start] + value + text[member.value_end :]
        return text
    brace_end = document.open_brace.end
    following = next((token for token in tokenize(text) if token.start >= brace_end), None)
    gap = text[brace_end : following.start] if following else ""
    separator = "," if document.members else ""
    if "\n" in gap:
        indent = gap[gap.rfind("\n") + 1 :]
        insertion = f'\n{indent or "  "}"image": {value}{separator}'
    else:
        insertion = f'"image": {value}{separator}{" " if document.members else ""}'
    return text[:brace_end] + insertion + text[brace_end:]


# ---------------------------------------------------------------------------------------------------
# Stack outputs
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageChoice:
    reference: str
    document: dict[str, Any]  # what a new devcontainer.json contains


def _mapping(outputs: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = outputs.get(name)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise DevcontainerError(f'stack output {name!r} is not an object (is it a secret shown as "[secret]"?)')
    return value


PLAN_FORMAT = "egoengine-plan/1"
"""``python -m tools.plan STACK --json``: its ``outputs`` are the stack outputs."""


def choose_image(outputs: Any, name: str) -> ImageChoice:
    if not isinstance(outputs, Mapping):
        raise DevcontainerError("the outputs document is not a JSON object; expected `pulumi stack output --json`")
    if outputs.get("format") == PLAN_FORMAT and isinstance(outputs.get("outputs"), Mapping):
        outputs = outputs["outputs"]
    devcontainers = _mapping(outputs, "devcontainers")
    images = _mapping(outputs, "images")
    known = sorted(set(devcontainers) | set(images))
    if not known:
        raise DevcontainerError(
            "the outputs have no 'devcontainers' or 'images' output; expected the egoengine stack's outputs"
        )
    if name not in known:
        raise DevcontainerError(f"unknown image {name!r}; known images: {', '.join(known)}")
    entry = devcontainers.get(name)
    if isinstance(entry, Mapping) and isinstance(entry.get("image"), str):
        reference, document = entry["image"], dict(entry)
    else:
        image = images.get(name)
        reference = image.get("ref") if isinstance(image, Mapping) else None
        if not isinstance(reference, str):
            raise DevcontainerError(
                f"stack outputs have no image reference for {name!r}; "
                f"expected devcontainers.{name}.image or images.{name}.ref"
            )
        document = {"image": reference}
    if "<stubbed " in reference:
        raise DevcontainerError(
            f"the reference for {name!r} comes from the offline plan, whose digest is stubbed; expected "
            "the outputs of a real deploy (`pulumi stack output --json`) or a stack that pins the digest"
        )
    if "@sha256:" not in reference:
        raise DevcontainerError(
            f"the reference for {name!r} ({reference!r}) is not pinned by digest; expected repo:tag@sha256:<hex>"
        )
    return ImageChoice(reference, document)


def read_outputs(source: str) -> Any:
    try:
        raw = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise DevcontainerError(f"cannot read the outputs {source!r}: {error.__class__.__name__}") from None
    try:
        return json.loads(raw)
    except json.JSONDecodeError as error:
        where = "stdin" if source == "-" else source
        raise DevcontainerError(
            f"the outputs in {where} are not JSON (line {error.lineno} column {error.colno}: {error.msg}); "
            "expected `pulumi stack output --json`"
        ) from None


# ---------------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------------


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` in one step, keeping its permissions."""
    mode = path.stat().st_mode & 0o7777 if path.exists() else 0o644
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def update_file(path: Path, choice: ImageChoice) -> str:
    """Create or update the file; return a one-line description of what happened."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, (json.dumps(choice.document, indent=2) + "\n").encode())
        return f"{path}: created with image {choice.reference}"
    try:
        original = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise DevcontainerError(f"cannot read {path}: {error.__class__.__name__}") from None
    try:
        updated = set_image(original, choice.reference)
        # The result must still be a valid devcontainer.json carrying the reference.
        if loads_jsonc(updated).get("image") != choice.reference:
            raise DevcontainerError(f"{path}: the image could not be set (internal check failed)")
    except JsoncError as error:
        raise DevcontainerError(
            f"{path} is not a JSON object with comments ({error}); expected a devcontainer.json"
        ) from None
    if updated == original:
        return f"{path}: image already {choice.reference}"
    write_atomically(path, updated.encode("utf-8"))
    return f"{path}: image set to {choice.reference}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.devcontainer", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--outputs", required=True, metavar="FILE|-", help="JSON of `pulumi stack output --json` ('-': stdin)"
    )
    parser.add_argument(
        "--image", required=True, metavar="NAME", help="image name in the outputs, e.g. egoengine or creative-lab"
    )
    parser.add_argument("--file", required=True, type=Path, help="the devcontainer.json to update or create")
    args = parser.parse_args(argv)
    try:
        choice = choose_image(read_outputs(args.outputs), args.image)
        print(update_file(args.file, choice))
    except DevcontainerError as error:
        print(f"devcontainer: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as error:
        print(f"devcontainer: {error.__class__.__name__}: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0


if __name__ == "__main__":
    sys.exit(main())
