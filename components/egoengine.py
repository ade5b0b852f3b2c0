"""The top component: wires settings -> secrets -> database -> backup -> Coder server."""

from __future__ import annotations

from typing import TypedDict

import pulumi
import pulumi_docker as docker
from typing_extensions import NotRequired

from components.backup import DatabaseBackup
from components.coder_server import CoderServer
from components.database import Database
from components.secrets import Secrets
from components.settings import ContainerDatabase, ResolvedSettings, Settings

REQUIRED_SECRETS = ("database_password", "database_admin_password", "provisioner_psk", "admin_password")
OPTIONAL_SECRETS = ("op_service_account_token", "codex_auth")


def needed_secrets(settings: Settings) -> tuple[str, ...]:
    """The secrets this stack resolves: the required ones and any optional one with a source."""
    optional = tuple(n for n in OPTIONAL_SECRETS if settings.secrets.source(n).kind != "none")
    return REQUIRED_SECRETS + optional


class EgoEngineArgs(TypedDict):
    resolved: ResolvedSettings
    onepassword_provider: NotRequired[pulumi.ProviderResource]


class EgoEngine(pulumi.ComponentResource):
    """Everything one stack deploys; ``outputs`` are the stack outputs."""

    outputs: dict[str, pulumi.Output]

    def __init__(
        self, name: str, args: EgoEngineArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("egoengine:index:EgoEngine", name, None, opts)
        resolved = args["resolved"]
        settings = resolved.settings
        child = pulumi.ResourceOptions(parent=self)

        secrets_args: dict = {"settings": settings.secrets, "needed": needed_secrets(settings)}
        if "onepassword_provider" in args:
            secrets_args["onepassword_provider"] = args["onepassword_provider"]
        secrets = Secrets(f"{name}-secrets", secrets_args, opts=child)  # type: ignore[arg-type]
        secret = secrets.values

        bridged = settings.coder.network == "bridge"
        network = None
        if bridged and isinstance(settings.database, ContainerDatabase):
            network = docker.Network(
                f"{name}-network", name=settings.name_prefix, opts=child
            )
        database_args: dict = {
            "settings": settings.database,
            "name_prefix": settings.name_prefix,
            "password": secret["database_password"],
            "admin_password": secret["database_admin_password"],
            "coder_network_mode": settings.coder.network,
        }
        if network is not None:
            database_args["network_name"] = network.name
        database = Database(f"{name}-database", database_args, opts=child)  # type: ignore[arg-type]

        backup = DatabaseBackup(
            f"{name}-backup",
            {
                "settings": settings.backup,
                "coder_image_ref": settings.coder.image.ref,
                "host": database.admin_host,
                "port": database.admin_port,
                "user": database.role_name,
                "password": secret["database_password"],  # type: ignore[typeddict-item]
                "database": database.database_name,
                "sslmode": settings.database.sslmode,
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=database.ready),
        )

        coder_args: dict = {
            "settings": settings.coder,
            "engine": settings.engine,
            "socket_gid": resolved.socket_gid,
            "name_prefix": settings.name_prefix,
            "database_url": database.url,
            "provisioner_psk": secret["provisioner_psk"],
            "admin_token_lifetime_hours": settings.admin.token_lifetime_hours,
            # The dump of the database is taken before the container changes.
            "before_change": [backup.dump],
        }
        if network is not None:
            coder_args["network_name"] = network.name
        coder = CoderServer(
            f"{name}-coder",
            coder_args,  # type: ignore[arg-type]
            opts=child,
        )

        self.outputs = {
            "coderAccessUrl": coder.access_url,
            "coderInternalUrl": coder.internal_url,
            "coderImage": coder.image_ref,
            "coderVersion": coder.version,
            "databaseUrl": database.url,
        }
        # Secrets resolved only to prove they are readable (e.g. the Codex auth.json the
        # workspaces read): awaited here so an unreadable 1Password item fails the preview.
        checks = {
            f"{key}Readable": value.apply(lambda _: True)
            for key, value in secret.items()
            if value is not None and key in OPTIONAL_SECRETS
        }
        self.register_outputs({**self.outputs, **checks})
