"""Where each secret comes from: generated (pulumi-random), a Pulumi config secret, or 1Password.

Every value leaves this module as a secret ``Output``. The Python ``get_item`` invoke of
pulumi-onepassword drops secretness, so its results are wrapped in ``Output.secret`` at once.
"""

from __future__ import annotations

import asyncio
import re
import weakref
from typing import Any, TypedDict

import pulumi
import pulumi_onepassword as onepassword
import pulumi_random as random
from pulumi.runtime.sync_await import _sync_await
from typing_extensions import NotRequired

from components import settings as cfg
from components.errors import ConfigError
from components.settings import OnePasswordRef, SecretsSettings, SecretSource

SECRET_NAMES: tuple[str, ...] = tuple(SecretsSettings.model_fields)
"""Every secret the stack knows, by its ``egoengine:secrets`` field name (snake_case)."""

# Built-in 1Password fields and the getItem result attribute that holds each.
_BUILTIN_FIELDS = {
    "password": "password",
    "username": "username",
    "credential": "credential",
    "notesPlain": "note_value",
    "hostname": "hostname",
    "database": "database",
    "port": "port",
    "url": "url",
}

_PERMISSIONS_HINT = (
    "a 1Password item the service account can read; permissions are not inherited when an "
    "item moves between vaults, so grant the service account access to the item's vault"
)


class SecretsArgs(TypedDict):
    settings: SecretsSettings
    """Which source each secret uses (validated ``egoengine:secrets``)."""
    needed: NotRequired[tuple[str, ...]]
    """Secrets the stack uses; others are not resolved (no 1Password read, no generated value)."""
    onepassword_provider: NotRequired[pulumi.ProviderResource]
    """Explicit pulumi-onepassword provider; required when any source is ``op://``."""
    baked_into_data: NotRequired[tuple[str, ...]]
    """Generated secrets that data keeps (e.g. the superuser password set once by ``initdb``):
    protected, because a new value would no longer match the retained data."""


def config_key(name: str) -> str:
    return f"{cfg.NAMESPACE}:secrets.{re.sub(r'_([a-z])', lambda m: m[1].upper(), name)}"


def needs_onepassword(settings: SecretsSettings, needed: tuple[str, ...]) -> bool:
    return any(settings.source(name).kind == "onepassword" for name in needed)


class Secrets(pulumi.ComponentResource):
    """Resolves each configured secret into a secret ``Output[str]`` (or ``None`` for ``none``)."""

    values: dict[str, pulumi.Output[str] | None]

    def __init__(
        self, name: str, args: SecretsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("egoengine:secrets:Secrets", name, None, opts)
        settings = args["settings"]
        needed = args.get("needed", SECRET_NAMES)
        provider = args.get("onepassword_provider")
        baked = args.get("baked_into_data", ())
        self.values = {}
        for secret in needed:
            source = settings.source(secret)
            self.values[secret] = self._resolve(name, secret, source, provider, secret in baked)
        self.register_outputs({})

    def required(self, secret: str) -> pulumi.Output[str]:
        """A secret the settings never let be ``none`` (``egoengine.REQUIRED_SECRETS``)."""
        value = self.values.get(secret)
        if value is None:
            raise AssertionError(f"the required secret {secret} was not resolved")
        return value

    def _resolve(
        self,
        name: str,
        secret: str,
        source: SecretSource,
        provider: pulumi.ProviderResource | None,
        protect: bool,
    ) -> pulumi.Output[str] | None:
        key = config_key(secret)
        if source.kind == "none":
            return None
        if source.kind == "generate":
            # Alphanumeric: safe in URLs, env files and shells without quoting; 16+ chars.
            password = random.RandomPassword(
                f"{name}-{secret.replace('_', '-')}",
                length=source.length,
                special=False,
                opts=pulumi.ResourceOptions(parent=self, protect=protect),
            )
            return pulumi.Output.secret(password.result)
        if source.kind == "config":
            return pulumi.Output.secret(cfg.config_secret(source.config_key, referenced_by=key))
        assert source.op_ref is not None
        if provider is None:
            raise ConfigError(key, "uses op:// but no 1Password provider is configured", _PERMISSIONS_HINT)
        return read_onepassword(source.op_ref, provider=provider, key=key, parent=self)


def read_onepassword(
    ref: OnePasswordRef,
    *,
    provider: pulumi.ProviderResource,
    key: str,
    parent: pulumi.Resource | None = None,
) -> pulumi.Output[str]:
    """Read ``op://vault/item/[section/]field`` (a field, a section field or a file attachment).

    The look-ups are read-only invokes, so they also run during preview: an item the service
    account cannot read fails the preview with a message that names it.
    """
    invoke_opts = _invoke_options(provider, parent)

    async def read(_: Any) -> str:
        return await _read_item(ref, key, invoke_opts)

    # The invokes run inside an apply; the result is marked secret immediately because this invoke
    # path drops the provider's secret flag.
    return pulumi.Output.secret(pulumi.Output.from_input(ref.uri).apply(read))


def read_onepassword_now(
    ref: OnePasswordRef,
    *,
    provider: pulumi.ProviderResource,
    key: str,
    parent: pulumi.Resource | None = None,
) -> str:
    """``read_onepassword`` while the program is built, for a value that must be checked before
    any resource takes it: a ``ConfigError`` raised in an apply fails every resource fed by it,
    and asyncio then prints "Future exception was never retrieved" for each one's outputs."""
    return _sync_await(_read_item(ref, key, _invoke_options(provider, parent)))


def _invoke_options(provider: pulumi.ProviderResource, parent: pulumi.Resource | None) -> pulumi.InvokeOptions:
    return pulumi.InvokeOptions.merge(
        onepassword._utilities.get_invoke_opts_defaults(),  # what the SDK's get_item adds
        pulumi.InvokeOptions(provider=provider, parent=parent),
    )


_VAULT_LOOKUPS: weakref.WeakKeyDictionary[pulumi.ProviderResource, dict[str, asyncio.Task[Any]]] = (
    weakref.WeakKeyDictionary()
)
"""One ``getVault`` per provider and vault name, shared by every item read from that vault (each
look-up is a round trip to 1Password at every preview). Keyed by the provider, so each run of the
program (a new provider) looks its vaults up afresh."""


def _vault(name: str, invoke_opts: pulumi.InvokeOptions) -> asyncio.Task[Any]:
    assert isinstance(invoke_opts.provider, pulumi.ProviderResource)
    lookups = _VAULT_LOOKUPS.setdefault(invoke_opts.provider, {})
    if name not in lookups:
        lookups[name] = asyncio.ensure_future(
            _invoke(_GET_VAULT, {"name": name, "uuid": None}, onepassword.GetVaultResult, invoke_opts)
        )
    return lookups[name]


async def _read_item(ref: OnePasswordRef, key: str, invoke_opts: pulumi.InvokeOptions) -> str:
    try:
        vault = await _vault(ref.vault, invoke_opts)
        item = await _invoke(
            _GET_ITEM,
            {"files": None, "noteValue": None, "sections": None, "title": ref.item, "uuid": None, "vault": vault.uuid},
            onepassword.GetItemResult,
            invoke_opts,
        )
    except Exception as exc:  # noqa: BLE001 - the provider's error becomes one clear line
        error = ConfigError(
            key,
            f"the 1Password item '{ref.item}' in vault '{ref.vault}' could not be read",
            _PERMISSIONS_HINT,
        )
        # A failed invoke also fails the run with the provider's raw error; logging ours
        # first puts the item's name and the permissions rule in front of the operator.
        pulumi.log.error(str(error))
        raise error from exc
    value = pick_field(item, ref)
    if value is None:
        raise ConfigError(
            key,
            f"the 1Password item '{ref.item}' in vault '{ref.vault}' has no field or file "
            f"'{ref.field}'" + (f" in section '{ref.section}'" if ref.section else ""),
            "a reference to an existing field label, section label or attached file name",
        )
    return value


_GET_VAULT = "onepassword:index/getVault:getVault"
_GET_ITEM = "onepassword:index/getItem:getItem"


async def _invoke(token: str, args: dict[str, Any], result: type, opts: pulumi.InvokeOptions) -> Any:
    """The SDK's ``get_vault``/``get_item`` without blocking: they run a nested event loop (one in
    an apply, as their ``*_output`` forms do), which pads the loop's queue with a cancelled handle
    per pending callback, a cost that grows with every resource of the stack. The arguments are
    the ones those functions send."""
    return await pulumi.runtime.invoke_async(token, args, opts=opts, typ=result)


def pick_field(item: Any, ref: OnePasswordRef) -> str | None:
    """Find a field's value or a file's content in a ``getItem`` result."""
    sections = list(item.sections or [])
    if ref.section is not None:
        sections = [s for s in sections if s.label == ref.section]
        if not sections:
            return None
    else:
        attribute = _BUILTIN_FIELDS.get(ref.field)
        if attribute is not None and getattr(item, attribute, None):
            return str(getattr(item, attribute))
    for section in sections:
        for field in section.fields or []:
            if ref.field in (field.label, field.id):
                return str(field.value)
    files = [f for s in sections for f in (s.files or [])]
    if ref.section is None:
        files = list(item.files or []) + files
    for attached in files:
        if attached.name == ref.field:
            return str(attached.content)
    return None
