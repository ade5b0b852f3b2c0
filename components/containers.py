"""Small pieces shared by the components that run containers."""

from __future__ import annotations

import pulumi
import pulumi_docker as docker

ROLE_LABEL = "egoengine.role"
"""Label that tells the policy pack which container or volume plays which part."""


def role_labels(role: str, label_type: type = docker.ContainerLabelArgs) -> list:
    """``[label_type(label="egoengine.role", value=role)]`` for containers or volumes."""
    return [label_type(label=ROLE_LABEL, value=role)]


def pinned_image(name: str, ref: str, parent: pulumi.Resource) -> docker.RemoteImage:
    """Pull an image pinned by digest. Containers use its ``image_id``, so a new digest replaces
    the container instead of leaving it on the old image (``.name`` would hide the change)."""
    return docker.RemoteImage(
        name,
        name=ref,
        keep_locally=True,
        opts=pulumi.ResourceOptions(parent=parent),
    )


def env_list(variables: dict[str, pulumi.Input[str]]) -> pulumi.Output[list[str]]:
    """``KEY=value`` strings in key order, so identical settings give identical inputs."""
    return pulumi.Output.all(
        *[pulumi.Output.concat(key, "=", variables[key]) for key in sorted(variables)]
    )
