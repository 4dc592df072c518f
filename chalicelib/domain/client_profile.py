"""What a client record may hold, and how input is cleaned before it is stored.

Shared by the JSON API and (later) the CSV import, so both apply the same rules.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)

from chalicelib.domain.contact import normalise_email, normalise_phone
from chalicelib.domain.tags import unique_tags
from chalicelib.domain.text import SINGLE_LINE_EXCLUDES, Text, check_text, text_pattern
from chalicelib.domain.time import parse_timestamp

MAX_TAGS = 40  # keeps a client's tag changes inside one DynamoDB transaction (100 items)
MAX_FIELDS = 50
MAX_FIELD_VALUE = 1000
_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_LANGUAGE = r"^[a-z]{2}$"

Scalar = str | int | float | bool
# DynamoDB stores numbers of magnitude 1E-130 to 9.99…E+125 with up to 38 significant digits.
MAX_NUMBER = 1e125
MIN_MAGNITUDE = 1e-130


def storable_number(value: int | float) -> bool:
    """A custom field's number fits a DynamoDB number (finite, in range, not too precise)."""
    if value != value or value in (float("inf"), float("-inf")):
        return False
    if value == 0:
        return True
    if isinstance(value, int) and len(str(abs(value)).rstrip("0")) > 38:
        return False
    return MIN_MAGNITUDE <= abs(value) <= MAX_NUMBER


def clean_tags(tags: list[str]) -> list[str]:
    """Trimmed, non-empty, at most 64 characters, unique compared case-insensitively
    (``VIP`` and ``vip`` are one tag: the first spelling is kept)."""
    cleaned: list[str] = []
    for tag in tags:
        text = check_text(tag.strip())
        if not text:
            raise ValueError("tags must not be empty")
        if len(text) > 64:
            raise ValueError("a tag has at most 64 characters")
        cleaned.append(text)
    cleaned = unique_tags(cleaned)
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
            check_text(value)
            if len(value) > MAX_FIELD_VALUE:
                raise ValueError(f"field {name!r} is longer than {MAX_FIELD_VALUE} characters")
        elif isinstance(value, bool):
            continue
        elif isinstance(value, int | float):
            if not storable_number(value):
                raise ValueError(
                    f"field {name!r} must be a number between -{MAX_NUMBER:g} and {MAX_NUMBER:g}"
                )
        else:
            raise ValueError(f"field {name!r} must be a string, number or boolean")
    return fields


# What the validators accept, stated in the OpenAPI document too (clients and fuzzers read it).
SINGLE_LINE = text_pattern()
_LINE = SINGLE_LINE_EXCLUDES
TAG_PATTERN = f"^[^{_LINE}]*[^\\s{_LINE}][^{_LINE}]*$"
PHONE_PATTERN = r"^\s*\+?[0-9 ()./-]{3,32}\s*$"


EMAIL_SCHEMA = {"type": "string", "format": "email", "maxLength": 254}

Email = Annotated[
    str,
    StringConstraints(max_length=254),
    AfterValidator(normalise_email),
    WithJsonSchema(EMAIL_SCHEMA),
]
Name = Annotated[str, Text(100, name=True)]
Phone = Annotated[
    str,
    StringConstraints(max_length=40),
    AfterValidator(normalise_phone),
    WithJsonSchema({"type": "string", "maxLength": 40, "pattern": PHONE_PATTERN}),
]
ClientLanguage = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, pattern=_LANGUAGE)]
Label = Annotated[str, Text(64)]
Timestamp = Annotated[datetime, BeforeValidator(parse_timestamp)]
TAGS_SCHEMA = {
    "type": "array",
    "maxItems": MAX_TAGS,
    "items": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": TAG_PATTERN},
}
Tags = Annotated[list[str], AfterValidator(clean_tags), WithJsonSchema(TAGS_SCHEMA)]


def fields_schema(*, allow_null: bool) -> WithJsonSchema:
    values: list[dict[str, Any]] = [
        {"type": "string", "maxLength": MAX_FIELD_VALUE, "pattern": SINGLE_LINE},
        {"type": "number", "minimum": -MAX_NUMBER, "maximum": MAX_NUMBER},
        {"type": "boolean"},
    ]
    if allow_null:
        values.append({"type": "null"})
    return WithJsonSchema(
        {
            "type": "object",
            "maxProperties": MAX_FIELDS,
            "propertyNames": {"pattern": _FIELD_NAME.pattern},
            "additionalProperties": {"anyOf": values},
        }
    )


Fields = Annotated[
    dict[str, Scalar],
    AfterValidator(lambda v: clean_fields(v, allow_null=False)),
    fields_schema(allow_null=False),
]
FieldsPatch = Annotated[
    dict[str, Scalar | None],
    AfterValidator(lambda v: clean_fields(v, allow_null=True)),
    fields_schema(allow_null=True),
]


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


def _absent_not_null(schema: dict[str, Any]) -> None:
    """A never-null property of a patch is optional, not defaulting to null."""
    for prop in schema.get("properties", {}).values():
        if prop.get("default", "") is None and "anyOf" not in prop:
            del prop["default"]


class ClientPatch(BaseModel):
    """A partial update: absent fields are kept, ``null`` clears an optional one,
    a ``null`` custom field removes that field. ``email``, ``tags`` and ``fields``
    themselves cannot be null."""

    model_config = ConfigDict(
        extra="forbid", strict=True, defer_build=True, json_schema_extra=_absent_not_null
    )

    # Absent or a value, never null: the document says so too.
    email: Annotated[Email | None, WithJsonSchema(EMAIL_SCHEMA)] = None
    first_name: Name | None = None
    last_name: Name | None = None
    phone: Phone | None = None
    language: ClientLanguage | None = None
    tags: Annotated[Tags | None, WithJsonSchema(TAGS_SCHEMA)] = None
    status: Label | None = None
    last_visit_at: Timestamp | None = None
    fields: Annotated[FieldsPatch | None, fields_schema(allow_null=True)] = None
    # Staff accept a sign-up of the public form that its owner has not confirmed: ``false``
    # ends the pending state (a client is never made pending through the API).
    pending: Annotated[
        bool | None,
        WithJsonSchema(
            {
                "type": "boolean",
                "const": False,
                "description": "false: accept a pending sign-up of the intake form",
            }
        ),
    ] = None

    @field_validator("pending")
    @classmethod
    def _only_false(cls, value: Any) -> Any:
        if value is not False:
            raise ValueError("only false: a client becomes pending only through the intake form")
        return value

    @field_validator("email", "tags", "fields")
    @classmethod
    def _not_null(cls, value: Any, info: ValidationInfo) -> Any:
        # Runs only when the field is sent: an absent one keeps the current value.
        if value is None:
            empty = {
                "tags": " (send [] to remove every tag)",
                "fields": ' (send {"name": null} to remove one)',
            }
            raise ValueError(f"{info.field_name} cannot be null{empty.get(info.field_name or '', '')}")
        return value

    def changes(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.model_fields_set}
