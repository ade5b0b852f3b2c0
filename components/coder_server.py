"""The Coder server container: pinned image, environment from the graph, health-checked."""

from __future__ import annotations

from typing import TypedDict

import pulumi
import pulumi_docker as docker
from typing_extensions import NotRequired

from components.containers import container_labels, env_list, pinned_image
from components.settings import CoderSettings, EngineSettings

DEFAULT_MAX_ADMIN_TOKEN_HOURS = 168
"""Coder's default ``CODER_MAX_ADMIN_TOKEN_LIFETIME``: Owner tokens are capped at 7 days."""

NETWORK_ALIAS = "coder"
"""Host name of the Coder container on the stack network; workspace agents connect to it there."""


class CoderServerArgs(TypedDict):
    settings: CoderSettings
    engine: EngineSettings
    socket_gid: int
    """Group owning the engine socket: added to the container so Coder can create workspaces."""
    name_prefix: str
    engine_kind: NotRequired[str]
    """``podman``, ``docker`` or ``unknown`` (the default): labelled on the container for the policy
    pack, which holds any engine not known to be Docker to restart policy ``always``."""
    database_url: pulumi.Input[str]
    """``CODER_PG_CONNECTION_URL`` (secret)."""
    provisioner_psk: pulumi.Input[str]
    """``CODER_PROVISIONER_DAEMON_PSK`` (secret)."""
    admin_token_lifetime_hours: NotRequired[int]
    """Raises ``CODER_MAX_ADMIN_TOKEN_LIFETIME`` when the operator token should live longer than 168h."""
    network_name: NotRequired[pulumi.Input[str]]
    uploads: NotRequired[list[docker.ContainerUploadArgs]]
    """Files written into the container at create (the workspace hosts' SSH key, mode 600)."""
    before_change: NotRequired[list[pulumi.Resource]]
    """Resources the container waits for, e.g. the database dump taken before an image change."""


def internal_url(settings: CoderSettings) -> str:
    """Where the deploy machine (and the health check) reach Coder."""
    host = settings.bind_address
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}"


def agent_url(settings: CoderSettings) -> str:
    """Where workspace agents reach Coder (the templates' ``coder_agent_url``).

    Bridged, Coder is published on loopback only, which a workspace container cannot reach; the
    workspace joins the stack network and uses the Coder container's alias there. On the host
    network the empty value keeps the access URL, which the provisioner hands the coder provider.
    """
    if settings.network == "bridge":
        return f"http://{NETWORK_ALIAS}:{settings.port}"
    return ""


def coder_environment(
    settings: CoderSettings,
    *,
    database_url: pulumi.Input[str],
    provisioner_psk: pulumi.Input[str],
    admin_token_lifetime_hours: int | None,
) -> dict[str, pulumi.Input[str]]:
    """Coder's documented server variables, built from the graph."""
    if settings.network == "host":
        http_address = f"{settings.bind_address}:{settings.port}"
    else:
        # Inside its own network namespace Coder listens on all interfaces; the published
        # port decides who can reach it.
        http_address = f"0.0.0.0:{settings.port}"
    env: dict[str, pulumi.Input[str]] = {
        "CODER_PG_CONNECTION_URL": database_url,
        "CODER_HTTP_ADDRESS": http_address,
        "CODER_ACCESS_URL": settings.access_url,
        "CODER_PROVISIONER_DAEMON_PSK": provisioner_psk,
        "CODER_TELEMETRY_ENABLE": "true" if settings.telemetry else "false",
        "CODER_UPDATE_CHECK": "false",
    }
    if settings.wildcard_access_url:
        env["CODER_WILDCARD_ACCESS_URL"] = settings.wildcard_access_url
    if admin_token_lifetime_hours and admin_token_lifetime_hours > DEFAULT_MAX_ADMIN_TOKEN_HOURS:
        env["CODER_MAX_ADMIN_TOKEN_LIFETIME"] = f"{admin_token_lifetime_hours}h"
    return env


class CoderServer(pulumi.ComponentResource):
    """Coder in a container, healthy before ``up`` moves on."""

    internal_url: pulumi.Output[str]
    access_url: pulumi.Output[str]
    image_ref: pulumi.Output[str]
    version: pulumi.Output[str]
    container: docker.Container

    def __init__(
        self, name: str, args: CoderServerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("egoengine:coder:Server", name, None, opts)
        settings = args["settings"]
        socket_path = args["engine"].socket_path
        image = pinned_image(f"{name}-image", str(settings.image), self)

        env = coder_environment(
            settings,
            database_url=args["database_url"],
            provisioner_psk=args["provisioner_psk"],
            admin_token_lifetime_hours=args.get("admin_token_lifetime_hours"),
        )
        bridged = settings.network == "bridge"
        # Probed from inside the container: its own loopback when bridged, the bind address on host.
        health_base = f"http://127.0.0.1:{settings.port}" if bridged else internal_url(settings)
        self.container = docker.Container(
            f"{name}-container",
            name=settings.container_name or f"{args['name_prefix']}-coder",
            # Keyed on the image id: a new digest replaces the container (and shows in preview).
            image=image.image_id,
            envs=env_list(env),
            # The engine socket at the same path inside, so templates use the same URI.
            volumes=(
                [docker.ContainerVolumeArgs(host_path=socket_path, container_path=socket_path)]
                if socket_path
                else None
            ),
            group_adds=[str(args["socket_gid"])],
            network_mode="host" if not bridged else None,
            ports=(
                [
                    docker.ContainerPortArgs(
                        internal=settings.port, external=settings.port, ip=settings.bind_address
                    )
                ]
                if bridged
                else None
            ),
            networks_advanced=(
                [
                    docker.ContainerNetworksAdvancedArgs(
                        name=args["network_name"], aliases=[NETWORK_ALIAS]
                    )
                ]
                if bridged and "network_name" in args
                else None
            ),
            healthcheck=docker.ContainerHealthcheckArgs(
                tests=["CMD", "curl", "-fsS", f"{health_base}/healthz"],
                interval="10s",
                timeout="5s",
                retries=6,
                start_period="30s",
            ),
            wait=True,
            wait_timeout=settings.health_timeout_seconds,
            restart=settings.restart,
            must_run=True,
            labels=container_labels("coder-server", args.get("engine_kind", "unknown")),
            uploads=args.get("uploads"),
            # The host port is fixed: the old container must stop before the new one binds it.
            opts=pulumi.ResourceOptions(
                parent=self,
                delete_before_replace=True,
                depends_on=args.get("before_change", []),
            ),
        )
        self.internal_url = self.container.id.apply(lambda _: internal_url(settings))
        self.access_url = pulumi.Output.from_input(settings.access_url)
        self.image_ref = pulumi.Output.from_input(str(settings.image))
        self.version = pulumi.Output.from_input(settings.version)
        self.register_outputs(
            {
                "internal_url": self.internal_url,
                "access_url": self.access_url,
                "image_ref": self.image_ref,
            }
        )
