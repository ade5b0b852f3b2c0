"""One Coder template pushed from a directory, as a Pulumi dynamic resource.

Unlike ``coder templates push`` (a new version on every push, coder/coder#15180), a new template
version is made only when something that goes into a version changed: the directory's content
hash (computed by the caller with :func:`components.template_archive.content_hash`, so preview
sees it), the Terraform variables, the sensitive variables, or the provisioner tags.

Lifecycle (what the engine calls on :class:`TemplateProvider`):

- **diff**: offline, compares inputs only. ``name`` -> replace. Content hash, variables, secret
  variables, provisioner tags -> update with a new version. Display name, description, icon ->
  update of the metadata only. URL and admin credentials -> update that only records them (no API
  call), so a later delete logs in with current credentials. Directory path and import timeout
  alone change nothing.
- **create/update with new content**: log in; re-hash the directory and refuse if it changed
  since preview; upload a ustar archive; create a version (on the existing template, if any);
  wait for the import job (its last log lines are in the error if it fails); create the
  template with that version, or promote the version on the existing one.
- **update with only metadata**: ``PATCH /templates/{id}`` only, no new version.
- **read** (``pulumi refresh``, ``up --refresh``): looks the template up and records what Coder
  has now: gone (deleted in the UI) leaves ``template_id`` empty; an active version other than the
  one this resource promoted shows in ``live_active_version_id``; metadata edited in the UI
  replaces the recorded display name, description and icon. The next diff sees each of these as a
  change and the update repairs it: the template is pushed again, the version promoted back, the
  metadata set back. Read writes nothing.
- **delete**: delete the template. Coder refuses while workspaces use it; the error gives the
  workspace count and the way out.

Authentication: the operator token from the admin resource (``admin_token``, a secret input; a
re-minted token makes an update that only records it); a password login only when that token no
longer works, because every login creates a session key in Coder. Read never logs in.

Replacement (a ``name`` change) is create-before-delete (``delete_before_replace=False``): the
new template exists first, so workspaces can be rebuilt on it; the old one is deleted once its
workspaces are gone (Pulumi retries the pending delete on each ``up`` until Coder accepts it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict

import pulumi
import pulumi.dynamic

from components.coder_dynamic import (
    authenticate,
    contains_unknown,
    inputs_changed,
    login_as_admin,
    open_client,
    plain,
    provider_outputs,
)
from components.coder_errors import CoderApiError, CoderError, CoderUnavailableError
from components.dynamic_pickle import DynamicResource, ProjectProvider
from components.image_build import DIGEST_PATTERN
from components.template_push import (
    DEFAULT_IMPORT_TIMEOUT_SECONDS,
    METADATA_INPUTS,
    CoderTemplateError,
    push,
    set_metadata,
)
from components.resource_options import child_options

if TYPE_CHECKING:  # the client (and httpx) load only when the provider runs, never at preview
    from components.coder_api import CoderClient

TYPE_TOKEN = "egoengine:coder:Template"

READ_GRACE_SECONDS = 10.0
"""How long read waits for a Coder that does not answer before leaving the state as it is."""

_CONTENT_INPUTS = ("content_hash", "variables", "secret_variables", "provisioner_tags")
_CONNECTION_INPUTS = ("url", "admin_email", "admin_password", "admin_token")
_INPUT_KEYS = (
    *_CONNECTION_INPUTS,
    "name",
    "directory",
    *_CONTENT_INPUTS,
    *METADATA_INPUTS,
    "import_timeout_seconds",
)

# codersdk NameValid: letters/digits in dash-separated groups, at most 32 characters.
_TEMPLATE_NAME = re.compile(r"^[a-zA-Z0-9]+(?:-[a-zA-Z0-9]+)*$")
_DESCRIPTION_LIMIT = 128


class CoderTemplateArgs(TypedDict):
    url: pulumi.Input[str]
    """Internal base URL of the Coder server."""
    admin_email: pulumi.Input[str]
    admin_password: pulumi.Input[str]
    """Treated as a secret whether or not the caller marked it."""
    admin_token: NotRequired[pulumi.Input[str]]
    """The operator API token (secret); the password is used only when it no longer works."""
    name: pulumi.Input[str]
    directory: pulumi.Input[str]
    """Template directory, relative to the project root (resolved from there, not from the
    provider process's working directory)."""
    content_hash: pulumi.Input[str]
    """``template_archive.content_hash(directory)``, computed by the caller at program time."""
    variables: NotRequired[pulumi.Input[Mapping[str, pulumi.Input[str]]]]
    """Plain Terraform variable values."""
    secret_variables: NotRequired[pulumi.Input[Mapping[str, pulumi.Input[str]]]]
    """Sensitive Terraform variable values; kept apart so they stay secret end to end."""
    provisioner_tags: NotRequired[pulumi.Input[Mapping[str, pulumi.Input[str]]]]
    display_name: NotRequired[pulumi.Input[str]]
    description: NotRequired[pulumi.Input[str]]
    icon: NotRequired[pulumi.Input[str]]
    import_timeout_seconds: NotRequired[pulumi.Input[float]]


class TemplateProvider(ProjectProvider):
    """Dynamic provider for one template. Module-level and stateless apart from plain numbers:
    pickled into the state by reference to this module and class (``components.dynamic_pickle``);
    moving it needs an alias at this path."""

    def __init__(
        self,
        *,
        request_timeout_seconds: float = 60.0,
        startup_grace_seconds: float = 120.0,
        poll_interval_seconds: float = 2.0,
    ) -> None:
        super().__init__()
        self.request_timeout_seconds = request_timeout_seconds
        self.startup_grace_seconds = startup_grace_seconds
        self.poll_interval_seconds = poll_interval_seconds

    # -- engine calls ----------------------------------------------------------------------------

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.CheckResult:
        values = plain(news)
        failures: list[pulumi.dynamic.CheckFailure] = []

        def known(key: str) -> Any:
            value = values.get(key)
            return None if contains_unknown(value) else value

        name = known("name")
        if name is not None and (
            not isinstance(name, str) or len(name) > 32 or not _TEMPLATE_NAME.match(name)
        ):
            failures.append(
                pulumi.dynamic.CheckFailure(
                    "name", "must be letters and digits in dash-separated groups, 1..32 characters"
                )
            )
        digest = known("content_hash")
        if digest is not None and not (isinstance(digest, str) and DIGEST_PATTERN.match(digest)):
            failures.append(
                pulumi.dynamic.CheckFailure(
                    "content_hash", "must be sha256:<64 hex> from template_archive.content_hash"
                )
            )
        description = known("description")
        if isinstance(description, str) and len(description.encode()) >= _DESCRIPTION_LIMIT:
            failures.append(
                pulumi.dynamic.CheckFailure(
                    "description", f"must be shorter than {_DESCRIPTION_LIMIT} bytes"
                )
            )
        plain_vars, secret_vars = known("variables"), known("secret_variables")
        if isinstance(plain_vars, dict) and isinstance(secret_vars, dict):
            overlap = sorted(set(plain_vars) & set(secret_vars))
            if overlap:
                failures.append(
                    pulumi.dynamic.CheckFailure(
                        "secret_variables",
                        f"names also given as plain variables: {', '.join(overlap)}",
                    )
                )
        return pulumi.dynamic.CheckResult(news, failures)

    def diff(
        self, _id: str, olds: dict[str, Any], news: dict[str, Any]
    ) -> pulumi.dynamic.DiffResult:
        """Offline: compares recorded inputs with the new ones."""
        olds, news = plain(olds), plain(news)
        if inputs_changed(olds, news, ("name",)):
            return pulumi.dynamic.DiffResult(
                changes=True, replaces=["name"], delete_before_replace=False
            )
        changed = drifted(olds) or inputs_changed(
            olds, news, (*_CONTENT_INPUTS, *METADATA_INPUTS, *_CONNECTION_INPUTS)
        )
        return pulumi.dynamic.DiffResult(changes=changed, replaces=[], delete_before_replace=False)

    def read(self, id_: str, props: dict[str, Any]) -> pulumi.dynamic.ReadResult:
        """What Coder has now (see the module doc); never writes, never logs in: without a
        working token (or with Coder down) the state stays as it is."""
        props = plain(props)
        token = str(props.get("admin_token") or "")
        if not token:
            return pulumi.dynamic.ReadResult(id_, props)
        url = str(props["url"])
        with open_client(self, url, startup_grace_seconds=READ_GRACE_SECONDS, token=token) as client:
            try:
                template_id = str(props.get("template_id") or id_)
                template = client.get_template(template_id) if template_id else None
                if template is None:
                    organization_id = client.default_organization().id
                    template = client.get_template_by_name(organization_id, str(props["name"]))
            except CoderUnavailableError:
                return pulumi.dynamic.ReadResult(id_, props)
            except CoderApiError as exc:
                if exc.status != 401:
                    raise
                return pulumi.dynamic.ReadResult(id_, props)
        outs = dict(props)
        if template is None:
            outs.update(template_id="", live_active_version_id="")
        else:
            outs.update(
                template_id=template.id,
                live_active_version_id=template.active_version_id,
                **{key: getattr(template, key) for key in METADATA_INPUTS},
            )
        return pulumi.dynamic.ReadResult(id_, outs)

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        props = plain(props)
        with self._client(props) as client:
            organization_id = client.default_organization().id
            existing = client.get_template_by_name(organization_id, str(props["name"]))
            template, version_id = push(client, organization_id, props, existing)
        return pulumi.dynamic.CreateResult(
            template.id, _outputs(props, template.id, version_id, organization_id)
        )

    def update(
        self, _id: str, olds: dict[str, Any], news: dict[str, Any]
    ) -> pulumi.dynamic.UpdateResult:
        olds, news = plain(olds), plain(news)
        content_changed = inputs_changed(olds, news, _CONTENT_INPUTS)
        metadata_changed = inputs_changed(olds, news, METADATA_INPUTS)
        template_id = str(olds.get("template_id") or "")
        version_id = str(olds.get("active_version_id") or "")
        organization_id = str(olds.get("organization_id") or "")
        if not content_changed and not metadata_changed and not drifted(olds):
            # Only connection settings changed: record them, touch nothing in Coder.
            return pulumi.dynamic.UpdateResult(
                _outputs(news, template_id, version_id, organization_id)
            )
        with self._client(news) as client:
            organization_id = client.default_organization().id
            template = (client.get_template(template_id) if template_id else None) or (
                client.get_template_by_name(organization_id, str(news["name"]))
            )
            if template is None or content_changed or not version_id:
                # Gone from Coder (deleted by hand) or new content: push a version.
                template, version_id = push(client, organization_id, news, template)
            else:
                if template.active_version_id != version_id:
                    # Another version was made active in the UI: promote ours back.
                    client.promote_template_version(template.id, version_id)
                set_metadata(client, template, news)
        return pulumi.dynamic.UpdateResult(_outputs(news, template.id, version_id, organization_id))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        props = plain(props)
        name = str(props.get("name", ""))
        template_id = str(props.get("template_id") or _id)
        with self._client(props) as client:
            try:
                client.delete_template(template_id)  # already gone is fine
            except CoderApiError as exc:
                if exc.status not in (400, 409):
                    raise
                count = _workspace_count(client, name)
                if count == 0:
                    raise
                raise CoderTemplateError(
                    f"cannot delete Coder template {name!r}: {count} workspace(s) still use it "
                    f"(Coder: {exc.message}). Delete or move those workspaces first, or remove "
                    "the template from the stack with `pulumi state delete` to keep it"
                ) from None

    # -- helpers ---------------------------------------------------------------------------------

    def _client(self, props: Mapping[str, Any]) -> CoderClient:
        client = open_client(self, str(props["url"]), startup_grace_seconds=self.startup_grace_seconds)
        try:
            authenticate(
                client,
                token=str(props.get("admin_token") or ""),
                login=lambda c: login_as_admin(
                    c,
                    email=str(props["admin_email"]),
                    password=str(props["admin_password"]),
                    refused=lambda exc: CoderTemplateError(
                        f"template {props.get('name')!r}: cannot log in to Coder at "
                        f"{props['url']} as {props['admin_email']} (no working operator token, "
                        f"so with the admin password): {exc}"
                    ),
                ),
            )
        except BaseException:
            client.close()
            raise
        return client


def _workspace_count(client: CoderClient, name: str) -> int | str:
    try:
        return client.count_workspaces(name)
    except CoderError:
        return "an unknown number of"


def drifted(olds: Mapping[str, Any]) -> bool:
    """Whether the last read found the template gone, or another version active, in Coder."""
    if "live_active_version_id" not in olds:
        return False  # state written before read existed, or never refreshed
    live = olds.get("live_active_version_id")
    return not olds.get("template_id") or live != olds.get("active_version_id")


def _outputs(
    props: Mapping[str, Any], template_id: str, version_id: str, organization_id: str
) -> dict[str, Any]:
    return provider_outputs(
        props,
        _INPUT_KEYS,
        template_id=template_id,
        active_version_id=version_id,
        live_active_version_id=version_id,
        organization_id=organization_id,
    )


class _TemplateResource(DynamicResource, module="coder", name="Template"):
    template_id: pulumi.Output[str]
    active_version_id: pulumi.Output[str]
    organization_id: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        props: Mapping[str, Any],
        opts: pulumi.ResourceOptions,
        provider: TemplateProvider | None = None,
    ) -> None:
        outputs = {
            "template_id": None,
            "active_version_id": None,
            "live_active_version_id": None,
            "organization_id": None,
        }
        super().__init__(provider or TemplateProvider(), name, {**props, **outputs}, opts)


class CoderTemplate(pulumi.ComponentResource):
    """One Coder template kept in step with a directory."""

    template_id: pulumi.Output[str]
    active_version_id: pulumi.Output[str]

    def __init__(
        self, name: str, args: CoderTemplateArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE_TOKEN, name, None, opts)
        props: dict[str, Any] = {
            "url": args["url"],
            "admin_email": args["admin_email"],
            "admin_password": pulumi.Output.secret(args["admin_password"]),
            "admin_token": pulumi.Output.secret(args.get("admin_token", "")),
            "name": args["name"],
            "directory": args["directory"],
            "content_hash": args["content_hash"],
            "variables": args.get("variables", {}),
            "secret_variables": pulumi.Output.secret(args.get("secret_variables", {})),
            "provisioner_tags": args.get("provisioner_tags", {}),
            "display_name": args.get("display_name", ""),
            "description": args.get("description", ""),
            "icon": args.get("icon", ""),
            "import_timeout_seconds": args.get(
                "import_timeout_seconds", DEFAULT_IMPORT_TIMEOUT_SECONDS
            ),
        }
        template = _TemplateResource(
            f"{name}-template",
            props,
            # Forwards the caller's depends_on (the admin) to the dynamic resource.
            child_options(self, opts, additional_secret_outputs=["admin_password", "admin_token", "secret_variables"]),
        )
        self.template_id = template.template_id
        self.active_version_id = template.active_version_id
        self.register_outputs(
            {"template_id": self.template_id, "active_version_id": self.active_version_id}
        )
