"""Which changed inputs force a resource to be replaced, per resource type, as the providers decide.

Sources (read at the versions this project pins):

- ``docker:Container``: kreuzwerker/terraform-provider-docker v4.5.0 (the ``upstream`` of
  pulumi/pulumi-docker 5.x), ``internal/provider/resource_docker_container.go``: every attribute is
  ``ForceNew`` except the ones ``resourceDockerContainerUpdate``
  (``resource_docker_container_funcs.go``) applies in place (``restart``, ``max_retry_count``,
  ``cpu_shares``, ``memory``, ``memory_reservation``, ``cpu_set``, ``memory_swap``, ``device_*``)
  and a few that only live in the state (``must_run``, ``wait``, ``healthcheck``, ``rm``, ...).
- ``docker:RemoteImage`` (``resource_docker_image.go``): ``name``, ``pull_triggers``, ``triggers``
  and ``platform`` are ``ForceNew``. ``docker:Volume`` and ``docker:Network``: every argument.
- ``postgresql:Role``: nothing is ``ForceNew`` (cyrilgdn/terraform-provider-postgresql,
  ``resource_postgresql_role.go``, renames and password changes are ``ALTER ROLE``);
  ``postgresql:Database``: ``template``, ``encoding``, ``lc_collate``, ``lc_ctype``
  (``resource_postgresql_database.go``; name and owner are altered in place).
- ``random:RandomPassword``: every argument has ``RequiresReplace`` (hashicorp/terraform-provider-
  random, ``internal/provider/resource_password.go``).
- ``command:local:Command``: only ``triggers`` (``provider:"replaceOnChanges"`` in
  pulumi/pulumi-command ``provider/pkg/provider/common/inputs.go``); other changes run the update
  (or create) command again.
- The dynamic resources decide in their own ``diff`` (``components/coder_admin.py``,
  ``components/coder_template.py``), which ``tools.plan_changes`` calls.
- The engine adds the resource option ``replaceOnChanges`` (e.g. the backup's ``triggers[*]``).
"""

from __future__ import annotations

from typing import Final

CONTAINER: Final = "docker:index/container:Container"
ALL_INPUTS: Final = "*"

CONTAINER_NOT_FORCING: Final = frozenset(
    {
        # Applied in place by resourceDockerContainerUpdate.
        "restart", "maxRetryCount", "cpuShares", "memory", "memoryReservation", "cpuSet",
        "memorySwap", "deviceReadBps", "deviceReadIops", "deviceWriteBps", "deviceWriteIops",
        # Not ForceNew and not applied to the container: recorded in the state only.
        "rm", "start", "wait", "waitTimeout", "attach", "logs", "mustRun", "removeVolumes",
        "destroyGraceSeconds", "containerReadRefreshTimeoutMilliseconds", "healthcheck", "tmpfs",
        "init", "cpuPeriod", "cpuQuota",
    }
)

FORCING_INPUTS: Final[dict[str, frozenset[str]]] = {
    "docker:index/remoteImage:RemoteImage": frozenset({"name", "pullTriggers", "triggers", "platform"}),
    "docker:index/volume:Volume": frozenset({ALL_INPUTS}),
    "docker:index/network:Network": frozenset({ALL_INPUTS}),
    "postgresql:index/role:Role": frozenset(),
    "postgresql:index/database:Database": frozenset({"template", "encoding", "lcCollate", "lcCtype"}),
    "random:index/randomPassword:RandomPassword": frozenset({ALL_INPUTS}),
    "command:local:Command": frozenset({"triggers"}),
}

DYNAMIC_PROVIDERS: Final[dict[str, tuple[str, str]]] = {
    "pulumi-python:dynamic/coder:Admin": ("components.coder_admin", "AdminProvider"),
    "pulumi-python:dynamic/coder:Template": ("components.coder_template", "TemplateProvider"),
}
"""Dynamic resource type -> (module, provider class) whose ``diff`` decides."""


def forcing(resource_type: str, changed: list[str]) -> list[str] | None:
    """The changed inputs that force a replacement; ``None`` when the type is not known here."""
    if resource_type == CONTAINER:
        return [name for name in changed if name not in CONTAINER_NOT_FORCING]
    rule = FORCING_INPUTS.get(resource_type)
    if rule is None:
        return None
    return [name for name in changed if ALL_INPUTS in rule or name in rule]
