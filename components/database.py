"""PostgreSQL for Coder: a server (container in the stack, or an existing one), the ``coder`` role
and database, and the connection URL Coder reads."""

from __future__ import annotations

from typing import NamedTuple, TypedDict
from urllib.parse import quote

import pulumi
import pulumi_docker as docker
import pulumi_postgresql as postgresql
from typing_extensions import NotRequired

from components.containers import RESTART_POLICY, container_labels, env_list, pinned_image, role_labels
from components.database_adoption import adopted_database
from components.settings import ContainerDatabase, ExternalDatabase

POSTGRES_PORT = 5432
NETWORK_ALIAS = "postgres"
"""Host name of the PostgreSQL container on the stack network."""


def connection_url(
    *, user: str, password: str, host: str, port: int, database: str, sslmode: str
) -> str:
    """A ``postgres://`` URL with every part percent-encoded (Coder's docs: special characters in
    the URL must be URL-encoded) and ``sslmode`` explicit (lib/pq otherwise tries SSL)."""

    def enc(part: str) -> str:
        return quote(part, safe="")

    host_part = f"[{host}]" if ":" in host else enc(host)
    return (
        f"postgres://{enc(user)}:{enc(password)}@{host_part}:{int(port)}/{enc(database)}"
        f"?sslmode={enc(sslmode)}"
    )


class AdminConnection(NamedTuple):
    """How the deploy machine logs in to the server as an admin (its password comes apart)."""

    user: str
    database: str
    sslmode: str
    superuser: bool


class DatabaseArgs(TypedDict):
    settings: ContainerDatabase | ExternalDatabase
    name_prefix: str
    """Prefix of engine-visible names, e.g. ``egoengine-dev``."""
    engine_kind: NotRequired[str]
    """``podman``, ``docker`` or ``unknown`` (the default): labelled on the container for the policy
    pack, which holds any engine not known to be Docker to restart policy ``always``."""
    password: pulumi.Input[str]
    """Password of the ``coder`` role (secret)."""
    admin_password: pulumi.Input[str]
    """Superuser password: set on the container, or the existing server's admin password (secret)."""
    coder_network_mode: str
    """How the Coder container is networked (``bridge`` or ``host``): decides the URL's host."""
    network_name: NotRequired[pulumi.Input[str]]
    """Stack network the PostgreSQL container joins (container mode with a bridged Coder)."""


class Database(pulumi.ComponentResource):
    """The ``coder`` role and database on a PostgreSQL server, and Coder's connection URL.

    ``existing: create`` declares them with the postgresql provider; ``existing: adopt`` takes
    over the ones already there (``components.database_adoption``), touching no row."""

    url: pulumi.Output[str]
    """Connection URL for Coder's container (secret)."""
    admin_host: str
    """Host the deploy machine reaches the server at (for the provider and backups)."""
    admin_port: int
    role_name: pulumi.Output[str]
    database_name: pulumi.Output[str]
    server: docker.Container | None
    ready: list[pulumi.Resource]
    """Resources that must exist before anything uses the database."""

    def __init__(
        self, name: str, args: DatabaseArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("egoengine:database:Database", name, None, opts)
        settings = args["settings"]
        child = pulumi.ResourceOptions(parent=self)

        self.server = None
        if isinstance(settings, ContainerDatabase):
            self.server = self._container(name, args, settings)
            self.admin_host, self.admin_port = "127.0.0.1", settings.host_port
            admin = AdminConnection("postgres", "postgres", "disable", True)
            server_ready = pulumi.ResourceOptions(parent=self, depends_on=[self.server])
            if args["coder_network_mode"] == "host":
                coder_host, coder_port = "127.0.0.1", settings.host_port
            else:
                coder_host, coder_port = NETWORK_ALIAS, POSTGRES_PORT
        else:
            self.admin_host, self.admin_port = settings.host, settings.port
            admin = AdminConnection(
                settings.admin_user,
                settings.admin_database,
                settings.sslmode,
                settings.admin_is_superuser,
            )
            server_ready = child
            coder_host, coder_port = settings.coder_host or settings.host, settings.port

        if settings.existing == "adopt":
            adopted = adopted_database(
                f"{name}-adopted",
                {
                    "host": self.admin_host,
                    "port": self.admin_port,
                    "admin_user": admin.user,
                    "admin_password": args["admin_password"],
                    "admin_database": admin.database,
                    "sslmode": admin.sslmode,
                    "role": settings.user,
                    "database": settings.name,
                    "password": args["password"],
                },
                server_ready,
            )
            role_name, database_name = adopted.role, adopted.database
            self.ready = [adopted]
        else:
            role_name, database_name, self.ready = self._create(
                name, args, settings, admin, server_ready
            )
        self.role_name = role_name
        self.database_name = database_name
        self.url = pulumi.Output.secret(
            pulumi.Output.all(role_name, args["password"], database_name).apply(
                lambda parts: connection_url(
                    user=parts[0],
                    password=parts[1],
                    host=coder_host,
                    port=coder_port,
                    database=parts[2],
                    sslmode=settings.sslmode,
                )
            )
        )
        self.register_outputs({"url": self.url})

    def _create(
        self,
        name: str,
        args: DatabaseArgs,
        settings: ContainerDatabase | ExternalDatabase,
        admin: AdminConnection,
        server_ready: pulumi.ResourceOptions,
    ) -> tuple[pulumi.Output[str], pulumi.Output[str], list[pulumi.Resource]]:
        """The role and database declared with the postgresql provider (``existing: create``)."""
        provider = postgresql.Provider(
            f"{name}-postgresql",
            host=self.admin_host,
            port=self.admin_port,
            username=admin.user,
            password=args["admin_password"],
            database=admin.database,
            sslmode=admin.sslmode,
            superuser=admin.superuser,
            connect_timeout=15,
            opts=server_ready,
        )
        on_server = pulumi.ResourceOptions(parent=self, provider=provider)
        role = postgresql.Role(
            f"{name}-role",
            name=settings.user,
            login=True,
            superuser=False,
            create_database=False,
            create_role=False,
            password=args["password"],
            opts=pulumi.ResourceOptions.merge(on_server, pulumi.ResourceOptions(retain_on_delete=True)),
        )
        database = postgresql.Database(
            f"{name}-database",
            name=settings.name,
            owner=role.name,
            opts=pulumi.ResourceOptions.merge(
                on_server, pulumi.ResourceOptions(protect=True, retain_on_delete=True)
            ),
        )
        return role.name, database.name, [role, database]

    def _container(
        self, name: str, args: DatabaseArgs, settings: ContainerDatabase
    ) -> docker.Container:
        prefix = args["name_prefix"]
        image = pinned_image(f"{name}-image", settings.image, self)
        volume = docker.Volume(
            f"{name}-data",
            name=settings.volume_name or f"{prefix}-postgres-data",
            labels=role_labels("postgres-data", docker.VolumeLabelArgs),
            # The data outlives the stack: never deleted by a deploy or a destroy.
            opts=pulumi.ResourceOptions(parent=self, protect=True, retain_on_delete=True),
        )
        networks = (
            [docker.ContainerNetworksAdvancedArgs(name=args["network_name"], aliases=[NETWORK_ALIAS])]
            if "network_name" in args
            else None
        )
        return docker.Container(
            f"{name}-server",
            name=settings.container_name or f"{prefix}-postgres",
            image=image.image_id,
            envs=env_list({"POSTGRES_USER": "postgres", "POSTGRES_PASSWORD": args["admin_password"]}),
            volumes=[
                docker.ContainerVolumeArgs(
                    volume_name=volume.name, container_path="/var/lib/postgresql/data"
                )
            ],
            # Loopback only: the deploy machine's provider and backups connect here.
            ports=[
                docker.ContainerPortArgs(
                    internal=POSTGRES_PORT, external=settings.host_port, ip="127.0.0.1"
                )
            ],
            networks_advanced=networks,
            # TCP probe: the entrypoint's temporary init server listens on the socket only, so a
            # socket probe would report healthy before the real server is up.
            healthcheck=docker.ContainerHealthcheckArgs(
                tests=["CMD", "pg_isready", "-h", "127.0.0.1", "-U", "postgres"],
                interval="5s",
                timeout="5s",
                retries=12,
                start_period="10s",
            ),
            wait=True,
            wait_timeout=120,
            restart=RESTART_POLICY,
            must_run=True,
            labels=container_labels("postgres", args.get("engine_kind", "unknown")),
            # The host port is fixed, so the old container must go before the new one starts.
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True),
        )
