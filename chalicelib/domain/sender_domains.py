"""Sender domains: which domains a business may send as, and the DNS records that prove it.

A business sends only from a domain it has registered and SES has verified
(``POST /v1/sender-domains``). The rules here are pure:

- ``normalise_domain``: the one spelling of a domain (lower case, no trailing
  dot, international names in their ASCII "xn--" form, RFC 1035 labels);
- ``domain_of``: the domain of an e-mail address, normalised the same way;
- ``status_from_ses``: ``verified`` / ``pending`` / ``failed`` from what SES
  says of the identity;
- ``dns_records``: what the business publishes — three DKIM CNAMEs (Easy DKIM),
  the custom MAIL FROM's MX and SPF records, and a DMARC record.

A sender address must be on one of the account's *verified* domains, exactly
(a parent domain does not cover its subdomains: each is claimed on its own).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints, WithJsonSchema

VERIFIED = "verified"
PENDING = "pending"
FAILED = "failed"
STATUSES = (PENDING, VERIFIED, FAILED)

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
DMARC_VALUE = "v=DMARC1; p=none;"
SPF_VALUE = "v=spf1 include:amazonses.com ~all"


def normalise_domain(value: str) -> str:
    """``value`` as the one spelling every check compares: lower case, no trailing dot,
    IDN labels in their ASCII form; ``ValueError`` when it is not a host name with at least
    two labels (``example`` alone, an IP address, a wildcard or a label over 63 characters)."""
    text = value.strip().rstrip(".").lower()
    if not text or any(c.isspace() for c in text):
        raise ValueError("must be a domain name such as salon-bella.cz")
    try:
        ascii_text = text.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError("must be a valid domain name") from None
    labels = ascii_text.split(".")
    if len(labels) < 2 or len(ascii_text) > 253 or not all(_LABEL.match(label) for label in labels):
        raise ValueError("must be a domain name such as salon-bella.cz (letters, digits, hyphens, dots)")
    if labels[-1].isdigit():
        raise ValueError("must be a domain name, not an IP address")
    return ascii_text


# Public mailbox providers: nobody can publish DNS records for them, and the first account to
# claim one would lock every other business that uses it out. A sender address there is refused.
PUBLIC_MAILBOX_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "ymail.com",
        "outlook.com",
        "hotmail.com",
        "live.com",
        "msn.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "aol.com",
        "gmx.com",
        "gmx.net",
        "gmx.de",
        "web.de",
        "seznam.cz",
        "email.cz",
        "post.cz",
        "centrum.cz",
        "atlas.cz",
        "libero.it",
        "virgilio.it",
        "tiscali.it",
        "alice.it",
        "tim.it",
        "proton.me",
        "protonmail.com",
        "zoho.com",
        "yandex.com",
        "yandex.ru",
        "mail.ru",
        "yahoo.it",
        "yahoo.co.uk",
        "hotmail.it",
        "outlook.it",
    }
)


def public_mailbox_domain(domain: str) -> bool:
    return domain in PUBLIC_MAILBOX_DOMAINS


def domain_of(email: str) -> str:
    """The normalised domain of an e-mail address."""
    return normalise_domain(email.rpartition("@")[2])


DomainName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=253),
    AfterValidator(normalise_domain),
    WithJsonSchema(
        {
            "type": "string",
            "minLength": 3,
            "maxLength": 253,
            "pattern": "^[^\\s@/]+\\.[^\\s@/]+$",
            "examples": ["salon-bella.cz"],
        }
    ),
]


class NewSenderDomain(BaseModel):
    """``POST /v1/sender-domains``."""

    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)

    domain: DomainName


@dataclass(frozen=True)
class SenderDomain:
    account_id: str
    domain: str
    status: str  # pending | verified | failed
    created_at: datetime
    dkim_tokens: tuple[str, ...] = ()
    mail_from_domain: str | None = None
    mail_from_status: str | None = None
    checked_at: datetime | None = None  # the last time SES was asked
    verified_at: datetime | None = None

    @property
    def verified(self) -> bool:
        return self.status == VERIFIED


def status_from_ses(verification_status: str | None, verified_for_sending: bool) -> str:
    """Our status from SES's ``VerificationStatus`` (SESv2, 2023) or, when absent, its older
    ``VerifiedForSendingStatus`` flag."""
    if verification_status == "SUCCESS" or (verification_status is None and verified_for_sending):
        return VERIFIED
    if verification_status == "FAILED":
        return FAILED
    return PENDING  # PENDING, TEMPORARY_FAILURE, NOT_STARTED: DNS not seen yet


def mail_from_domain(domain: str, subdomain: str | None) -> str | None:
    return f"{subdomain}.{domain}" if subdomain else None


def dns_records(
    domain: str, dkim_tokens: tuple[str, ...] | list[str], mail_from: str | None, region: str
) -> list[dict[str, Any]]:
    """The records the business adds to its DNS, each ``{type, name, value, purpose}``.

    - DKIM: one CNAME per Easy DKIM token, ``<token>._domainkey.<domain>`` →
      ``<token>.dkim.amazonses.com`` (SES signs with keys it rotates itself);
    - SPF: with a custom MAIL FROM domain (``bounce.<domain>``), its MX record pointing
      at SES's feedback endpoint and its SPF TXT record — SPF then passes for the
      business's own domain (aligned, for DMARC);
    - DMARC: ``_dmarc.<domain>`` TXT ``v=DMARC1; p=none;`` — only if the domain has no
      DMARC record yet (mailbox providers require one of bulk senders).
    """
    records: list[dict[str, Any]] = [
        {
            "type": "CNAME",
            "name": f"{token}._domainkey.{domain}",
            "value": f"{token}.dkim.amazonses.com",
            "purpose": "dkim",
        }
        for token in dkim_tokens
    ]
    if mail_from:
        records.append(
            {
                "type": "MX",
                "name": mail_from,
                "value": f"10 feedback-smtp.{region}.amazonses.com",
                "purpose": "spf",
            }
        )
        records.append({"type": "TXT", "name": mail_from, "value": f'"{SPF_VALUE}"', "purpose": "spf"})
    records.append(
        {"type": "TXT", "name": f"_dmarc.{domain}", "value": f'"{DMARC_VALUE}"', "purpose": "dmarc"}
    )
    return records
