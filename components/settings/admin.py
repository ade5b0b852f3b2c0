"""The first Coder admin and the operator token the program mints for it."""

import re

from pydantic import Field, field_validator

from components.settings.values import _Model


class AdminSettings(_Model):
    email: str = Field("admin@egoengine.local", description="an e-mail address for the first admin")
    username: str = Field("admin", description="a Coder user name [a-z0-9-], 1..32 characters")
    full_name: str = Field("egoengine admin", description="the admin's display name")
    token_name: str = Field("egoengine-operator", description="a token name [a-z0-9-]")
    token_lifetime_hours: int = Field(
        168, ge=1, le=87600, description="token lifetime in hours, 1..87600"
    )

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        if not re.match(r"^[^@\s]+@[^@\s]+$", value):
            raise ValueError("is not an e-mail address")
        return value

    @field_validator("username", "token_name")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not re.match(r"^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$", value):
            raise ValueError("is not a lower-case name of letters, digits and dashes")
        return value
