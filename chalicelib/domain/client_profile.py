"""What a client record may hold, and how input is cleaned before it is stored.

Shared by the JSON API and (later) the CSV import, so both apply the same rules.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    StringConstraints,
    field_validator,
)

from chalicelib.domain.contact import normalise_email, normalise_phone
from chalicelib.domain.time import parse_timestamp

MAX_TAGS = 40  # keeps a client's tag changes inside one DynamoDB transaction (100 items)
MAX_FIELDS = 50
MAX_FIELD_VALUE = 1000
_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_LANGUAGE = r"^[a-z]{2}$"

Scalar = str | int | float | bool


def _clean_text(value: str) -> str:
    if any(unicodedata.category(c) == "Cc" for c in value):
        raise ValueError("must not contain control characters")
    return value


def clean_tags(tags: list[str]) -> list[str]:
    """Trimmed, non-empty, at most 64 characters, unique (first spelling kept)."""
    cleaned: list[str] = []
    for tag in tags:
        text = _clean_text(tag.strip())
        if not text:
            raise ValueError("tags must not be empty")
        if len(text) > 64:
            raise ValueError("a tag has at most 64 characters")
        if text not in cleaned:
            cleaned.append(text)
    if len(cleaned) > MAX_TAGS:
        raise ValueError(f"a client has at most {MAX_TAGS} tags")
    return cleaned


def clean_fields(fields: dict[str, Any], *, allow_null: bool) -> dict[str, Any]:
    if len(fields) > MAX_FIELDS:
        raise ValueError(f"at most {MAX_FIELDS} custom fields")
    for name, value in fields.items():
        if not _FIELD_NAME.match(name):
            raise ValueError(f"field name {name!r} must match {_FIELD_NAME.pattern}")
        if value is None and allow_null:
            continue
        if isinstance(value, str):
            _clean_text(value)
            if len(value) > MAX_FIELD_VALUE:
                raise ValueError(f"field {name!r} is longer than {MAX_FIELD_VALUE} characters")
        elif isinstance(value, float) and value != value:  # NaN never comes from JSON, but be sure
            raise ValueError(f"field {name!r} is not a number")
        elif not isinstance(value, bool | int | float):
            raise ValueError(f"field {name!r} must be a string, number or boolean")
    return fields


Email = Annotated[str, StringConstraints(max_length=254), AfterValidator(normalise_email)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100), AfterValidator(_clean_text)]
Phone = Annotated[str, StringConstraints(max_length=40), AfterValidator(normalise_phone)]
ClientLanguage = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, pattern=_LANGUAGE)]
Label = Annotated[str, StringConstraints(strip_whitespace=True, max_length=64), AfterValidator(_clean_text)]
Timestamp = Annotated[datetime, BeforeValidator(parse_timestamp)]
Tags = Annotated[list[str], AfterValidator(clean_tags)]
Fields = Annotated[dict[str, Scalar], AfterValidator(lambda v: clean_fields(v, allow_null=False))]
FieldsPatch = Annotated[dict[str, Scalar | None], AfterValidator(lambda v: clean_fields(v, allow_null=True))]


class ClientInput(BaseModel):
    """A new client."""

    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)

    email: Email
    first_name: Name | None = None
    last_name: Name | None = None
    phone: Phone | None = None
    language: ClientLanguage | None = None
    tags: Tags = []
    status: Label | None = None
    last_visit_at: Timestamp | None = None
    fields: Fields = {}


class ClientPatch(BaseModel):
    """A partial update: absent fields are kept, ``null`` clears an optional one,
    a ``null`` custom field removes that field."""

    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)

    email: Email | None = None
    first_name: Name | None = None
    last_name: Name | None = None
    phone: Phone | None = None
    language: ClientLanguage | None = None
    tags: Tags | None = None
    status: Label | None = None
    last_visit_at: Timestamp | None = None
    fields: FieldsPatch | None = None

    @field_validator("email")
    @classmethod
    def _email_not_null(cls, value: str | None) -> str:
        # Runs only when the field is sent: an absent email keeps the current one.
        if value is None:
            raise ValueError("email cannot be null")
        return value

    def changes(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.model_fields_set}
