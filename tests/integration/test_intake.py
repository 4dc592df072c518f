"""The public intake form and its double opt-in, end to end through HTTP and SES (moto)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email import message_from_string
from email.policy import default as default_policy
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest

from chalicelib.bootstrap import get_deps
from chalicelib.mail.outbox import html_links, parse_raw_message
from chalicelib.storage.models import ConsentEventModel
from tests.integration.conftest import Http, sent_messages

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


class Browser:
    """A visitor: posts forms, reads HTML pages."""

    def __init__(self, api: Any) -> None:
        self.api = api

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, str, dict[str, str]]:
        response = self.api.http.get(path, headers=headers or {})
        return response.status_code, response.body.decode(), dict(response.headers)

    def post(
        self,
        path: str,
        fields: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> tuple[int, str, dict[str, str]]:
        body = raw if raw is not None else urlencode(fields or {}).encode()
        response = self.api.http.post(path, headers={**FORM, **(headers or {})}, body=body)
        return response.status_code, response.body.decode(), dict(response.headers)


@pytest.fixture
def browser(api: Any) -> Browser:
    return Browser(api)


@pytest.fixture
def form_path(account: dict) -> str:
    return f"/p/forms/{account['public_slug']}"


@pytest.fixture
def terms(http: Http) -> str:
    url = "https://salon.example/terms"
    assert http.patch("/v1/account/settings", {"terms_url": url})[0] == 200
    return url


def client_by_email(http: Http, email: str) -> dict | None:
    _status, page = http.get("/v1/clients?limit=500")
    for item in page["items"]:
        if item["email"].lower() == email.lower():
            return item
    return None


def confirm_link_of(message: Any) -> str:
    mail = parse_raw_message(message.id, message.raw_data)
    [link] = [link for link in mail.links if link.cta == "confirm"]
    return link.href


def test_form_page_is_accessible_and_localised(browser: Browser, form_path: str, terms: str) -> None:
    status, html, headers = browser.get(form_path)
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert '<html lang="en">' in html and 'name="viewport"' in html and "<script" not in html
    for field in ("email", "first_name", "last_name", "phone", "language", "consent"):
        assert f'id="f-{field}"' in html and f'for="f-{field}"' in html  # every input has a label
    checkbox = re.search(r'<input id="f-consent"[^>]*>', html)
    assert checkbox and "checked" not in checkbox.group(0)  # never pre-ticked
    assert f'href="{terms}"' in html
    assert 'name="website"' in html  # the honeypot
    assert '<form method="post"' in html
    assert (
        headers["Referrer-Policy"] == "no-referrer"
        and "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    )
    status, czech, _ = browser.get(form_path + "?lang=cs")
    assert '<html lang="cs">' in czech and "Souhlasím" in czech


def test_form_uses_the_accounts_language(browser: Browser, http: Http, form_path: str) -> None:
    http.patch("/v1/account/settings", {"language": "it"})
    _status, html, _ = browser.get(form_path)
    assert '<html lang="it">' in html and "Acconsento" in html


def test_unknown_form_is_the_uniform_404_page(browser: Browser) -> None:
    status, html, headers = browser.get("/p/forms/no-such-slug-12345678")
    assert status == 404 and headers["Content-Type"].startswith("text/html")
    status2, html2, _ = browser.get("/p/confirm/k1.bogus.token")
    assert status2 == 404 and html2 == html


def test_validation_errors_are_inline_and_keep_the_input(
    browser: Browser, http: Http, form_path: str
) -> None:
    fields = {"email": "not-an-address", "first_name": "Jana", "phone": "call me", "consent": "yes"}
    status, html, _ = browser.post(form_path, fields)
    assert status == 400
    assert 'value="not-an-address"' in html and 'value="Jana"' in html and 'value="call me"' in html
    assert 'id="e-email"' in html and 'id="e-phone"' in html and 'aria-invalid="true"' in html
    assert re.search(r'<input id="f-consent"[^>]*checked', html)
    assert http.get("/v1/clients")[1]["items"] == []
    status, html, _ = browser.post(form_path, {"first_name": "Jana"})
    assert status == 400 and "Enter your e-mail address." in html


def test_submission_without_consent_creates_the_client_and_sends_nothing(
    browser: Browser, http: Http, form_path: str, mail_ready: None
) -> None:
    fields = {
        "email": "jana@example.com",
        "first_name": "Jana",
        "last_name": "Dvořáková",
        "phone": "+420 777 000 111",
        "language": "cs",
    }
    status, html, _ = browser.post(form_path, fields)
    assert status == 200 and "Děkujeme" in html
    client = client_by_email(http, "jana@example.com")
    assert client and client["first_name"] == "Jana" and client["language"] == "cs"
    assert client["consent"]["state"] == "unknown"
    assert client["pending"] is True  # a stranger could have typed it: in no audience yet
    assert sent_messages() == []


def test_double_opt_in_end_to_end(
    browser: Browser, http: Http, account: dict, form_path: str, terms: str, mail_ready: None
) -> None:
    fields = {"email": "marco@example.com", "first_name": "Marco", "language": "it", "consent": "yes"}
    status, html, _ = browser.post(form_path, fields)
    assert status == 200 and "Grazie" in html
    client = client_by_email(http, "marco@example.com")
    assert client and client["consent"]["state"] == "unknown"  # not before the confirmation

    [message] = sent_messages()
    mail = parse_raw_message(message.id, message.raw_data)
    assert mail.to == ["marco@example.com"] and "hello@salon.example" in mail.sender
    assert "Salon Bella" in mail.subject and mail.headers["Content-Language"] == "it"
    parsed = message_from_string(message.raw_data, policy=default_policy)
    assert parsed.get_content_type() == "multipart/alternative"
    assert "List-Unsubscribe" not in parsed  # transactional mail
    link = confirm_link_of(message)
    assert link in (mail.text or "")
    url = urlsplit(link)
    assert f"{url.scheme}://{url.netloc}" == "https://permesso.test" and url.path.startswith("/p/confirm/")

    # Opening the link (as a mail scanner would) records nothing.
    status, page, _ = browser.get(url.path)
    assert status == 200 and '<form method="post"' in page and "<button" in page and "<script" not in page
    assert '<html lang="it">' in page and f'href="{terms}"' in page
    assert list(ConsentEventModel.query(f"{account['account_id']}#{client['client_id']}")) == []

    # The button's POST records the consent with the confirming request's own evidence.
    status, page, _ = browser.post(
        url.path,
        {"confirm": "yes"},
        headers={
            "User-Agent": "Mozilla/5.0 (Test) Firefox/130.0",
            "X-Forwarded-For": "6.6.6.6",
            "Forwarded": "for=6.6.6.7",
            "X-Real-IP": "6.6.6.8",
        },
    )
    assert status == 200 and "Grazie per la conferma" in page
    status, consent = http.get(f"/v1/clients/{client['client_id']}/consent")
    assert consent["state"] == "granted" and consent["confirmed_at"] is not None
    [event] = consent["events"]
    assert event["type"] == "granted" and event["source"] == "intake_form"
    assert event["ip"] == "127.0.0.1"  # requestContext.identity.sourceIp, never the headers
    assert event["user_agent"] == "Mozilla/5.0 (Test) Firefox/130.0"
    assert event["terms_url"] == terms
    assert "6.6.6" not in str(consent)

    # Clicking again is logged again; the state stays granted.
    browser.post(url.path, {"confirm": "yes"})
    status, consent = http.get(f"/v1/clients/{client['client_id']}/consent")
    assert [e["type"] for e in consent["events"]] == ["granted", "granted"] and consent["state"] == "granted"


def test_confirmation_links_that_are_not_genuine_are_404(
    browser: Browser, http: Http, form_path: str, mail_ready: None
) -> None:
    browser.post(form_path, {"email": "eva@example.com", "consent": "yes"})
    path = urlsplit(confirm_link_of(sent_messages()[0])).path
    token = path.rsplit("/", 1)[1]
    kid, payload, tag = token.split(".")
    tampered = f"{kid}.{payload}.{tag[:-2]}{'AA' if tag[-2:] != 'AA' else 'BA'}"
    not_found = browser.get("/p/forms/none-such-slug")[1]
    for bad in (tampered, f"{kid}.{payload}", "x" * 5000, token + "x"):
        status, html, _ = browser.get(f"/p/confirm/{bad}")
        assert status == 404 and html == not_found
        status, html, _ = browser.post(f"/p/confirm/{bad}", {"confirm": "yes"})
        assert status == 404 and html == not_found
    client = client_by_email(http, "eva@example.com")
    assert http.get(f"/v1/clients/{client['client_id']}/consent")[1]["events"] == []


def test_expired_confirmation_link_is_404(
    browser: Browser, http: Http, form_path: str, mail_ready: None
) -> None:
    browser.post(form_path, {"email": "late@example.com", "consent": "yes"})
    path = urlsplit(confirm_link_of(sent_messages()[0])).path
    deps = get_deps()
    deps.clock = lambda: datetime.now(UTC) + timedelta(days=8)
    try:
        assert browser.get(path)[0] == 404
        assert browser.post(path, {"confirm": "yes"})[0] == 404
    finally:
        deps.clock = type(deps).clock


def test_link_stops_working_when_the_address_changes(
    browser: Browser, http: Http, form_path: str, mail_ready: None
) -> None:
    browser.post(form_path, {"email": "old@example.com", "consent": "yes"})
    path = urlsplit(confirm_link_of(sent_messages()[0])).path
    client = client_by_email(http, "old@example.com")
    assert http.patch(f"/v1/clients/{client['client_id']}", {"email": "new@example.com"})[0] == 200
    assert browser.post(path, {"confirm": "yes"})[0] == 404


def test_existing_address_changes_only_when_its_owner_confirms(
    browser: Browser, http: Http, form_path: str, mail_ready: None
) -> None:
    status, created = http.post(
        "/v1/clients",
        {
            "email": "Petra@Example.com",
            "first_name": "Petra",
            "last_name": "Nová",
            "phone": "+420 600 000 000",
        },
    )
    http.put(f"/v1/clients/{created['client_id']}/consent", {"granted": False})
    before = http.get(f"/v1/clients/{created['client_id']}")[1]
    status, _, _ = browser.post(
        form_path,
        {
            "email": "petra@example.com",
            "last_name": "Svobodová",
            "first_name": "",
            "consent": "yes",
            "language": "cs",
        },
    )
    assert status == 200
    assert http.get(f"/v1/clients/{created['client_id']}")[1] == before  # the form changes nothing
    assert len(http.get("/v1/clients")[1]["items"]) == 1
    [message] = sent_messages()
    path = urlsplit(confirm_link_of(message)).path
    status, page, _ = browser.get(path)
    assert status == 200 and "Svobodová" in page and '<html lang="cs">' in page
    assert browser.post(path, {"confirm": "yes"})[0] == 200
    client = http.get(f"/v1/clients/{created['client_id']}")[1]
    assert client["first_name"] == "Petra" and client["phone"] == "+420 600 000 000"  # not given: kept
    assert client["last_name"] == "Svobodová" and client["language"] == "cs"
    assert client["consent"]["state"] == "granted"  # the owner's own confirmation lifts the denial


def test_honeypot_submission_does_nothing_but_looks_the_same(
    browser: Browser, http: Http, form_path: str, mail_ready: None
) -> None:
    human = browser.post(form_path, {"email": "human@example.com"})
    bot = browser.post(
        form_path, {"email": "bot@example.com", "consent": "yes", "website": "http://spam.example"}
    )
    assert bot[0] == 200 and bot[1] == human[1]
    assert client_by_email(http, "bot@example.com") is None
    assert sent_messages() == []


def test_suppressed_address_gets_no_mail_and_the_same_page(
    browser: Browser, http: Http, account: dict, form_path: str, mail_ready: None
) -> None:
    from chalicelib.domain.consent import EventType, Source
    from chalicelib.services.consent import ConsentChange, record_consent

    _status, created = http.post("/v1/clients", {"email": "gone@example.com"})
    deps = get_deps()
    record_consent(
        deps,
        deps.accounts.get(account["account_id"]),
        created["client_id"],
        ConsentChange(EventType.UNSUBSCRIBED, Source.ONE_CLICK_UNSUBSCRIBE),
    )
    fresh = browser.post(form_path, {"email": "fresh@example.com", "consent": "yes"})
    suppressed = browser.post(form_path, {"email": "gone@example.com", "consent": "yes"})
    assert suppressed[0] == fresh[0] == 200 and suppressed[1] == fresh[1]
    assert [parse_raw_message(m.id, m.raw_data).to for m in sent_messages()] == [["fresh@example.com"]]


def test_limit_per_address_holds_back_mail_not_the_form(
    browser: Browser, form_path: str, mail_ready: None
) -> None:
    for _ in range(3):
        assert browser.post(form_path, {"email": "target@example.com", "consent": "yes"})[0] == 200
    status, html, _ = browser.post(form_path, {"email": "TARGET@example.com", "consent": "yes"})
    assert status == 200 and "Too many attempts" not in html  # the form reveals nothing
    assert len(sent_messages()) == 3  # but the address gets no fourth mail this hour


def test_rate_limit_per_ip(browser: Browser, form_path: str) -> None:
    for i in range(20):
        assert browser.post(form_path, {"email": f"p{i}@example.com"})[0] == 200
    status, _html, _ = browser.post(form_path, {"email": "p99@example.com"})
    assert status == 429
    # Spoofed forwarding headers do not make a new visitor.
    assert (
        browser.post(form_path, {"email": "p98@example.com"}, headers={"X-Forwarded-For": "9.9.9.9"})[0]
        == 429
    )


def test_rate_limit_windows_pass(browser: Browser, form_path: str) -> None:
    from chalicelib.domain.intake import FORM_PER_ACCOUNT_IP

    deps = get_deps()
    start = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    deps.clock = lambda: start
    try:
        for i in range(FORM_PER_ACCOUNT_IP.limit):
            browser.post(form_path, {"email": f"w{i}@example.com"})
        assert browser.post(form_path, {"email": "w@example.com"})[0] == 429
        deps.clock = lambda: start + timedelta(hours=1)
        assert browser.post(form_path, {"email": "w@example.com"})[0] == 200
    finally:
        deps.clock = type(deps).clock


def test_throttle_table_holds_no_ip_or_address(browser: Browser, form_path: str) -> None:
    import boto3

    browser.post(form_path, {"email": "private@example.com", "consent": "yes"})
    items = boto3.client("dynamodb", region_name="eu-central-1").scan(TableName="permesso-test-throttle")[
        "Items"
    ]
    assert "127.0.0.1" not in str(items) and "private" not in str(items)
    # per business and IP, per IP, per business, mails per business and address (the other
    # items are the confirmation e-mail's sending: the account's caps and pace, the platform's)
    limits = [item for item in items if item["bucket"]["S"].startswith(("form-", "doi-"))]
    assert len(limits) == 4
    assert all(int(item["expires_at"]["N"]) > 0 and item["count"]["N"] == "1" for item in limits)  # TTL


def test_html_is_escaped_on_pages_and_in_the_email(
    browser: Browser, http: Http, form_path: str, mail_ready: None
) -> None:
    evil = '<script>alert("x")</script>'
    status, html, _ = browser.post(form_path, {"email": "bad", "first_name": evil})
    assert status == 400 and evil not in html and "&lt;script&gt;" in html
    status, _, _ = browser.post(
        form_path, {"email": "evil@example.com", "first_name": evil, "consent": "yes"}
    )
    assert status == 200
    mail = parse_raw_message(sent_messages()[0].id, sent_messages()[0].raw_data)
    # The confirmation mail shows nothing a stranger typed (the form is a known spam carrier).
    assert "alert" not in (mail.html or "") and "alert" not in (mail.text or "")
    assert [link.cta for link in html_links(mail.html or "")].count("confirm") == 1
    # The page behind the link shows the details to be saved, escaped.
    [link] = [link.href for link in html_links(mail.html or "") if link.cta == "confirm"]
    status, page, _ = browser.get(urlsplit(link).path)
    assert status == 200 and evil not in page and "&lt;script&gt;" in page


def test_business_name_is_escaped_on_the_form(api: Any, browser: Browser) -> None:
    from tests.integration.conftest import create_account

    created = create_account(api, "<b>Evil & Co</b>", "evil@co.example")
    status, html, _ = browser.get(f"/p/forms/{created['public_slug']}")
    assert status == 200 and "<b>Evil" not in html and "&lt;b&gt;Evil &amp; Co&lt;/b&gt;" in html


def test_form_body_limits_and_content_type(browser: Browser, form_path: str) -> None:
    status, html, _ = browser.post(form_path, raw=b"email=" + b"a" * 9000)
    assert status == 413 and "<html" in html
    status, html, _ = browser.post(form_path, raw=b"\xff\xfe=\xff")
    assert status == 400 and "<html" in html
    status, _, _ = browser.post(
        form_path, raw=b'{"email": "x@example.com"}', headers={"Content-Type": "application/json"}
    )
    assert status == 415
