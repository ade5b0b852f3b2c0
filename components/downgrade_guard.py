"""The downgrade guard: ``tools.downgrade_guard`` run after the pre-change backup and before the
Coder container is replaced, so ``up`` never starts an older Coder on a newer schema.

The command's ``create`` names the configured version, so a version change reruns it (as an
update: pulumi-command then passes the previous run's stdout, the version it last let through,
as ``PULUMI_COMMAND_STDOUT``). Commands never run during preview. Nothing it handles is secret,
so its output is logged (a refusal shows in ``up`` as the tool's one line), though stored as
secret in the state like every command's.
"""

from __future__ import annotations

from typing import TypedDict

import pulumi
import pulumi_command as command

from components.commands import python_module
from components.resource_options import child_options


class DowngradeGuardArgs(TypedDict):
    configured_version: str
    """``egoengine:coder.version``."""
    url: str
    """Where the deploy machine reaches the running Coder (``/api/v2/buildinfo``)."""
    backup_directory: str
    allow_downgrade: bool


def guard_command(args: DowngradeGuardArgs) -> str:
    arguments = [
        "--configured", args["configured_version"],
        "--url", args["url"],
        "--backup-dir", args["backup_directory"],
    ]
    if args["allow_downgrade"]:
        arguments.append("--allow-downgrade")
    return python_module("tools.downgrade_guard", *arguments)


class DowngradeGuard(pulumi.ComponentResource):
    """Fails ``up`` on a Coder downgrade unless ``coder.allowDowngrade`` (see the module doc)."""

    check: command.local.Command

    def __init__(
        self, name: str, args: DowngradeGuardArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("egoengine:coder:DowngradeGuard", name, None, opts)
        self.check = command.local.Command(
            f"{name}-check",
            create=guard_command(args),
            add_previous_output_in_env=True,
            logging=command.local.Logging.STDOUT_AND_STDERR,
            # Forwards depends_on: the guard runs after the pre-change backup.
            # Secret in the state like every command's output (policy command-hygiene).
            opts=child_options(self, opts, additional_secret_outputs=["stdout", "stderr"]),
        )
        self.register_outputs({})
