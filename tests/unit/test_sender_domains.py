"""Sender domains and SES's answers (pure rules): spelling, DNS records, status, refusals."""

from __future__ import annotations

import pytest

from chalicelib.domain.sender_domains import (
    FAILED,
    PENDING,
    VERIFIED,
    dns_records,
    domain_of,
    normalise_domain,
    public_mailbox_domain,
    status_from_ses,
)
from chalicelib.mail.ses import (
    MailAccountProblem,
    MailRejected,
    MailThrottled,
    MailTransient,
    classify,
)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("Salon-Bella.CZ.", "salon-bella.cz"),
        ("  mail.salon.example ", "mail.salon.example"),
        ("kadeřnictví.cz", "xn--kadenictv-o5a69i.cz"),
    ],
)
def test_domains_have_one_spelling(given: str, expected: str) -> None:
    assert normalise_domain(given) == expected


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "example",
        "salon .cz",
        "-salon.cz",
        "salon-.cz",
        "1.2.3.4",
        "*.salon.cz",
        "a" * 64 + ".cz",
        "x@y.cz",
    ],
)
def test_what_is_not_a_domain_is_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        normalise_domain(bad)


def test_the_domain_of_an_address() -> None:
    assert domain_of("News@Mail.Salon.Example") == "mail.salon.example"
    assert public_mailbox_domain(domain_of("salon.bella@gmail.com"))
    assert not public_mailbox_domain("salon-bella.cz")


def test_dns_records_cover_dkim_spf_and_dmarc() -> None:
    records = dns_records("salon.cz", ("t1", "t2", "t3"), "bounce.salon.cz", "eu-central-1")
    assert [r["purpose"] for r in records] == ["dkim", "dkim", "dkim", "spf", "spf", "dmarc"]
    assert records[0] == {
        "type": "CNAME",
        "name": "t1._domainkey.salon.cz",
        "value": "t1.dkim.amazonses.com",
        "purpose": "dkim",
    }
    assert records[3]["type"] == "MX" and records[3]["value"] == "10 feedback-smtp.eu-central-1.amazonses.com"
    assert records[4]["value"] == '"v=spf1 include:amazonses.com ~all"'
    assert records[5]["name"] == "_dmarc.salon.cz" and records[5]["value"].startswith('"v=DMARC1;')


def test_status_from_ses() -> None:
    assert status_from_ses("SUCCESS", False) == VERIFIED
    assert status_from_ses(None, True) == VERIFIED
    assert status_from_ses("PENDING", False) == PENDING
    assert status_from_ses("TEMPORARY_FAILURE", False) == PENDING
    assert status_from_ses("FAILED", False) == FAILED


@pytest.mark.parametrize(
    ("code", "message", "status", "kind", "reason"),
    [
        ("TooManyRequestsException", "Maximum sending rate exceeded.", 429, MailThrottled, None),
        ("Throttling", "Maximum sending rate exceeded.", 400, MailThrottled, None),
        (
            "AccountSendingPausedException",
            "Sending is paused for this account.",
            400,
            MailAccountProblem,
            "ses_account_paused",
        ),
        (
            "AccountSuspendedException",
            "The account is suspended.",
            400,
            MailAccountProblem,
            "ses_account_paused",
        ),
        (
            "SendingPausedException",
            "Sending is paused for this configuration set.",
            400,
            MailAccountProblem,
            "ses_sending_paused",
        ),
        (
            "MailFromDomainNotVerifiedException",
            "MAIL FROM not verified",
            400,
            MailAccountProblem,
            "mail_from_not_verified",
        ),
        (
            "ConfigurationSetDoesNotExist",
            "Configuration set x does not exist.",
            400,
            MailAccountProblem,
            "configuration_set_missing",
        ),
        (
            "NotFoundException",
            "Configuration set permesso-x-events does not exist.",
            404,
            MailAccountProblem,
            "configuration_set_missing",
        ),
        (
            "MessageRejected",
            "Email address is not verified. The following identities failed the check: a@b.cz",
            400,
            MailAccountProblem,
            "sender_not_verified",
        ),
        (
            "MessageRejected",
            "Did not have authority to send from email a@b.cz",
            400,
            MailAccountProblem,
            "sender_not_verified",
        ),
        ("MessageRejected", "Address blacklisted.", 400, MailRejected, None),
        ("BadRequestException", "Invalid address", 400, MailRejected, None),
        ("InternalFailure", "oops", 500, MailTransient, None),
        ("ServiceUnavailable", "later", 503, MailTransient, None),
    ],
)
def test_ses_refusals_are_classified(
    code: str, message: str, status: int, kind: type, reason: str | None
) -> None:
    error = classify(code, message, status)
    assert type(error) is kind
    assert getattr(error, "reason", None) == reason
