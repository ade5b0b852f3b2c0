"""Pure helpers for child images: content hash, immutable tag, extras, config inheritance, validation.

The Pulumi program imports this at plan time (to compute tags and validate child definitions without
contacting anything), and ``tools/build_image.py`` uses the same functions at ``up`` when it really
builds. Nothing here starts a process or touches the network.

Why the rules: the egoengine image's config (User, Env, Cmd, Entrypoint, WorkingDir) is what makes the
login shell, PATH and home work, and an image config *replaces* its parent's rather than merging with
it. A child therefore never sets config; it extends PATH through ``~/.env.local`` (sourced by the base's
login shell) and puts extra binaries behind symlinks in ``~/.local/bin`` (already on the base PATH).
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, NamedTuple

from components.context_digest import ContextEntry as ContextEntry
from components.context_digest import EntryKind as EntryKind
from components.context_digest import context_digest as context_digest
from components.context_digest import context_entries as context_entries
from components.input_error import InputError

INHERITED_FIELDS: tuple[str, ...] = ("User", "Env", "Cmd", "Entrypoint", "WorkingDir")
INHERITANCE_RULE = "config replaces, not merges: do not set config; extend PATH through ~/.env.local"

CONTAINERFILE_NAME = "Containerfile"
# Generated files live under a hidden directory of the temporary build context: the copied child
# context never contains hidden entries (see context_entries), so the name cannot clash.
EXTRAS_CONTEXT_DIR = ".egoengine-extras"
ENV_LOCAL_CONTEXT_PATH = f"{EXTRAS_CONTEXT_DIR}/env.local"
# Bump when the way extras are rendered into an image changes, so existing tags are not reused for
# images that would now be built differently.
EXTRAS_FORMAT_VERSION = 1

FLAKE_ATTR_PATTERN = re.compile(r"^[A-Za-z0-9_.-]+$")
LINK_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.+-]+$")
DIGEST_TEXT = r"sha256:[0-9a-f]{64}"
"""An image (or content) digest: the one definition the settings and the helpers share."""
DIGEST_PATTERN = re.compile(rf"^{DIGEST_TEXT}$")
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


class ImageExtras(NamedTuple):
    """What the stack adds to a child image without touching its config.

    env_local: lines of the base user's ``~/.env.local`` (e.g. ``export PATH="$PATH:/opt/x/bin"``).
    links: link name in ``~/.local/bin`` -> absolute target path.
    """

    env_local: tuple[str, ...] = ()
    links: Mapping[str, str] = MappingProxyType({})
    """Read-only when defaulted: one empty mapping is shared by every default instance."""

    @property
    def is_empty(self) -> bool:
        return not self.env_local and not self.links


# ---------------------------------------------------------------------------------------------------
# Immutable tag
# ---------------------------------------------------------------------------------------------------


def child_tag(context_digest: str, base_digest: str, extras: ImageExtras, *, recipe: str = "") -> str:
    """An immutable tag: ``c-`` + 16 hex of a sha256 over a canonical JSON of the build's inputs.

    Identical inputs give the identical tag (so a second ``pulumi up`` changes nothing); a change of
    the child's files, the base digest or the extras gives a new tag (so the child rebuilds then,
    and only then). ``recipe`` distinguishes builds whose inputs are otherwise the same (e.g.
    ``nix:.#creative-lab``); it is left out of the hash when empty.
    """
    document: dict[str, Any] = {
        "format": EXTRAS_FORMAT_VERSION,
        "context": context_digest,
        "base": base_digest,
        "envLocal": list(extras.env_local),
        "links": dict(sorted(extras.links.items())),
    }
    if recipe:
        document["recipe"] = recipe
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return "c-" + hashlib.sha256(canonical.encode()).hexdigest()[:16]


# ---------------------------------------------------------------------------------------------------
# Extras rendered as Containerfile instructions
# ---------------------------------------------------------------------------------------------------


def source_tag(
    builder: Literal["containerfile", "nix"],
    source: Path | str,
    base_digest: str,
    extras: ImageExtras,
    *,
    attr: str | None = None,
) -> str:
    """The immutable tag of a child from its source: a Containerfile context, or a flake directory
    and attribute. One definition for the program (plan time) and ``tools.build_image`` (up)."""
    recipe = "" if builder == "containerfile" else f"nix:.#{attr}"
    return child_tag(context_digest(source), base_digest, extras, recipe=recipe)


def env_local_content(extras: ImageExtras) -> bytes:
    """The bytes of the generated ``~/.env.local``."""
    header = "# Written by egoengine at image build time; sourced by the login shell.\n"
    return (header + "".join(f"{line}\n" for line in extras.env_local)).encode()


def extras_context_files(extras: ImageExtras) -> dict[str, bytes]:
    """Files that ``extras_containerfile_lines`` refers to, by path relative to the build context."""
    if not extras.env_local:
        return {}
    return {ENV_LOCAL_CONTEXT_PATH: env_local_content(extras)}


def extras_containerfile_lines(user: str, home: str, extras: ImageExtras) -> list[str]:
    """Instructions appended after a child's own build (or FROM a loaded nix archive).

    They write files only: ``~/.env.local`` owned by the image's user (COPY --chown of a generated
    file) and symlinks in ``~/.local/bin`` (RUN as the image's user, so the links and any directory
    created are the user's). They never set ENV, USER, CMD, ENTRYPOINT or WORKDIR.
    """
    if extras.is_empty:
        return []
    if not home.startswith("/"):
        raise ValueError(f"home {home!r} is not an absolute path")
    lines = ["", "# egoengine extras (generated): ~/.env.local and ~/.local/bin links; config is inherited"]
    if extras.env_local:
        chown = f"--chown={user} " if user else ""
        # JSON (exec) form keeps paths with spaces intact.
        lines.append(f"COPY {chown}{json.dumps([ENV_LOCAL_CONTEXT_PATH, f'{home}/.env.local'])}")
    if extras.links:
        bin_dir = f"{home}/.local/bin"
        commands = [f"mkdir -p {shlex.quote(bin_dir)}"]
        commands += [
            f"ln -sf {shlex.quote(target)} {shlex.quote(f'{bin_dir}/{name}')}"
            for name, target in sorted(extras.links.items())
        ]
        lines.append("RUN " + " && ".join(commands))
    return lines


# ---------------------------------------------------------------------------------------------------
# Config inheritance
# ---------------------------------------------------------------------------------------------------


class FieldChange(NamedTuple):
    field: str
    base_value: Any
    child_value: Any


class InheritanceError(Exception):
    """A child image's config differs from its base's in an inherited field."""

    def __init__(self, child_name: str, changes: Sequence[FieldChange]) -> None:
        self.child_name = child_name
        self.changes = tuple(changes)
        described = "; ".join(
            f"{change.field}: base has {json.dumps(change.base_value)}, child has {json.dumps(change.child_value)}"
            for change in self.changes
        )
        super().__init__(f"child image {child_name!r} changed inherited config ({described}); {INHERITANCE_RULE}")


def _normalized(value: Any) -> Any:
    # Engines write "unset" as absent, null, "" or []; all mean the same to a container runtime.
    return None if value in (None, "", [], {}) else value


def check_inheritance(
    child_name: str, base_config: Mapping[str, Any] | None, child_config: Mapping[str, Any] | None
) -> None:
    """Raise InheritanceError when the child's config differs from the base's in INHERITED_FIELDS.

    The arguments are the ``config`` objects of ``skopeo inspect --config`` (OCI image config), or the
    ``Config`` of ``docker image inspect`` (same field names).
    """
    base = base_config or {}
    child = child_config or {}
    changes = [
        FieldChange(name, base.get(name), child.get(name))
        for name in INHERITED_FIELDS
        if _normalized(base.get(name)) != _normalized(child.get(name))
    ]
    if changes:
        raise InheritanceError(child_name, changes)


def config_env(config: Mapping[str, Any] | None, name: str) -> str | None:
    """The value of ``name`` in an image config's Env list, or None."""
    for entry in (config or {}).get("Env") or []:
        key, separator, value = str(entry).partition("=")
        if separator and key == name:
            return str(value)
    return None


# ---------------------------------------------------------------------------------------------------
# Validation of a child definition (errors name the config key)
# ---------------------------------------------------------------------------------------------------


def child_key(index: int, field_name: str) -> str:
    """The stack config key of one field of a child image, e.g. ``egoengine:images.children[0].context``."""
    return f"egoengine:images.children[{index}].{field_name}"


_ARG_BASE = re.compile(r"^ARG\s+BASE_IMAGE\s*$", re.IGNORECASE)
_FROM_BASE = re.compile(r"^FROM\s+(\$\{BASE_IMAGE\}|\$BASE_IMAGE)(\s+AS\s+\S+)?\s*$", re.IGNORECASE)
_EXPECTED_HEAD = "a Containerfile whose first instructions are `ARG BASE_IMAGE` then `FROM ${BASE_IMAGE}`"


def _instructions(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


def validate_containerfile_context(context: Path | str, key: str, containerfile: str = CONTAINERFILE_NAME) -> Path:
    """Check a Containerfile child's context; return the Containerfile's path.

    The child must build FROM the base the program passes (``--build-arg BASE_IMAGE=<repo:tag@digest>``),
    so its first instructions must be exactly ``ARG BASE_IMAGE`` (no default) and ``FROM ${BASE_IMAGE}``.
    """
    directory = Path(context)
    if not directory.is_dir():
        raise InputError(key, f"build context {str(directory)!r} is not a directory", _EXPECTED_HEAD)
    path = directory / containerfile
    if not path.is_file():
        raise InputError(key, f"{str(path)!r} does not exist", _EXPECTED_HEAD)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(
            key, f"{str(path)!r} cannot be read as UTF-8 text ({error.__class__.__name__})", _EXPECTED_HEAD
        ) from None
    head = _instructions(text)[:2]
    if not head or not _ARG_BASE.match(head[0]):
        found = head[0] if head else "no instruction"
        raise InputError(key, f"{str(path)!r} begins with {found!r}", _EXPECTED_HEAD + " (no default value)")
    if len(head) < 2 or not _FROM_BASE.match(head[1]):
        found = head[1] if len(head) > 1 else "nothing"
        raise InputError(key, f"{str(path)!r} follows `ARG BASE_IMAGE` with {found!r}", _EXPECTED_HEAD)
    return path


def validate_flake_attr(attr: str, key: str) -> str:
    """A nix child's flake attribute (``nix build .#<attr>``)."""
    if not isinstance(attr, str) or not FLAKE_ATTR_PATTERN.match(attr):
        raise InputError(
            key,
            f"flake attribute {attr!r} is not a plain attribute name",
            "letters, digits, '_', '.', '-' (e.g. creative-lab)",
        )
    return attr


def validate_flake_dir(directory: Path | str, key: str) -> Path:
    path = Path(directory)
    if not (path / "flake.nix").is_file():
        raise InputError(key, f"{str(path)!r} has no flake.nix", "a directory containing a flake.nix")
    return path


def parse_extras(env_local: Sequence[str] | None, links: Mapping[str, str] | None, key_prefix: str) -> ImageExtras:
    """Validated ImageExtras; errors name ``<key_prefix>.envLocal[i]`` or ``<key_prefix>.links.<name>``."""
    lines: list[str] = []
    for index, line in enumerate(env_local or ()):
        key = f"{key_prefix}.envLocal[{index}]"
        if not isinstance(line, str):
            raise InputError(key, f"is a {type(line).__name__}", "a string (one line of ~/.env.local)")
        if "\n" in line or "\r" in line or "\x00" in line:
            raise InputError(key, "spans several lines", "one line per list item")
        lines.append(line)
    checked_links: dict[str, str] = {}
    for name, target in (links or {}).items():
        key = f"{key_prefix}.links.{name}"
        if not isinstance(name, str) or not LINK_NAME_PATTERN.match(name) or name in (".", ".."):
            raise InputError(
                key,
                f"link name {name!r} is not a plain file name",
                "a file name in ~/.local/bin (letters, digits, '_', '.', '+', '-')",
            )
        if not isinstance(target, str) or not target.startswith("/") or _CONTROL_CHARACTERS.search(target):
            raise InputError(
                key,
                f"target {target!r} is not an absolute path",
                "an absolute path inside the image, e.g. /opt/tool/bin/tool",
            )
        checked_links[name] = target
    return ImageExtras(env_local=tuple(lines), links=checked_links)


def validate_extras(extras: ImageExtras, key_prefix: str) -> ImageExtras:
    """Validate an already-built ImageExtras (same rules and keys as parse_extras)."""
    return parse_extras(extras.env_local, extras.links, key_prefix)


# ---------------------------------------------------------------------------------------------------
# Pinned references
# ---------------------------------------------------------------------------------------------------


class PinnedRef(NamedTuple):
    """``repo[:tag]@sha256:<hex>``."""

    repository: str
    tag: str | None
    digest: str

    @classmethod
    def parse(cls, reference: str) -> PinnedRef:
        name, separator, digest = reference.partition("@")
        if not separator or not DIGEST_PATTERN.match(digest):
            raise ValueError(f"{reference!r} is not pinned by digest; expected repo:tag@sha256:<64 hex>")
        last_component = name.rsplit("/", 1)[-1]
        tag: str | None = None
        if ":" in last_component:
            name, tag = name.rsplit(":", 1)
        if not name:
            raise ValueError(f"{reference!r} has no repository")
        return cls(name, tag, digest)

    @property
    def by_digest(self) -> str:
        """``repo@sha256:...``: the form skopeo accepts (it rejects a tag and a digest together)."""
        return f"{self.repository}@{self.digest}"

    @property
    def registry_host(self) -> str:
        return registry_host(self.repository)

    def __str__(self) -> str:
        tag = f":{self.tag}" if self.tag else ""
        return f"{self.repository}{tag}@{self.digest}"


def registry_host(repository: str) -> str:
    """The registry host of a repository name (``docker.io`` when it names none)."""
    first, separator, _ = repository.partition("/")
    if separator and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"
