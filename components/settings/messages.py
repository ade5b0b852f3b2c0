"""Turn a pydantic ``ValidationError`` into one ``ConfigError``: key, problem, expectation.

The key is spelled as in the stack file (camelCase field names, ``[i]`` for list items, template
names as written); the expectation is the field's own ``description``, or for an unknown key the
valid keys of that object; a check that rejects a value says itself what to give instead
(``_FieldError.expected``), so a rejected value is never offered back.
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from components.errors import ConfigError
from components.settings.values import NAMESPACE, _FieldError

_FALLBACK = "a value as documented in the README's configuration reference"
_OWN_WORDS = ("is ", "may ", "has ", "uses ", "asks ", "carries ", "cannot ", "must ", "names ", "does ")
_TYPE_PROBLEMS = {
    "model_type": "is not an object",
    "model_attributes_type": "is not an object",
    "dict_type": "is not an object",
    "list_type": "is not a list",
    "string_type": "is not a string",
    "int_type": "is not a whole number",
    "int_parsing": "is not a whole number",
    "int_from_float": "is not a whole number",
    "bool_type": "is not true or false",
    "bool_parsing": "is not true or false",
}


def _unwrap(annotation: Any) -> Any:
    """``Annotated[X, ...]`` -> X; ``X | None`` -> X; a union of models stays a tuple of them."""
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    if get_origin(annotation) in (Union, types.UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        annotation = members[0] if len(members) == 1 else tuple(_unwrap(m) for m in members)
    return annotation


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


@dataclass
class _Place:
    """Where a location points: its key as written, what it expects, and the object holding it."""

    path: str = ""
    description: str = _FALLBACK
    parent: type[BaseModel] | None = None
    known: bool = True
    """False once the path leaves the models (an unknown key)."""


def _field(model: type[BaseModel], part: Any) -> tuple[str, Any] | None:
    for name, info in model.model_fields.items():
        if part in (name, info.alias):
            return name, info
    return None


def locate(model: type[BaseModel], loc: tuple[Any, ...]) -> _Place:
    place = _Place()
    current: Any = model
    for part in loc:
        if isinstance(current, tuple):  # a discriminated union: the tag picks the model
            tagged = next((m for m in current if part in getattr(m, "__name__", "").lower()), None)
            if tagged is not None:
                current = tagged
                continue
            current = next((m for m in current if _is_model(m) and _field(m, part)), None)
        if _is_model(current):
            found = _field(current, part)
            place.parent = current
            if found is None:
                place.path += ("." if place.path else "") + str(part)
                place.known, current = False, None
                continue
            _name, info = found
            place.path += ("." if place.path else "") + (info.alias or _name)
            place.description = info.description or place.description
            current = _unwrap(info.annotation)
        elif get_origin(current) is list:
            place.path += f"[{part}]"
            current = _unwrap(get_args(current)[0])
        elif get_origin(current) is dict:
            place.path += f".{part}"
            current = _unwrap(get_args(current)[1])
        else:
            place.path += ("." if place.path else "") + str(part)
            place.known = False
    return place


def _keys_of(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items() if name != "stack"]


def _loc(error: Any) -> tuple[Any, ...]:
    loc = tuple(error["loc"])
    ctx_error = error.get("ctx", {}).get("error")
    if isinstance(ctx_error, _FieldError):
        loc += tuple(int(p) if p.isdigit() else p for p in ctx_error.field.split("."))
    return loc


def _unknown_key(model: type[BaseModel], error: Any, missing: list[tuple[Any, ...]]) -> ConfigError:
    """An unknown key: the valid keys of its object, the close one and whether it is missing."""
    loc = _loc(error)
    place = locate(model, loc)
    valid = _keys_of(place.parent) if place.parent else []
    missing_paths = [locate(model, m).path for m in missing if m[:-1] == loc[:-1]]
    missing_here = {path.rsplit(".", 1)[-1]: path for path in missing_paths}
    import difflib  # only for a bad key: not loaded at every preview

    close = difflib.get_close_matches(str(loc[-1]), valid, n=1, cutoff=0.75)
    hint = ""
    if close:
        also = f" {NAMESPACE}:{missing_here[close[0]]} is missing" if close[0] in missing_here else ""
        hint = f" (did you mean {close[0]}?{also})"
    elif missing_here:
        hint = f" ({NAMESPACE}:{next(iter(missing_here.values()))} is missing too)"
    parent_path = place.path.rsplit(".", 1)[0] if "." in place.path else ""
    of = f" of {NAMESPACE}:{parent_path}" if parent_path else ""
    expected = f"one of the keys{of}: {', '.join(valid)}" if valid else _FALLBACK
    return ConfigError(f"{NAMESPACE}:{place.path}", f"is not a known setting{hint}", expected)


def config_error(exc: ValidationError, model: type[BaseModel]) -> ConfigError:
    """The first error of ``exc`` as one line naming the key (camelCase, as in the stack file);
    an unknown key is reported with the missing key it probably meant."""
    errors = exc.errors()
    missing = [tuple(e["loc"]) for e in errors if e["type"] == "missing"]
    unknown = [e for e in errors if e["type"] == "extra_forbidden"]
    error = unknown[0] if unknown and missing else errors[0]
    if error["type"] == "extra_forbidden":
        return _unknown_key(model, error, missing)
    loc = _loc(error)
    problem = str(error["msg"]).removeprefix("Value error, ")
    expected: str | None = None
    ctx_error = error.get("ctx", {}).get("error")
    if isinstance(ctx_error, _FieldError):
        expected = ctx_error.expected
    if error["type"] == "missing":
        problem = "is missing"
    elif error["type"] == "union_tag_invalid":
        problem, loc = "is not a known mode", loc + ("mode",)
    elif error["type"] == "union_tag_not_found":
        problem, loc = "is missing", loc + ("mode",)
    elif error["type"] in _TYPE_PROBLEMS:
        problem = _TYPE_PROBLEMS[error["type"]]
    elif not problem.startswith(_OWN_WORDS):
        problem = f"is invalid ({problem[0].lower()}{problem[1:]})"
    place = locate(model, loc)
    return ConfigError(f"{NAMESPACE}:{place.path}", problem, expected or place.description)
