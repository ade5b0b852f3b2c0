"""Templates checked at preview, before anything reaches Coder (or is hashed, or read whole).

For ``templates.directory``: a subdirectory that holds files but no Terraform is reported (it would
otherwise be skipped, and its template deleted at ``up``); no template at all fails unless
``templates.allowNone`` says so (an empty set deletes every template). For each template: its
upload fits Coder's 1 MiB limit, computed from file sizes over the archive's own selection; its
Terraform parses; it declares every variable the program passes, the secret ones ``sensitive``.
Then each override's extra variables are checked against what its template declares.

Each problem is one :class:`ConfigError` line naming the key, the template and what is expected.
Parses come from :mod:`components.parse_cache`, so an unchanged template is not parsed again.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from components import parse_cache, template_archive, template_variables
from components.errors import ConfigError

NAMESPACE = "egoengine"
_TERRAFORM_SUFFIXES = (".tf", ".tf.json")


class _Override(Protocol):
    @property
    def variables(self) -> Mapping[str, str]: ...


class TemplatesConfig(Protocol):
    """What the check reads of ``settings.TemplatesSettings``."""

    @property
    def directory(self) -> str: ...

    @property
    def allow_none(self) -> bool: ...

    @property
    def overrides(self) -> Mapping[str, _Override]: ...


def _is_template(directory: Path) -> bool:
    return any(path.name.endswith(_TERRAFORM_SUFFIXES) for path in directory.iterdir() if path.is_file())


def _holds_files(directory: Path) -> bool:
    """Any file that Coder's selection would upload (hidden files and directories do not count)."""
    return any(
        path.is_file() and not any(part.startswith(".") for part in path.relative_to(directory).parts)
        for path in directory.rglob("*")
    )


def template_names(root: Path) -> list[str]:
    """The template directories under ``root``, sorted (the same rule as ``discover()``)."""
    return sorted(
        entry.name
        for entry in root.iterdir()
        if entry.is_dir() and not entry.name.startswith(".") and _is_template(entry)
    )


def check_templates(config: TemplatesConfig, root: Path) -> None:
    """Raise :class:`ConfigError` for the first problem found (see the module docstring)."""
    key = f"{NAMESPACE}:templates.directory"
    for entry in sorted(root.iterdir()):
        if entry.is_dir() and not entry.name.startswith(".") and not _is_template(entry) and _holds_files(entry):
            raise ConfigError(
                key,
                f"{config.directory}/{entry.name} holds files but no *.tf",
                f"a main.tf in every subdirectory of {config.directory} (each is one template), "
                "or move that directory elsewhere",
            )
    names = template_names(root)
    if not names and not config.allow_none:
        raise ConfigError(
            key,
            f"{config.directory} holds no template (no subdirectory with a main.tf)",
            "the directory of the Coder templates, or egoengine:templates.allowNone: true "
            "(an empty set deletes every template at up)",
        )
    for name in names:
        _check_template(root / name, f"{key} ({config.directory}/{name})")
    _check_overrides(config, root)


def _check_template(directory: Path, template_key: str) -> None:
    files = template_archive.template_files(directory, config_key=template_key)
    template_archive.check_archive_limit(files, template_key)
    declared = parse_cache.declared_variables(directory, config_key=template_key)
    missing = [name for name in template_variables.PROGRAM_VARIABLES if name not in declared]
    if missing:
        first = missing[0]
        example = (
            f'variable "{first}" with type = string and sensitive = true'
            if first in template_variables.SECRET_VARIABLES
            else f'variable "{first}" {{ type = string }}'
        )
        raise ConfigError(
            template_key,
            f"does not declare {', '.join(missing)}, which the program passes",
            f"a variable block for each, e.g. {example} (the shipped templates declare them all)",
        )
    plain = [name for name in template_variables.SECRET_VARIABLES if not declared[name]]
    if plain:
        raise ConfigError(
            template_key,
            f"declares {', '.join(plain)} without sensitive = true",
            "sensitive = true on the variables that carry secrets, so Coder never shows them",
        )


def _check_overrides(config: TemplatesConfig, root: Path) -> None:
    """Extra variables must be declared by their template and not be ones the program sets."""
    for name, override in config.overrides.items():
        if not override.variables:
            continue  # a display name or tags alone need no parse
        declared = parse_cache.declared_variables(
            root / name, config_key=f"{NAMESPACE}:templates.overrides.{name}"
        )
        for variable in override.variables:
            variable_key = f"{NAMESPACE}:templates.overrides.{name}.variables.{variable}"
            if variable in template_variables.PROGRAM_VARIABLES:
                raise ConfigError(variable_key, "is set by the program", "a variable the stack does not set")
            if variable not in declared:
                raise ConfigError(
                    variable_key, f"is not declared by the template {name}", "a variable its main.tf declares"
                )
            if declared[variable]:
                raise ConfigError(
                    variable_key,
                    "is a sensitive variable and would be stored in plain config",
                    "a non-sensitive variable (sensitive ones come from egoengine:secrets)",
                )
