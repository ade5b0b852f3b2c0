"""Move a stack to a new egoengine base image: resolve the tag, rewrite the stack file, say what follows.

    python -m tools.bump_base STACK --tag <git-sha> | --newest
        [--insecure-registry] [--summary-file FILE] [--github-output FILE]

``--tag`` must exist in the stack's base repository (``egoengine:images.base.repository``); a full
sha also finds the base CI's short tag of that commit. ``--newest`` takes the git-sha-shaped tag
(7-40 lowercase hex) whose image config ``created`` time is newest; ``latest`` and other names are
ignored. Look-ups are read-only, with skopeo (``tools.base_registry``); credentials come from
``REGISTRY_USERNAME`` / ``REGISTRY_PASSWORD`` (both or neither; none for a public base).

Before anything is written, the offline plan runs on the stack as it is and as it would be, and its
change view says which children rebuild, which templates get a new ``workspace_image`` and whether
anything is replaced (``tools.bump_changes``). ``Pulumi.<STACK>.yaml`` then gets the new
``egoengine:images.base.tag``, and the new ``digest`` when the stack pins one; every other byte of
the file stays as it was (``tools.stack_file``). A stack already on that tag is left alone (exit 0).

stdout: what changed and what ``up`` will do. ``--summary-file``: the same as Markdown (a pull request body).
``--github-output``: appends ``changed``, ``tag``, ``digest`` and ``previous-tag`` lines for a
GitHub Actions step. Exit status: 0 done or nothing to do; 2 a missing tag, an unreachable
registry, a stack without a base image, or other bad input (one line on stderr).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from components.errors import ConfigError
from components.image_build import registry_host
from tools import base_registry, bump_changes, stack_file
from tools.base_registry import BaseImage, RegistryError, Skopeo
from tools.build_image import credentials_from, write_authfile
from tools.bump_changes import BumpChanges, PlanFailed
from tools.stack_file import BASE_KEY, BasePin, StackFileError

EXIT_OK: Final = 0
EXIT_ERROR: Final = 2
PROJECT_DIR: Final = Path(__file__).resolve().parent.parent
_STACK_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class BumpError(Exception):
    """Bad use of the tool: one line, exit 2."""


@dataclass(frozen=True)
class Bump:
    """What the tool found and did."""

    stack: str
    pin: BasePin
    previous: BaseImage | None
    """The stack's current tag as the registry has it (None when the registry no longer has it)."""
    target: BaseImage
    changes: BumpChanges | None = None
    """The plan's change view (None when nothing changes)."""

    @property
    def changed(self) -> bool:
        return self.target.tag != self.pin.tag.value

    @property
    def digest_pinned(self) -> bool:
        return self.pin.digest is not None


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.bump_base", description=__doc__.split("\n\n")[0])
    parser.add_argument("stack", help="stack name: rewrites Pulumi.<stack>.yaml")
    choice = parser.add_mutually_exclusive_group(required=True)
    choice.add_argument("--tag", help="the base image's git-sha tag to move to")
    choice.add_argument("--newest", action="store_true", help="the git-sha tag with the newest image 'created' time")
    parser.add_argument("--insecure-registry", action="store_true", help="plain HTTP / unverified TLS (tests only)")
    parser.add_argument("--summary-file", type=Path, metavar="FILE", help="also write the summary as Markdown")
    parser.add_argument("--github-output", type=Path, metavar="FILE", help="append step outputs (GITHUB_OUTPUT)")
    return parser.parse_args(argv)


def stack_path(stack: str) -> Path:
    if not _STACK_NAME.match(stack):
        raise BumpError(f"stack {stack!r}: expected a stack name such as vermissian")
    path = PROJECT_DIR / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        known = sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in PROJECT_DIR.glob("Pulumi.*.yaml"))
        raise BumpError(f"stack {stack!r}: no Pulumi.{stack}.yaml in {PROJECT_DIR}; expected one of: {', '.join(known)}")
    return path


def requested_sha(text: str) -> str:
    if not base_registry.GIT_SHA_TAG.match(text):
        raise BumpError(f"--tag {text[:64]!r}: is not a git sha; expected 7-40 lowercase hex characters")
    return text


def skopeo_for(repository: str, insecure: bool, environ: Mapping[str, str], workdir: Path) -> Skopeo:
    credentials = credentials_from(environ)
    authfile = write_authfile(workdir, registry_host(repository), credentials) if credentials else None
    return Skopeo(insecure=insecure, authfile=authfile)


def resolve(args: argparse.Namespace, pin: BasePin, skopeo: Skopeo) -> tuple[BaseImage | None, BaseImage]:
    """(the current tag's image or None, the target image)."""
    if args.newest:
        target = base_registry.resolve_newest(skopeo, pin.repository, prefer_length=len(pin.tag.value))
    else:
        target = base_registry.resolve_tag(skopeo, pin.repository, requested_sha(args.tag))
    if target.tag == pin.tag.value:
        return target, target
    try:
        previous: BaseImage | None = skopeo.inspect(pin.repository, pin.tag.value)
    except base_registry.TagMissing:
        previous = None  # the old tag was deleted: nothing to compare its digest with
    return previous, target


def _digest_note(bump: Bump) -> str:
    if bump.digest_pinned:
        return f"{BASE_KEY}.digest rewritten too"
    return f"{BASE_KEY}.digest is not pinned: the program resolves it at preview"


def summary_text(bump: Bump) -> str:
    pin, target = bump.pin, bump.target
    if not bump.changed:
        note = ""
        if pin.digest is not None and pin.digest.value != target.digest:
            note = f"\nnote: the stack pins {pin.digest.value}, the registry has {target.digest} for that tag"
        return f"{bump.stack}: already on base tag {target.tag} ({target.digest}); nothing to change{note}\n"
    previous = bump.previous.ref if bump.previous else f"{pin.repository}:{pin.tag.value} (no longer in the registry)"
    lines = [
        f"{bump.stack}: {BASE_KEY}.tag {pin.tag.value} -> {target.tag} in {pin.name} ({_digest_note(bump)})",
        f"  from {previous}",
        f"  to   {target.ref} (created {target.created_text})",
    ]
    if bump.changes is not None:
        lines += bump.changes.text()
    return "\n".join(lines) + "\n"


def summary_markdown(bump: Bump) -> str:
    pin, target, previous = bump.pin, bump.target, bump.previous
    if not bump.changed:
        return f"`{bump.stack}` is already on egoengine base `{target.tag}` (`{target.digest}`); nothing to change.\n"
    lines = [
        f"## egoengine base image for `{bump.stack}`: `{pin.tag.value}` → `{target.tag}`",
        "",
        "| | tag | digest | image created |",
        "|---|---|---|---|",
        f"| before | `{pin.tag.value}` | `{previous.digest if previous else 'no longer in the registry'}` "
        f"| {previous.created_text if previous else ''} |",
        f"| after | `{target.tag}` | `{target.digest}` | {target.created_text} |",
        "",
        f"Repository `{pin.repository}`. `{pin.name}`: `{BASE_KEY}.tag` rewritten, comments and every other "
        f"line kept; {_digest_note(bump).replace(BASE_KEY + '.digest', '`digest`')}.",
        "The preview of this pull request shows the rebuilds and template updates `pulumi up` will make.",
    ]
    if bump.changes is not None:
        lines += ["", *bump.changes.markdown()]
    return "\n".join(lines) + "\n"


def github_outputs(bump: Bump) -> str:
    return (
        f"changed={'true' if bump.changed else 'false'}\n"
        f"tag={bump.target.tag}\n"
        f"digest={bump.target.digest}\n"
        f"previous-tag={bump.pin.tag.value}\n"
    )


def _write_report(path: Path, text: str, *, append: bool, option: str) -> None:
    try:
        with path.open("a" if append else "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as error:
        raise BumpError(f"{option} {path}: cannot be written ({error.strerror})") from None


def run(args: argparse.Namespace, environ: Mapping[str, str]) -> Bump:
    stack = args.stack
    path = stack_path(stack)
    if args.tag is not None:
        requested_sha(args.tag)  # bad input fails before any look-up
    pin = stack_file.read(path)
    with tempfile.TemporaryDirectory(prefix="egoengine-bump-") as workdir:
        skopeo = skopeo_for(pin.repository, args.insecure_registry, environ, Path(workdir))
        previous, target = resolve(args, pin, skopeo)
    bump = Bump(stack, pin, previous, target)
    if not bump.changed:
        return bump
    # The program uses a pinned digest as it is, else what the registry has for the tag.
    before_digest = pin.digest.value if pin.digest else (previous.digest if previous else None)
    changes = bump_changes.plan_bump(stack, (pin.tag.value, before_digest), (target.tag, target.digest))
    stack_file.write(path, stack_file.rewritten(pin, target.tag, target.digest))
    return Bump(stack, pin, previous, target, changes)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        bump = run(args, os.environ)
        sys.stdout.write(summary_text(bump))
        if args.summary_file:
            _write_report(args.summary_file, summary_markdown(bump), append=False, option="--summary-file")
        if args.github_output:
            _write_report(args.github_output, github_outputs(bump), append=True, option="--github-output")
    except (BumpError, StackFileError, RegistryError, ConfigError, PlanFailed) as error:
        print(f"bump_base: {error}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


if __name__ == "__main__":
    exit_status = main()
    if (plan_stubs := sys.modules.get("tools.plan_stubs")) is not None:
        plan_stubs.close_event_loops()  # the plan ran: close its idle event loops, as tools.plan does
    sys.exit(exit_status)
