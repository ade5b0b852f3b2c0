"""Pushing a template directory to Coder as a new version, and setting its metadata.

What :class:`components.coder_template.TemplateProvider` does when content or metadata changed:
re-hash the directory (refusing if it changed since preview, so the plan matches the files),
upload a ustar archive, create a version with the variables and provisioner tags, wait for the
import job (its last log lines in the error if it fails), then create the template with it or
promote it on the existing one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from components.coder_errors import CoderError
from components.project_root import project_path
from components.template_archive import content_hash, ustar_archive

if TYPE_CHECKING:  # the client loads only when the provider pushes
    from components.coder_api import CoderClient, Template, TemplateVersion

DEFAULT_IMPORT_TIMEOUT_SECONDS = 600.0
METADATA_INPUTS = ("display_name", "description", "icon")


class CoderTemplateError(CoderError):
    """A template could not be pushed, promoted or deleted."""


def push(
    client: CoderClient,
    organization_id: str,
    props: Mapping[str, Any],
    existing: Template | None,
) -> tuple[Template, str]:
    """Upload the directory as a new version, wait for its import, then create the template
    with it or promote it on ``existing``. Returns (template, active version id)."""
    name = str(props["name"])
    version = _new_version(client, organization_id, props, existing)
    if existing is None:
        template = client.create_template(
            organization_id,
            name=name,
            version_id=version.id,
            display_name=str(props.get("display_name") or ""),
            description=str(props.get("description") or ""),
            icon=str(props.get("icon") or ""),
        )
    else:
        client.promote_template_version(existing.id, version.id)
        template = existing
        set_metadata(client, existing, props)
    return template, version.id


def _new_version(
    client: CoderClient,
    organization_id: str,
    props: Mapping[str, Any],
    existing: Template | None,
) -> TemplateVersion:
    name = str(props["name"])
    directory = project_path(str(props["directory"]))
    planned = str(props["content_hash"])
    current = content_hash(directory, config_key=f"template {name} directory")
    if current != planned:
        raise CoderTemplateError(
            f"template {name!r}: the directory {directory} changed since preview (planned "
            f"{planned}, now {current}); run `pulumi up` again so the plan matches the files"
        )
    archive = ustar_archive(directory, config_key=f"template {name} directory")
    file_id = client.upload_file(archive)
    plain_values = dict(props.get("variables") or {})
    secret_values = dict(props.get("secret_variables") or {})
    from components.coder_api import VariableValue

    variables = [
        VariableValue(str(name), str(value), sensitive=name in secret_values)
        for name, value in sorted({**plain_values, **secret_values}.items())
    ]
    version = client.create_template_version(
        organization_id,
        file_id=file_id,
        template_id=existing.id if existing else None,
        tags={str(k): str(v) for k, v in dict(props.get("provisioner_tags") or {}).items()},
        variables=variables,
        message=f"pushed by egoengine, content {planned}",
    )
    timeout = float(props.get("import_timeout_seconds") or DEFAULT_IMPORT_TIMEOUT_SECONDS)
    try:
        client.wait_for_import(version.id, timeout)
    except CoderError as exc:
        raise CoderTemplateError(f"template {name!r}: {exc}") from None
    return version


def set_metadata(client: CoderClient, template: Template, props: Mapping[str, Any]) -> None:
    wanted = {key: str(props.get(key) or "") for key in METADATA_INPUTS}
    current = {key: getattr(template, key) for key in METADATA_INPUTS}
    if wanted != current:
        client.update_template_metadata(template.id, **wanted)
