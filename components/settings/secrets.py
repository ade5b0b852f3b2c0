"""Where each secret comes from (the sources are parsed in ``values``)."""

from pydantic import Field, field_validator, model_validator

from components.settings.values import SecretSource, _FieldError, _Model, parse_secret_source

_SECRET_DESC = "generate[:length], config:<key>, op://vault/item/[section/]field, or none"


class SecretsSettings(_Model):
    database_password: str = Field("generate:32", description=_SECRET_DESC)
    database_admin_password: str = Field("generate:32", description=_SECRET_DESC)
    provisioner_psk: str = Field("generate:48", description=_SECRET_DESC)
    admin_password: str = Field("generate:24", description=_SECRET_DESC)
    op_service_account_token: str = Field("none", description=_SECRET_DESC)
    codex_auth: str = Field("none", description=_SECRET_DESC)
    registry_password: str = Field("none", description=_SECRET_DESC)
    hosts_ssh_key: str = Field("generate", description="generate, config:<key> or op://vault/item/[section/]field")

    @field_validator("*")
    @classmethod
    def _source(cls, value: str) -> str:
        parse_secret_source(value, default_length=32)
        return value

    @model_validator(mode="after")
    def _required(self) -> "SecretsSettings":
        for required in (
            "database_password", "database_admin_password", "provisioner_psk", "admin_password"
        ):
            if getattr(self, required) == "none":
                raise _FieldError(
                    required,
                    "may not be 'none': this secret is required",
                    "generate[:length], config:<key> or op://vault/item/[section/]field",
                )
        return self

    def source(self, name: str) -> SecretSource:
        return parse_secret_source(getattr(self, name), default_length=32)
