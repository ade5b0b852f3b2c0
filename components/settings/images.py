"""The base image and the child images built on it."""

from pathlib import PurePosixPath
from typing import Literal

from pydantic import Field, field_validator, model_validator

from components import image_build
from components.image_build import DIGEST_PATTERN
from components.errors import ConfigError
from components.settings import values
from components.settings.values import (
    _GIT_SHA,
    _IMAGE_NAME,
    _check_repository,
    _empty_dict,
    _empty_list,
    _FieldError,
    _Model,
    _project_dir,
)


class BaseImageSettings(_Model):
    repository: str = Field(
        "ghcr.io/joshsymonds/nix-config/egoengine",
        description="the base image repository, e.g. ghcr.io/joshsymonds/nix-config/egoengine",
    )
    tag: str = Field(..., description="the git sha the base image's CI pushed (7-40 hex)")
    digest: str | None = Field(
        None,
        description="sha256:<64 hex> to pin offline; when absent the digest is looked up in the registry",
    )
    user: str = Field("joshsymonds", description="the image's user (devcontainer runArgs --user)")

    @field_validator("repository")
    @classmethod
    def _repository(cls, value: str) -> str:
        return _check_repository(value)

    @field_validator("digest")
    @classmethod
    def _digest(cls, value: str | None) -> str | None:
        if value is not None and not DIGEST_PATTERN.match(value):
            raise ValueError("is not a sha256 digest")
        return value

    @model_validator(mode="after")
    def _immutable(self) -> "BaseImageSettings":
        if not _GIT_SHA.match(self.tag) and self.digest is None:
            raise _FieldError(
                "tag", "is not an immutable git sha (and no digest is pinned)"
            )
        return self


class ChildImageSettings(_Model):
    name: str = Field(..., description="a lower-case image name, e.g. creative-lab")
    builder: Literal["containerfile", "nix"] = Field(
        "containerfile", description="'containerfile' or 'nix'"
    )
    repository: str = Field(..., description="where the child is pushed, e.g. ghcr.io/owner/name")
    context: str | None = Field(
        None, description="the build context directory under images/ (containerfile builder)"
    )
    flake: str | None = Field(
        None, description="the directory holding flake.nix (nix builder), not the project root"
    )
    attr: str | None = Field(None, description="the flake attribute: nix build .#<attr>")
    env_local: list[str] = Field(
        default_factory=_empty_list, description="lines for the base user's ~/.env.local"
    )
    links: dict[str, str] = Field(
        default_factory=_empty_dict, description="link name in ~/.local/bin -> absolute target path"
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _IMAGE_NAME.match(value):
            raise ValueError("is not a lower-case name of letters, digits and dashes")
        return value

    @field_validator("repository")
    @classmethod
    def _repository(cls, value: str) -> str:
        return _check_repository(value)

    @field_validator("context", "flake")
    @classmethod
    def _directory(cls, value: str | None) -> str | None:
        return None if value is None else _project_dir(value)


class RegistrySettings(_Model):
    username: str | None = Field(
        None, description="the registry user for pushes (password: secrets.registryPassword)"
    )
    insecure: bool = Field(False, description="true only for a plain-HTTP test registry")


class ImagesSettings(_Model):
    base: BaseImageSettings = Field(
        ..., description="an object with at least tag: the git sha the base image's CI pushed"
    )
    registry: RegistrySettings = Field(
        RegistrySettings(), description="an object such as {username: joshsymonds}"
    )
    children: list[ChildImageSettings] = Field(
        default_factory=_empty_list,
        description="a list of child images, each {name, repository, context} or "
        "{name, builder: nix, repository, flake, attr}",
    )

    @model_validator(mode="after")
    def _unique(self) -> "ImagesSettings":
        names = [child.name for child in self.children]
        for index, name in enumerate(names):
            if name == "base" or names.index(name) != index:
                raise _FieldError(f"children.{index}.name", "is used twice (or is 'base')")
        return self

    def check_children(self) -> None:
        """File-level checks of each child (Containerfile head, flake attr, extras), named by key."""
        for index, child in enumerate(self.children):
            if child.builder == "containerfile":
                if child.context is None:
                    raise ConfigError(
                        image_build.child_key(index, "context"),
                        "is missing for a containerfile child",
                        "a build context directory under images/",
                    )
                image_build.validate_containerfile_context(
                    values.PROJECT_ROOT / child.context, image_build.child_key(index, "context")
                )
            else:
                if child.flake is None or PurePosixPath(child.flake) == PurePosixPath("."):
                    # The flake's files feed the immutable tag: the whole project would change
                    # it with every unrelated edit.
                    raise ConfigError(
                        image_build.child_key(index, "flake"),
                        "is missing or the project root",
                        "the directory of the child's flake (its files decide the image tag)",
                    )
                if child.attr is None:
                    raise ConfigError(
                        image_build.child_key(index, "attr"),
                        "is missing for a nix child",
                        "a flake attribute such as creative-lab",
                    )
                image_build.validate_flake_attr(child.attr, image_build.child_key(index, "attr"))
                image_build.validate_flake_dir(
                    values.PROJECT_ROOT / child.flake, image_build.child_key(index, "flake")
                )
            image_build.parse_extras(
                child.env_local, child.links, f"egoengine:images.children[{index}]"
            )
