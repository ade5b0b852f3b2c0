"""The program: explicit providers and the top component, returning the stack outputs.

``__main__.py`` exports what ``build`` returns; tests and the offline plan call ``build`` on a
mocked engine (exports are not registered under mocks).
"""

from __future__ import annotations

from pathlib import Path

import pulumi
import pulumi_command as command
import pulumi_docker as docker
import pulumi_onepassword as onepassword
import pulumi_random as random

from components import settings as cfg
from components.egoengine import EgoEngine, EgoEngineArgs, needed_secrets
from components.secrets import needs_onepassword


def build(
    resolved: cfg.ResolvedSettings, deploy_ssh_dir: Path | None = None
) -> dict[str, pulumi.Output]:
    """``deploy_ssh_dir``: where the hosts' key and known_hosts go on this machine (tests and the
    offline plan pass a temporary directory)."""
    settings = resolved.settings
    # Default providers are disabled in Pulumi.yaml: every resource names one of these.
    providers: list[pulumi.ProviderResource] = [
        docker.Provider("docker", host=settings.engine.host),
        random.Provider("random"),
        command.Provider("command"),
    ]
    args = EgoEngineArgs(resolved=resolved)
    if deploy_ssh_dir is not None:
        args["deploy_ssh_dir"] = deploy_ssh_dir
    if settings.hosts:
        import pulumi_tls as tls  # only with workspace hosts: it is not an SDK every stack loads

        args["tls_provider"] = tls.Provider("tls")
        providers.append(args["tls_provider"])
    host_secrets = ("hosts_ssh_key",) if settings.hosts else ()
    if needs_onepassword(settings.secrets, needed_secrets(settings) + host_secrets):
        onepassword_provider = onepassword.Provider(
            "onepassword", service_account_token=cfg.onepassword_token()
        )
        providers.append(onepassword_provider)
        args["onepassword_provider"] = onepassword_provider
    engine = EgoEngine("egoengine", args, opts=pulumi.ResourceOptions(providers=providers))
    return engine.outputs
