"""Turn a pydantic ``ValidationError`` into one ``ConfigError``: key, problem, expectation."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic.alias_generators import to_camel

from components.errors import ConfigError
from components.settings.database import ContainerDatabase, ExternalDatabase
from components.settings.values import NAMESPACE, _FieldError


def _camel_path(loc: tuple[Any, ...]) -> str:
    """``('images', 'children', 0, 'env_local')`` -> ``images.children[0].envLocal``."""
    path = ""
    for part in loc:
        # Discriminated-union tags ('container' / 'external') appear in the location; not keys.
        if part in ("container", "external"):
            continue
        if isinstance(part, int) or (isinstance(part, str) and part.isdigit()):
            path += f"[{part}]"
        else:
            path += ("." if path else "") + (to_camel(part) if "_" in part else part)
    return path


def _describe(model: type[BaseModel], loc: tuple[Any, ...]) -> str:
    """The ``description`` of the field at ``loc``: what the operator is expected to give."""
    current: Any = model
    description = "a value as documented in the README's configuration reference"
    for part in loc:
        if isinstance(part, int):
            continue  # a list index: the item's model is already current
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part)) or next(
                (f for f in current.model_fields.values() if f.alias == part), None
            )
            if field is None:
                if part in ("container", "external"):
                    current = ContainerDatabase if part == "container" else ExternalDatabase
                    continue
                return description
            description = field.description or description
            annotation = field.annotation
            inner = [a for a in getattr(annotation, "__args__", ()) if isinstance(a, type)]
            current = annotation if isinstance(annotation, type) else (inner[0] if inner else None)
        else:
            return description
    return description


def config_error(exc: ValidationError, model: type[BaseModel]) -> ConfigError:
    """The first error of ``exc`` as one line naming the key (camelCase, as in the stack file)."""
    error = exc.errors()[0]
    loc = tuple(error["loc"])
    problem = error["msg"].removeprefix("Value error, ")
    ctx_error = error.get("ctx", {}).get("error")
    if isinstance(ctx_error, _FieldError):
        loc = loc + tuple(ctx_error.field.split("."))
    if error["type"] == "missing":
        problem = "is missing"
    elif error["type"] == "extra_forbidden":
        problem = "is not a known setting"
    elif error["type"] == "union_tag_invalid":
        problem = "is not a known mode"
        loc = loc + ("mode",)
    elif error["type"] == "union_tag_not_found":
        problem = "is missing"
        loc = loc + ("mode",)
    elif not problem.startswith(("is ", "may ", "has ", "uses ", "asks ", "carries ", "cannot ")):
        problem = f"is invalid ({problem[0].lower()}{problem[1:]})"
    key = f"{NAMESPACE}:{_camel_path(loc)}"
    return ConfigError(key, problem, _describe(model, loc))
