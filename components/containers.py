"""Small pieces shared by the components that run containers."""

from __future__ import annotations

import pulumi
import pulumi_docker as docker

ROLE_LABEL = "egoengine.role"
"""Label that tells the policy pack which container or volume plays which part."""
ENGINE_LABEL = "egoengine.engine"
"""Label naming the engine a container runs on (``podman``, ``docker`` or ``unknown``): the policy
pack requires restart policy ``always`` unless it says ``docker``."""
RESTART_POLICY = "always"
"""Podman has no daemon: after a reboot only ``podman-restart.service`` starts containers, and only
those whose restart policy is ``always``. Docker's daemon restarts ``always`` containers as well."""
PODMAN_BRIDGE_IPAM_OPTIONS = {"driver": "host-local"}
"""What Podman's Docker-compatible API reports as a bridge network's IPAM options when none were
given (its default IPAM driver). The provider reads them back into ``ipamOptions``, which forces a
replacement when it differs from what was declared, so on Podman the program declares exactly this."""


def role_labels(role: str, label_type: type = docker.ContainerLabelArgs) -> list:
    """``[label_type(label="egoengine.role", value=role)]`` for containers or volumes."""
    return [label_type(label=ROLE_LABEL, value=role)]


def container_labels(role: str, engine_kind: str) -> list[docker.ContainerLabelArgs]:
    """A container's labels: its role and the engine it runs on."""
    return [*role_labels(role), docker.ContainerLabelArgs(label=ENGINE_LABEL, value=engine_kind)]


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
