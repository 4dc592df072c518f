"""An account's settings: the validated shape, defaults and partial updates."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from chalicelib.domain.auto_status import Thresholds
from chalicelib.domain.business import check_brand_colour
from chalicelib.domain.client_profile import Email, Phone
from chalicelib.domain.contact import validate_https_url
from chalicelib.domain.text import FORMAT_CHARACTERS, Text, check_text

SUPPORTED_LANGUAGES = ("en", "cs", "it")

Language = Literal["en", "cs", "it"]
HttpsUrl = Annotated[
    str,
    StringConstraints(max_length=2048),
    AfterValidator(validate_https_url),
    WithJsonSchema(
        {"type": "string", "format": "uri", "pattern": "^\\s*[Hh][Tt][Tt][Pp][Ss]://", "maxLength": 2048}
    ),
]


# A business or sender name goes into the From header of every message and onto pages: one
# line, no invisible characters, and never shaped like an address (``support@bank.example``).
SenderName = Annotated[str, Text(100, min_length=1, name=True, display_name=True)]


def _address(value: str) -> str:
    # Lines of a postal address: the one text validator (line breaks allowed, no other
    # control or invisible character), then each line trimmed and blank lines dropped.
    value = check_text(value.replace("\r\n", "\n"), multiline=True, name=True)
    if "\r" in value or "\t" in value:
        raise ValueError("must not contain control characters other than line breaks")
    return "\n".join(line.strip() for line in value.split("\n") if line.strip())


BusinessAddress = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=300),
    AfterValidator(_address),
    WithJsonSchema(
        {
            "type": "string",
            "minLength": 1,
            "maxLength": 300,
            # Line feeds only (a CR LF is read as one), and no invisible formatting character.
            "pattern": f"^[^\\u0000-\\u0009\\u000B-\\u001F\\u007F-\\u009F\\u2028\\u2029{FORMAT_CHARACTERS}]*$",
            "description": "The postal address shown in e-mail footers and on public pages (lines allowed).",
        }
    ),
]
BrandColour = Annotated[
    str,
    AfterValidator(check_brand_colour),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": "^#[0-9A-Fa-f]{6}$",
            "description": "#rrggbb; white text on it must have a contrast of at least 4.5:1.",
        }
    ),
]


class AutoStatusThresholds(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, defer_build=True)

    new_days: int = Field(default=30, ge=1, le=3650)
    active_days: int = Field(default=90, ge=1, le=3650)
    lapsing_days: int = Field(default=180, ge=2, le=3650)

    @model_validator(mode="after")
    def _ordered(self) -> AutoStatusThresholds:
        if self.lapsing_days <= self.active_days:
            raise ValueError("lapsing_days must be greater than active_days")
        return self

    def as_domain(self) -> Thresholds:
        return Thresholds(self.new_days, self.active_days, self.lapsing_days)


class AccountSettings(BaseModel):
    """Every setting of API.md, with its default and its validation."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, defer_build=True)

    consent_only_campaigns: bool = False
    sender_email: Email
    sender_name: SenderName | None = None
    language: Language = "en"
    terms_url: HttpsUrl | None = None
    legitimate_interest_url: HttpsUrl | None = None
    reactivation_wait_days: int = Field(default=7, ge=0, le=30)
    non_responder_action: Literal["none", "tag", "erase"] = "none"
    # Per-account rate; the platform's SES rate caps it further at send time.
    send_rate_per_second: float = Field(default=10.0, ge=0.01, le=1000)
    daily_send_cap: int = Field(default=50_000, ge=1, le=10_000_000)
    hourly_send_cap: int = Field(default=20_000, ge=1, le=10_000_000)
    auto_status: AutoStatusThresholds = Field(default_factory=AutoStatusThresholds)
    # The business's identity on its clients' pages and e-mails (domain.business).
    logo_url: HttpsUrl | None = None
    brand_color: BrandColour | None = None
    business_address: BusinessAddress | None = None
    website_url: HttpsUrl | None = None
    contact_email: Email | None = None
    contact_phone: Phone | None = None


class AccountSettingsPatch(BaseModel):
    """A partial update: only the fields present are changed; ``null`` clears optional ones."""

    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)

    consent_only_campaigns: bool | None = None
    sender_email: Email | None = None
    sender_name: SenderName | None = None
    language: Language | None = None
    terms_url: HttpsUrl | None = None
    legitimate_interest_url: HttpsUrl | None = None
    reactivation_wait_days: int | None = Field(default=None, ge=0, le=30)
    non_responder_action: Literal["none", "tag", "erase"] | None = None
    send_rate_per_second: float | None = Field(default=None, ge=0.01, le=1000)
    daily_send_cap: int | None = Field(default=None, ge=1, le=10_000_000)
    hourly_send_cap: int | None = Field(default=None, ge=1, le=10_000_000)
    auto_status: AutoStatusThresholds | None = None
    logo_url: HttpsUrl | None = None
    brand_color: BrandColour | None = None
    business_address: BusinessAddress | None = None
    website_url: HttpsUrl | None = None
    contact_email: Email | None = None
    contact_phone: Phone | None = None

    @field_validator(
        "consent_only_campaigns",
        "sender_email",
        "language",
        "reactivation_wait_days",
        "non_responder_action",
        "send_rate_per_second",
        "daily_send_cap",
        "hourly_send_cap",
        "auto_status",
    )
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # Runs only for fields that were sent: these settings always have a value.
        if value is None:
            raise ValueError("this setting cannot be null")
        return value

    def apply(self, current: AccountSettings) -> AccountSettings:
        changes: dict[str, Any] = {name: getattr(self, name) for name in self.model_fields_set}
        merged = current.model_dump() | {
            k: (v.model_dump() if isinstance(v, BaseModel) else v) for k, v in changes.items()
        }
        return AccountSettings.model_validate(merged, strict=False)
