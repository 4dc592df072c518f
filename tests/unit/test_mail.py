"""MIME building, template rendering and catalogues, outbox parsing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email import message_from_bytes
from email.policy import default as default_policy

import pytest

from chalicelib.mail.mime import InvalidMail, OutgoingMail, build_mime
from chalicelib.mail.outbox import html_links, mail_from_entry, parse_raw_message
from chalicelib.mail.rendering import (
    LANGUAGES,
    TEMPLATES_DIR,
    Translator,
    accepted_language,
    catalogue,
    pick_language,
    render,
)

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
MAIL = OutgoingMail(
    sender_email="hello@salon.example",
    sender_name="Salón Bella",
    to="zuzana@example.com",
    subject="Novinky ✓ — Salón",
    text="Dobrý den, žluťoučký kůň.\nhttps://permesso.test/p/x",
    html='<p>Dobrý den</p><a href="https://permesso.test/p/x" data-cta="confirm">Potvrdit</a>',
    language="cs",
)


def test_multipart_alternative_utf8_message() -> None:
    raw = build_mime(MAIL, NOW)
    assert raw.isascii()  # 7-bit clean on the wire
    message = message_from_bytes(raw, policy=default_policy)
    assert message.get_content_type() == "multipart/alternative"
    assert str(message["Subject"]) == MAIL.subject
    assert message["From"].addresses[0].display_name == "Salón Bella"
    assert message["To"].addresses[0].addr_spec == "zuzana@example.com"
    assert message["Content-Language"] == "cs" and message["Message-ID"].endswith("@salon.example>")
    assert message["Date"] is not None
    assert message.get_body(("plain",)).get_content().startswith("Dobrý den, žluťoučký")
    assert "data-cta" in message.get_body(("html",)).get_content()
    assert "List-Unsubscribe" not in message


def test_marketing_mail_carries_one_click_unsubscribe_headers() -> None:
    from dataclasses import replace

    raw = build_mime(replace(MAIL, list_unsubscribe_url="https://permesso.test/p/u/tok"), NOW)
    message = message_from_bytes(raw, policy=default_policy)
    assert message["List-Unsubscribe"] == "<https://permesso.test/p/u/tok>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    with pytest.raises(InvalidMail):
        build_mime(replace(MAIL, list_unsubscribe_url="http://permesso.test/p/u/tok"), NOW)


@pytest.mark.parametrize(
    "change",
    [
        {"subject": "Hi\r\nBcc: victim@example.com"},
        {"sender_name": "x\nBcc: v@example.com"},
        {"to": "a@example.com\nBcc: v@example.com"},
        {"to": "ünïcode@example.com"},
        {"extra_headers": {"X-Test": "a\r\nb"}},
    ],
)
def test_header_injection_and_unsendable_addresses_are_refused(change: dict) -> None:
    from dataclasses import replace

    with pytest.raises(InvalidMail):
        build_mime(replace(MAIL, **change), NOW)


def test_idn_domain_is_encoded() -> None:
    from dataclasses import replace

    raw = build_mime(replace(MAIL, to="jan@příklad.cz"), NOW)
    assert b"xn--" in raw


def test_outbox_parses_what_was_built() -> None:
    raw = build_mime(MAIL, NOW).decode()
    mail = parse_raw_message("m-1", raw)
    assert mail.subject == MAIL.subject and mail.to == ["zuzana@example.com"]
    assert mail.links[0].href == "https://permesso.test/p/x" and mail.links[0].cta == "confirm"
    assert mail.date == "2026-11-24T10:00:00+00:00"
    assert mail.text is not None and mail.html is not None and mail.html != mail.text
    entries = [
        {"position": 1, "message_id": "m-1", "raw": raw},
        {"position": 0, "message_id": "m-2", "sender": "a@b.c", "to": ["x@y.z"], "subject": "s", "body": "b"},
    ]  # fmt: skip
    mails = [mail_from_entry(json.loads(json.dumps(entry))) for entry in entries]
    assert [(m.message_id, m.to, m.subject) for m in mails] == [
        ("m-1", ["zuzana@example.com"], MAIL.subject),
        ("m-2", ["x@y.z"], "s"),
    ]


def test_outbox_pages_escape_everything() -> None:
    from chalicelib.mail.outbox import Link, SentMail

    evil = "<script>alert(1)</script>\"'><img src=x onerror=alert(1)>"
    mail = SentMail(
        message_id=evil, sender=evil, to=[evil], subject=evil, date=evil, text=evil, html=evil,
        headers={"From": evil, evil: evil}, links=[Link(href="https://x.example/?" + evil, text=evil, cta=evil)],
    )  # fmt: skip
    listing = render(
        "pages/dev_outbox.html", "en", unavailable=False, mails=[mail], total=1, query=evil, limit=50,
        first_page=False, next_cursor="7",
    )  # fmt: skip
    detail = render("pages/dev_outbox_message.html", "en", mail=mail, headers=list(mail.headers.items()))
    for output in (listing, detail):
        assert evil not in output and "<script" not in output and "<img" not in output
    assert listing.count("&lt;script&gt;") >= 4 and detail.count("&lt;script&gt;") >= 5


def test_html_links() -> None:
    links = html_links(
        '<a href="/a">One <b>two</b></a><a name="x">no href</a><a href="/b" data-cta="decline">N</a>'
    )
    assert [(x.href, x.text, x.cta) for x in links] == [("/a", "One two", None), ("/b", "N", "decline")]


def placeholders(text: str) -> set[str]:
    return {part.split("}")[0] for part in text.split("{")[1:]}


def test_catalogues_are_complete_and_formattable() -> None:
    reference = catalogue("en")
    for language in LANGUAGES:
        messages = catalogue(language)
        assert set(messages) == set(reference), language
        for key, text in messages.items():
            assert placeholders(text) == placeholders(reference[key]), (language, key)


def test_language_choice() -> None:
    assert pick_language(None, "cs") == "cs"
    assert pick_language("it", "cs") == "it"
    assert pick_language("de", None) == "en"
    assert pick_language("CS-cz") == "cs"
    assert accepted_language("de-DE,de;q=0.9,it;q=0.8,cs;q=0.9") == "cs"
    assert accepted_language("fr, en;q=0") is None
    assert accepted_language("it;q=bogus, en") == "en"
    assert accepted_language(None) is None


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_page_and_mail_renders_escaped_in_every_language(language: str) -> None:
    evil = "<img src=x onerror=alert(1)>"
    context = {
        "business": evil,
        "first_name": evil,
        "confirm_url": "https://permesso.test/p/confirm/t",
        "terms_url": "https://salon.example/terms",
        "languages": (("en", "English"),),
        "values": {"email": evil},
        "errors": {"email": "invalid"},
        "heading": "thanks.heading",
        "body": "thanks.body",
        "mails": [],
        "legitimate_interest_url": "https://salon.example/interest",
        "action": "confirm",
        "done": "confirmed",
        "other": "decline",
        "other_token": "t",
        "identity": {
            "logo_url": "https://salon.example/logo.png?<x>",
            "brand": "#0b4f9c",
            "address_lines": [evil],
            "website": "https://salon.example/?<x>",
            "contact": evil,
        },
        "test": True,
        "thanks": True,
        "logo_url": "https://salon.example/logo.png?<x>",
        "footer": [evil],
        "kind": "invitation_mail",
        "url": "https://permesso.test/app/invitation/t",
        "email": evil,
    }
    for path in sorted(TEMPLATES_DIR.rglob("*")):
        name = str(path.relative_to(TEMPLATES_DIR))
        # Console pages need a request (session, CSRF): tests/integration/test_console_pages.py.
        if path.suffix not in (".html", ".txt") or name == "pages/base.html" or name.startswith("console/"):
            continue
        if name.startswith("pages/dev_outbox"):  # their own context: test_outbox_pages_escape_everything
            continue
        output = render(name, language, **context)
        if path.suffix == ".html":
            assert evil not in output, name
            assert f'lang="{language}"' in output or name.startswith("pages/dev_"), name


def test_translator_formats_parameters_without_interpreting_them() -> None:
    t = Translator("en")
    assert t("doi.greeting_name", name="{0} {x}") == "Hello {0} {x},"
    assert Translator("xx").language == "en"
