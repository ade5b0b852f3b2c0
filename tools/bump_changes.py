"""What a base image bump changes, from the offline plan's change view.

The stack is planned twice with ``tools.plan.plan_document``: as it is (``base.tag`` and the digest
the registry has for it) and as it would be (the new tag and digest), both as config overrides, so
the stack file is not touched; ``tools.plan_changes.compare`` gives the changes. From them this
module names the children whose build is replaced (a child's build is keyed on the base digest), the
templates whose ``workspace_image`` variable changes, and every replacement. When the registry no
longer has the old tag, the old side keeps the plan's stubbed digest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from components.template_variables import WORKSPACE_IMAGE
from tools.plan_changes import ChangeSet
from tools.stack_file import BASE_KEY

CHILD_IMAGE_TYPE: Final = "egoengine:images:ChildImage"
TEMPLATE_TYPE: Final = "pulumi-python:dynamic/coder:Template"
BUILD_TYPE: Final = "command:local:Command"


class PlanFailed(Exception):
    """The offline plan of one side failed (a program error, not bad config): one line, exit 2."""


@dataclass(frozen=True)
class TemplateImage:
    template: str
    before: str
    after: str


@dataclass(frozen=True)
class BumpChanges:
    """The plan's change view of one bump, and what it means for children and templates."""

    lines: tuple[str, ...]
    summary: str
    children: tuple[str, ...]
    """Every child image component of the stack."""
    rebuilt_children: tuple[str, ...]
    templates: tuple[TemplateImage, ...]
    replaced: tuple[str, ...]

    @property
    def _no_rebuild(self) -> str:
        return "none (the base digest is unchanged)" if self.children else "none (the stack has no child images)"

    def text(self) -> list[str]:
        children = ", ".join(self.rebuilt_children) or self._no_rebuild
        lines = [f"Children rebuilt: {children}", "Templates with a new workspace_image:"]
        lines += [f"  {t.template}: {t.after}" for t in self.templates] or ["  none"]
        lines.append(f"Replaced: {', '.join(self.replaced) or 'nothing'}")
        lines += ["Offline plan, change view:", *(f"  {line}" for line in self.lines or ("(no changes)",))]
        return [*lines, self.summary]

    def markdown(self) -> list[str]:
        children = ", ".join(f"`{name}`" for name in self.rebuilt_children) or self._no_rebuild
        lines = ["### What `pulumi up` will change (offline plan)", "", f"- Children rebuilt: {children}"]
        if self.templates:
            lines.append("- Templates with a new `workspace_image`:")
            lines += [f"  - `{t.template}`: `{t.before}` → `{t.after}`" for t in self.templates]
        else:
            lines.append("- Templates with a new `workspace_image`: none")
        lines.append(f"- Replaced: {', '.join(f'`{name}`' for name in self.replaced) or 'nothing'}")
        return [*lines, "", "```text", *(self.lines or ("(no changes)",)), "```", "", f"**{self.summary}**"]


def base_overrides(tag: str, digest: str | None) -> list[str]:
    """The plan's ``--config-override`` texts that put the stack on ``tag`` (and ``digest``)."""
    overrides = [f"{BASE_KEY}.tag={tag}"]
    if digest is not None:
        overrides.append(f"{BASE_KEY}.digest={digest}")
    return overrides


def _by_name(document: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {str(entry["name"]): entry for entry in document.get("resources", []) if isinstance(entry, Mapping)}


def _workspace_image(entry: Mapping[str, Any] | None) -> str:
    variables = (entry or {}).get("inputs", {}).get("variables") or {}
    return str(variables.get(WORKSPACE_IMAGE, "")) if isinstance(variables, Mapping) else ""


def interpret(old: Mapping[str, Any], new: Mapping[str, Any], changes: ChangeSet) -> BumpChanges:
    """``changes``: ``tools.plan_changes.compare(old, new)``."""
    olds, news = _by_name(old), _by_name(new)
    children = {name for name, entry in news.items() if entry.get("type") == CHILD_IMAGE_TYPE}
    rebuilt: list[str] = []
    templates: list[TemplateImage] = []
    replaced: list[str] = []
    for change in changes.changes:
        entry = news.get(change.name) or olds.get(change.name) or {}
        if change.action == "replace":
            replaced.append(change.name)
            if change.type == BUILD_TYPE and entry.get("parent") in children:
                rebuilt.append(str(entry["parent"]))
        if change.type == TEMPLATE_TYPE and change.action in ("update", "replace"):
            before, after = _workspace_image(olds.get(change.name)), _workspace_image(news.get(change.name))
            if before != after:
                templates.append(TemplateImage(str(entry.get("inputs", {}).get("name", change.name)), before, after))
    return BumpChanges(
        tuple(changes.lines()), changes.summary(), tuple(sorted(children)), tuple(sorted(rebuilt)),
        tuple(sorted(templates, key=lambda t: t.template)), tuple(sorted(replaced)),
    )


def plan_bump(stack: str, before: tuple[str, str | None], after: tuple[str, str]) -> BumpChanges:
    """Plan the stack on ``before`` and on ``after`` ((tag, digest)) and interpret the change view.

    ``ConfigError`` (bad config, naming the key) passes through; the plan's other failures become
    ``PlanFailed``.
    """
    # The plan imports the program and the SDKs; only a bump that changes something needs them.
    from tools import mock_engine, plan, plan_changes

    documents = []
    for tag, digest in (before, after):
        try:
            documents.append(plan.plan_document(stack, overrides=base_overrides(tag, digest)))
        except (plan.PlanError, mock_engine.ProgramFailed) as error:
            raise PlanFailed(f"the offline plan of {stack} on base tag {tag} failed: {error}") from None
    old, new = documents
    return interpret(old, new, plan_changes.compare(old, new))
