"""The README's configuration reference matches the settings models: every key, default and range.

Walks the pydantic models (``components.settings``) and, for each key, finds its row in the
README section of its object: the key is there, a plain default is in the default column, a
numeric range ``lo..hi`` and every literal choice are in the allowed column, a required key says
so.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import annotated_types
import pytest
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from components.settings import ChildImageSettings, ContainerDatabase, ExternalDatabase, Settings, TemplateOverride
from components.settings.messages import _is_model, _unwrap

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
REFERENCE = README.split("## Configuration reference", 1)[1].split("\n## ", 1)[0]


def sections() -> dict[str, str]:
    """``egoengine:coder`` -> the text of its section (up to the next heading)."""
    parts = re.split(r"^#{3,4} `(egoengine:[^`]+)`\n", REFERENCE, flags=re.MULTILINE)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}


def keys(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted key, field info) of every leaf setting under ``model``; nested models are walked."""
    for name, info in model.model_fields.items():
        if name == "stack":
            continue
        key = prefix + (info.alias or name)
        annotation = _unwrap(info.annotation)
        if _is_model(annotation):
            yield from keys(annotation, key + ".")
        else:
            yield key, info


CASES: list[tuple[str, str, Any]] = [
    *((f"egoengine:{key.split('.', 1)[0]}", key.split(".", 1)[1], info)
      for key, info in keys(Settings) if "." in key),
    *(("egoengine:database", key, info) for model in (ContainerDatabase, ExternalDatabase) for key, info in keys(model)),
    *(("egoengine:images.children[]", key, info) for key, info in keys(ChildImageSettings)),
    *(("egoengine:templates.overrides.<template>", key, info) for key, info in keys(TemplateOverride)),
]


def row(section: str, key: str) -> list[str]:
    """The table row whose first cell names ``key``, as cells."""
    for line in sections()[section].splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and f"`{key}`" in cells[0]:
            return cells
    raise AssertionError(f"README: no row for `{key}` in the section `{section}`")


def default_text(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, str)) and value != "":
        return str(value)
    return None


@pytest.mark.parametrize(("section", "key", "info"), CASES, ids=[f"{s}:{k}" for s, k, _ in CASES])
def test_every_key_has_its_row_with_default_and_range(section: str, key: str, info: Any) -> None:
    cells = row(section, key)
    assert len(cells) == 4, cells
    _, default, allowed, _ = cells
    if info.default is PydanticUndefined and info.default_factory is None and key != "mode":
        assert default.startswith("required"), (key, default)
    elif (text := default_text(info.default)) is not None and key != "image":
        assert f"`{text}`" in default, (key, text, default)
    bounds = {type(m): m for m in info.metadata}
    if annotated_types.Ge in bounds and annotated_types.Le in bounds:
        assert f"{bounds[annotated_types.Ge].ge}..{bounds[annotated_types.Le].le}" in allowed, (key, allowed)
    annotation = _unwrap(info.annotation)
    if get_origin(annotation) is Literal and key != "mode":
        for choice in get_args(annotation):
            assert f"`{choice}`" in allowed, (key, choice, allowed)


def test_the_database_modes_and_the_postgres_image() -> None:
    cells = row("egoengine:database", "mode")
    assert "`container`" in cells[1] and "`container`, `external`" in cells[2]
    image = row("egoengine:database", "image")
    assert ContainerDatabase.model_fields["image"].default.startswith(image[1].strip("`").rstrip("…"))
