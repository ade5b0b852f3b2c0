"""The Coder templates: where they live and per-template overrides."""

from pydantic import Field, field_validator

from components.settings import values
from components.settings.values import _empty_dict, _Model, _project_dir


class TemplateOverride(_Model):
    display_name: str | None = Field(None, description="the template's display name")
    description: str | None = Field(None, description="up to 127 bytes of UTF-8 (Coder's limit)")
    icon: str | None = Field(None, description="an icon path or URL, e.g. /icon/docker.png")
    variables: dict[str, str] = Field(
        default_factory=_empty_dict, description="extra Terraform variables the template declares"
    )
    provisioner_tags: dict[str, str] | None = Field(
        None, description="provisioner tags for this template (default: templates.provisionerTags)"
    )
    workspace_image: str | None = Field(
        None, description="'base' or the name of a child image (default: templates.workspaceImage)"
    )


    @field_validator("description")
    @classmethod
    def _description(cls, value: str | None) -> str | None:
        if value is not None and len(value.encode()) > 127:
            raise ValueError("is longer than 127 bytes")
        return value


class TemplatesSettings(_Model):
    directory: str = Field(
        "coder-templates", description="the directory whose subdirectories are Coder templates"
    )
    workspace_image: str = Field(
        "base", description="'base' or the name of a child image, passed as workspace_image"
    )
    provisioner_tags: dict[str, str] = Field(
        default_factory=_empty_dict, description="provisioner tags, e.g. {scope: organization}"
    )
    import_timeout_seconds: int = Field(
        600, ge=30, le=7200, description="seconds to wait for a template import, 30..7200"
    )
    overrides: dict[str, TemplateOverride] = Field(
        default_factory=_empty_dict, description="per-template settings keyed by directory name"
    )
    allow_none: bool = Field(
        False, description="true to allow a stack with no templates (an empty set deletes them all)"
    )

    @field_validator("directory")
    @classmethod
    def _directory(cls, value: str) -> str:
        return _project_dir(value)

    def check_templates(self) -> None:
        """Each template parses, declares the program's variables and fits Coder's upload limit."""
        from components import template_check

        template_check.check_templates(self, values.PROJECT_ROOT / self.directory)

    def discover(self) -> list[str]:
        """Template names: the subdirectories holding Terraform, sorted."""
        from components import template_check

        return template_check.template_names(values.PROJECT_ROOT / self.directory)
