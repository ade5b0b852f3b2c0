"""The top component: settings -> secrets -> database -> backup -> Coder server -> admin ->
templates; images -> templates and devcontainers; everything -> the stack outputs."""

from __future__ import annotations

from pathlib import Path
from typing import TypedDict

import pulumi
import pulumi_docker as docker
from typing_extensions import NotRequired

from components import coder_server, template_archive, template_variables, workspace_hosts
from components.backup import DatabaseBackup, DatabaseBackupArgs
from components.coder_admin import CoderAdmin, CoderAdminArgs
from components.coder_server import CoderServer, CoderServerArgs, internal_url
from components.coder_template import CoderTemplate, CoderTemplateArgs
from components.containers import PODMAN_BRIDGE_IPAM_OPTIONS
from components.database import Database, DatabaseArgs
from components.downgrade_guard import DowngradeGuard, DowngradeGuardArgs
from components.images import (
    BaseImage,
    BaseImageArgs,
    ChildImage,
    ChildImageArgs,
    devcontainer_document,
    image_record,
)
from components.secrets import Secrets, SecretsArgs
from components.settings import PROJECT_ROOT, ContainerDatabase, ResolvedSettings, Settings

REQUIRED_SECRETS = ("database_password", "database_admin_password", "provisioner_psk", "admin_password")
OPTIONAL_SECRETS = ("op_service_account_token", "codex_auth", "registry_password")


def needed_secrets(settings: Settings) -> tuple[str, ...]:
    """The secrets this stack resolves: the required ones and any optional one with a source."""
    optional = tuple(n for n in OPTIONAL_SECRETS if settings.secrets.source(n).kind != "none")
    return REQUIRED_SECRETS + optional


class EgoEngineArgs(TypedDict):
    resolved: ResolvedSettings
    onepassword_provider: NotRequired[pulumi.ProviderResource]
    tls_provider: NotRequired[pulumi.ProviderResource]
    """Generates the workspace hosts' SSH key (needed when ``egoengine:hosts`` is not empty)."""
    deploy_ssh_dir: NotRequired[Path]


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

        secrets_args = SecretsArgs(settings=settings.secrets, needed=needed_secrets(settings))
        if isinstance(settings.database, ContainerDatabase):
            # POSTGRES_PASSWORD takes effect only when initdb creates the retained volume.
            secrets_args["baked_into_data"] = ("database_admin_password",)
        if "onepassword_provider" in args:
            secrets_args["onepassword_provider"] = args["onepassword_provider"]
        secrets = Secrets(f"{name}-secrets", secrets_args, opts=child)
        secret = secrets.values

        bridged = settings.coder.network == "bridge"
        network = None
        # A bridged Coder needs the stack network even with an external database: workspaces
        # join it to reach Coder, which is published on loopback only.
        if bridged:
            network = docker.Network(
                f"{name}-network",
                name=settings.name_prefix,
                ipam_options=PODMAN_BRIDGE_IPAM_OPTIONS if resolved.engine_kind == "podman" else None,
                opts=child,
            )
        database_args = DatabaseArgs(
            settings=settings.database,
            name_prefix=settings.name_prefix,
            engine_kind=resolved.engine_kind,
            password=secrets.required("database_password"),
            admin_password=secrets.required("database_admin_password"),
            coder_network_mode=settings.coder.network,
        )
        if network is not None and isinstance(settings.database, ContainerDatabase):
            database_args["network_name"] = network.name
        database = Database(f"{name}-database", database_args, opts=child)

        backup = DatabaseBackup(
            f"{name}-backup",
            DatabaseBackupArgs(
                settings=settings.backup,
                coder_image_ref=str(settings.coder.image),
                host=database.admin_host,
                port=database.admin_port,
                user=database.role_name,
                password=secrets.required("database_password"),
                database=database.database_name,
                sslmode=settings.database.sslmode,
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=database.ready),
        )

        # After the dump, before the container: an older Coder never starts on a newer schema.
        guard = DowngradeGuard(
            f"{name}-downgrade-guard",
            DowngradeGuardArgs(
                configured_version=settings.coder.version,
                url=internal_url(settings.coder),
                backup_directory=settings.backup.directory,
                allow_downgrade=settings.coder.allow_downgrade,
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[backup.dump]),
        )

        coder_args = CoderServerArgs(
            settings=settings.coder,
            engine=settings.engine,
            socket_gid=resolved.socket_gid,
            name_prefix=settings.name_prefix,
            engine_kind=resolved.engine_kind,
            database_url=database.url,
            provisioner_psk=secrets.required("provisioner_psk"),
            admin_token_lifetime_hours=settings.admin.token_lifetime_hours,
            # The dump of the database is taken, and the version checked, before it changes.
            before_change=[backup.dump, guard.check],
        )
        if network is not None:
            coder_args["network_name"] = network.name
        identity = workspace_hosts.hosts_identity(
            f"{name}-hosts-identity", settings, self, args.get("tls_provider"),
            args.get("onepassword_provider"), args.get("deploy_ssh_dir"),
        )
        if identity is not None:
            coder_args["uploads"] = identity.coder_uploads
        coder = CoderServer(f"{name}-coder", coder_args, opts=child)

        admin = CoderAdmin(
            f"{name}-admin",
            CoderAdminArgs(
                url=coder.internal_url,
                email=settings.admin.email,
                username=settings.admin.username,
                full_name=settings.admin.full_name,
                password=secrets.required("admin_password"),
                token_name=settings.admin.token_name,
                token_lifetime_hours=settings.admin.token_lifetime_hours,
                health_timeout_seconds=settings.coder.health_timeout_seconds,
            ),
            opts=child,
        )

        image_refs = self._images(name, settings, secret)
        # Workspace hosts hold their images before a template can start a workspace there.
        pre_pulls = workspace_hosts.host_images(f"{name}-host", settings, identity, image_refs, self)
        templates = self._templates(name, settings, secrets, coder, admin, image_refs, network, pre_pulls)

        self.outputs = {
            "coderAccessUrl": coder.access_url,
            "coderInternalUrl": coder.internal_url,
            "coderImage": coder.image_ref,
            "coderVersion": coder.version,
            "databaseUrl": database.url,
            "adminUsername": pulumi.Output.from_input(settings.admin.username),
            "adminPassword": pulumi.Output.secret(secrets.required("admin_password")),
            "adminToken": admin.token,
            "templates": pulumi.Output.all(
                **{t: templates[t].active_version_id for t in templates}
            ),
            "images": pulumi.Output.all(**{n: image_record(r) for n, r in image_refs.items()}),
            "devcontainers": pulumi.Output.all(
                **{
                    n: devcontainer_document(r, settings.images.base.user)
                    for n, r in image_refs.items()
                }
            ),
            **({"hostsPublicKey": identity.public_key} if identity is not None else {}),
        }
        # Secrets resolved only to prove they are readable (e.g. the Codex auth.json the
        # workspaces read): awaited here so an unreadable 1Password item fails the preview.
        checks = {
            f"{key}Readable": value.apply(lambda _: True)
            for key, value in secret.items()
            if value is not None and key in OPTIONAL_SECRETS
        }
        self.register_outputs({**self.outputs, **checks})

    def _images(
        self, name: str, settings: Settings, secret: dict[str, pulumi.Output[str] | None]
    ) -> dict[str, pulumi.Output[str]]:
        """The base reference and each child's, by image name (``base`` for the base)."""
        base = BaseImage(
            f"{name}-base-image",
            BaseImageArgs(settings=settings.images.base),
            opts=pulumi.ResourceOptions(parent=self),
        )
        refs = {"base": base.ref}
        for index, child_settings in enumerate(settings.images.children):
            child_args = ChildImageArgs(
                settings=child_settings,
                index=index,
                base_ref=base.ref,
                base_digest=base.digest,
                engine_host=settings.engine.host,
                registry=settings.images.registry,
            )
            registry_password = secret.get("registry_password")
            if registry_password is not None:
                child_args["registry_password"] = registry_password
            child = ChildImage(
                f"{name}-image-{child_settings.name}",
                child_args,
                opts=pulumi.ResourceOptions(parent=self),
            )
            refs[child_settings.name] = child.ref
        return refs

    def _templates(
        self,
        name: str,
        settings: Settings,
        secrets: Secrets,
        coder: CoderServer,
        admin: CoderAdmin,
        image_refs: dict[str, pulumi.Output[str]],
        network: docker.Network | None,
        pre_pulls: list[pulumi.Resource],
    ) -> dict[str, CoderTemplate]:
        """One template resource per directory under ``templates.directory``."""
        config = settings.templates
        templates: dict[str, CoderTemplate] = {}
        for template in config.discover():
            override = config.overrides.get(template)
            directory = f"{config.directory}/{template}"
            image = (override and override.workspace_image) or config.workspace_image
            variables: dict[str, pulumi.Input[str]] = {
                **(override.variables if override else {}),
                template_variables.WORKSPACE_IMAGE: image_refs[image],
                template_variables.WORKSPACE_USER: settings.images.base.user,
                template_variables.DOCKER_SOCKET: settings.engine.host,
                # Empty on the host network: workspaces keep the default network and the access URL.
                template_variables.WORKSPACE_NETWORK: network.name if network is not None else "",
                template_variables.CODER_AGENT_URL: coder_server.agent_url(settings.coder),
                **workspace_hosts.template_variables(settings.hosts),
            }
            args = CoderTemplateArgs(
                url=coder.internal_url,
                admin_email=settings.admin.email,
                admin_password=secrets.required("admin_password"),
                # The operator token: no password login (a new session) per template operation.
                admin_token=admin.token,
                name=template,
                directory=directory,
                content_hash=template_archive.content_hash(
                    PROJECT_ROOT / directory,
                    config_key=f"egoengine:templates.directory ({directory})",
                ),
                variables=variables,
                provisioner_tags=(
                    override.provisioner_tags
                    if override and override.provisioner_tags is not None
                    else config.provisioner_tags
                ),
                import_timeout_seconds=config.import_timeout_seconds,
            )
            token = secrets.values.get("op_service_account_token")
            if token is not None:
                args["secret_variables"] = {template_variables.OP_SERVICE_ACCOUNT_TOKEN: token}
            if override is not None and override.display_name is not None:
                args["display_name"] = override.display_name
            if override is not None and override.description is not None:
                args["description"] = override.description
            if override is not None and override.icon is not None:
                args["icon"] = override.icon
            templates[template] = CoderTemplate(
                f"{name}-template-{template}",
                args,
                # Templates log in with the admin's credentials: the first user must exist.
                opts=pulumi.ResourceOptions(parent=self, depends_on=[admin, *pre_pulls]),
            )
        return templates
