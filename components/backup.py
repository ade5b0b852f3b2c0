"""A ``pg_dump`` of Coder's database, taken before the Coder image changes.

The Coder container depends on this command and the command is keyed (``triggers``) on the Coder
image reference, so a new version or digest first dumps the database that the old version
migrated, then replaces the container. ``tools/pg_backup.py`` does the dump and keeps the last N.
"""

from __future__ import annotations

from typing import TypedDict

import pulumi
import pulumi_command as command

from components.commands import python_module
from components.image_build import PinnedRef
from components.settings import BackupSettings
from components.resource_options import child_options


class DatabaseBackupArgs(TypedDict):
    settings: BackupSettings
    coder_image_ref: pulumi.Input[str]
    """The Coder image ``repo:tag@sha256:...``: a change of it takes a new dump."""
    host: pulumi.Input[str]
    port: pulumi.Input[int]
    user: pulumi.Input[str]
    password: pulumi.Input[str]
    database: pulumi.Input[str]
    sslmode: pulumi.Input[str]


def backup_label(image_ref: str) -> str:
    """``before-v2.25.1-e1f18785``: which Coder the dump was taken before replacing."""
    pinned = PinnedRef.parse(image_ref)
    return f"before-{pinned.tag}-{pinned.digest.removeprefix('sha256:')[:8]}"


class DatabaseBackup(pulumi.ComponentResource):
    """Runs ``tools.pg_backup`` with the project's Python at ``up`` (commands never run during preview)."""

    dump: command.local.Command

    def __init__(
        self, name: str, args: DatabaseBackupArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("egoengine:database:Backup", name, None, opts)
        settings = args["settings"]
        label = pulumi.Output.from_input(args["coder_image_ref"]).apply(backup_label)
        self.dump = command.local.Command(
            f"{name}-pg-dump",
            create=label.apply(
                lambda text: python_module(
                    "tools.pg_backup",
                    "--dir", settings.directory,
                    "--keep", str(settings.keep),
                    "--label", text,
                )
            ),
            # Connection through libpq's environment: the password is never on a command line.
            environment={
                "PGHOST": args["host"],
                "PGPORT": pulumi.Output.from_input(args["port"]).apply(str),
                "PGUSER": args["user"],
                "PGPASSWORD": pulumi.Output.secret(args["password"]),
                "PGDATABASE": args["database"],
                "PGSSLMODE": args["sslmode"],
                "PG_DUMP": settings.pg_dump,
            },
            triggers=[args["coder_image_ref"]],
            logging=command.local.Logging.NONE,
            add_previous_output_in_env=False,
            # Forwards depends_on: the dump waits for the database itself.
            opts=child_options(self, opts, additional_secret_outputs=["stdout", "stderr"]),
        )
        self.register_outputs({})
