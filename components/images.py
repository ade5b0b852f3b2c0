"""The egoengine base image reference and the child images built on it.

The base is built by its own CI; the stack pins its git sha and resolves (or is given) the digest.
Each child is built FROM that digest by ``tools.build_image`` in a pulumi-command ``Command`` at
``up`` (never at preview), under an immutable tag that hashes the child's files, the base digest and
the extras: it rebuilds exactly when one of those changes.
"""

from __future__ import annotations

import json
from typing import Any, TypedDict

import pulumi
import pulumi_command as command
import pulumi_docker as docker
from typing_extensions import NotRequired

from components import image_build
from components.commands import python_module
from components.settings import (
    PROJECT_ROOT,
    BaseImageSettings,
    ChildImageSettings,
    RegistrySettings,
)


def image_record(ref: pulumi.Input[str]) -> pulumi.Output[dict[str, str]]:
    """``{ref, tag, digest}`` of a ``repo:tag@sha256:...`` reference."""

    def split(value: str) -> dict[str, str]:
        pinned = image_build.PinnedRef.parse(value)
        return {"ref": value, "tag": pinned.tag or "", "digest": pinned.digest}

    return pulumi.Output.from_input(ref).apply(split)


def devcontainer_document(ref: pulumi.Input[str], user: str) -> pulumi.Output[dict[str, Any]]:
    """What a ``devcontainer.json`` needs to run the image as its user."""
    return pulumi.Output.from_input(ref).apply(
        lambda value: {"image": value, "runArgs": ["--user", user]}
    )


class BaseImageArgs(TypedDict):
    settings: BaseImageSettings


class BaseImage(pulumi.ComponentResource):
    """``repo:<git sha>@sha256:...`` of the egoengine image (a read-only registry look-up)."""

    ref: pulumi.Output[str]
    digest: pulumi.Output[str]
    user: str

    def __init__(
        self, name: str, args: BaseImageArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("egoengine:images:BaseImage", name, None, opts)
        settings = args["settings"]
        if settings.digest is not None:
            self.digest = pulumi.Output.from_input(settings.digest)
        else:
            self.digest = docker.get_registry_image_output(
                name=f"{settings.repository}:{settings.tag}",
                opts=pulumi.InvokeOutputOptions(parent=self),
            ).sha256_digest
        self.ref = self.digest.apply(lambda d: f"{settings.repository}:{settings.tag}@{d}")
        self.user = settings.user
        self.register_outputs({"ref": self.ref})


class ChildImageArgs(TypedDict):
    settings: ChildImageSettings
    index: int
    """Position in ``egoengine:images.children`` (error messages name the key)."""
    base_ref: pulumi.Input[str]
    base_digest: pulumi.Input[str]
    engine_host: str
    registry: RegistrySettings
    registry_password: NotRequired[pulumi.Input[str]]


def child_build_arguments(
    settings: ChildImageSettings,
    *,
    index: int,
    base_ref: str,
    tag: str,
    insecure: bool,
) -> list[str]:
    """The ``tools.build_image`` arguments for one child (no secret among them)."""
    if settings.builder == "containerfile":
        source = ["containerfile", "--context", str(settings.context)]
    else:
        source = ["nix", "--flake", str(settings.flake), "--attr", str(settings.attr)]
    arguments = [
        *source,
        "--name", settings.name,
        "--base", base_ref,
        "--repo", settings.repository,
        "--tag", tag,
        "--config-key", f"egoengine:images.children[{index}]",
    ]
    for line in settings.env_local:
        arguments += ["--env-local", line]
    for link, target in sorted(settings.links.items()):
        arguments += ["--link", f"{link}={target}"]
    if insecure:
        arguments.append("--insecure-registry")
    return arguments


def child_tag(settings: ChildImageSettings, base_digest: str) -> str:
    """The immutable tag: files of the context (or flake), the base digest and the extras."""
    source = settings.context if settings.builder == "containerfile" else settings.flake
    return image_build.source_tag(
        settings.builder,
        PROJECT_ROOT / str(source),
        base_digest,
        image_build.ImageExtras(tuple(settings.env_local), dict(settings.links)),
        attr=settings.attr,
    )


class ChildImage(pulumi.ComponentResource):
    """One child image, built and pushed at ``up`` and checked to inherit the base's config."""

    ref: pulumi.Output[str]
    tag: pulumi.Output[str]
    build: command.local.Command

    def __init__(
        self, name: str, args: ChildImageArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("egoengine:images:ChildImage", name, None, opts)
        settings = args["settings"]
        self.tag = pulumi.Output.from_input(args["base_digest"]).apply(
            lambda digest: child_tag(settings, digest)
        )
        create = pulumi.Output.all(args["base_ref"], self.tag).apply(
            lambda parts: python_module(
                "tools.build_image",
                *child_build_arguments(
                    settings,
                    index=args["index"],
                    base_ref=parts[0],
                    tag=parts[1],
                    insecure=args["registry"].insecure,
                ),
            )
        )
        environment: dict[str, pulumi.Input[str]] = {"ENGINE_HOST": args["engine_host"]}
        if args["registry"].username and "registry_password" in args:
            environment["REGISTRY_USERNAME"] = args["registry"].username
            environment["REGISTRY_PASSWORD"] = pulumi.Output.secret(args["registry_password"])
        self.build = command.local.Command(
            f"{name}-build",
            create=create,
            environment=environment,
            # A new tag (new files, base digest or extras) replaces the build; nothing else does.
            triggers=[self.tag],
            logging=command.local.Logging.NONE,
            add_previous_output_in_env=False,
            opts=pulumi.ResourceOptions(
                parent=self,
                additional_secret_outputs=["stdout", "stderr"],
            ),
        )
        # stdout is secret because the command holds credentials; the tool prints only the
        # pushed reference (its tests check that no credential reaches any output).
        self.ref = pulumi.Output.unsecret(self.build.stdout).apply(
            lambda text: json.loads(text.strip().splitlines()[-1])["ref"]
        )
        self.register_outputs({"ref": self.ref})
