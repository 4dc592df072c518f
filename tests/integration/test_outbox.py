"""The local outbox: mail sent through the SES adapter to the local stack's emulator server,
read back a page at a time, searched, and shown with its headers and both parts, its HTML
only in a sandbox."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from chalice import Chalice
from chalice.test import Client

from chalicelib.bootstrap import get_deps
from chalicelib.mail.mime import OutgoingMail
from chalicelib.mail.outbox import read_outbox
from chalicelib.mail.ses import MailAccountProblem, SesMailer
from local.emulator import EmulatorServer


@pytest.fixture(scope="module")
def emulator() -> Iterator[str]:
    server = EmulatorServer(port=0)  # the local stack's emulator: moto, its patches, the outbox feed
    server.start()
    yield server.url
    server.stop()


def mail(to: str) -> OutgoingMail:
    return OutgoingMail(
        sender_email="hello@outbox.example",
        sender_name="Outbox Test",
        to=to,
        subject="Potvrďte prosím",
        text="Confirm: https://permesso.test/p/confirm/abc",
        html='<p>Hi</p><a href="https://permesso.test/p/confirm/abc" data-cta="confirm">Confirm</a>',
        language="cs",
    )


def test_sent_mail_appears_in_the_outbox_with_its_links(emulator: str) -> None:
    boto3.client("sesv2", region_name="eu-central-1", endpoint_url=emulator).create_email_identity(
        EmailIdentity="hello@outbox.example"
    )
    mailer = SesMailer(get_deps().settings, endpoint_url=emulator)
    message_id = mailer.send(mail("outbox-reader@example.com"), now=datetime.now(UTC), tags={"kind": "test"})
    [found] = [m for m in read_outbox(emulator).mails if m.message_id == message_id]
    assert found.to == ["outbox-reader@example.com"] and found.subject == "Potvrďte prosím"
    assert [(link.href, link.cta) for link in found.links] == [
        ("https://permesso.test/p/confirm/abc", "confirm")
    ]


def test_unverified_sender_is_rejected(emulator: str) -> None:
    mailer = SesMailer(get_deps().settings, endpoint_url=emulator)
    with pytest.raises(MailAccountProblem) as caught:
        mailer.send(
            replace(mail("x@example.com"), sender_email="nobody@unverified.example"), now=datetime.now(UTC)
        )
    # Not about the recipient: every message of this sender would be refused.
    assert caught.value.code == "MessageRejected" and caught.value.reason == "sender_not_verified"


@pytest.fixture
def dev_app(emulator: str) -> Iterator[Client]:
    """The dev routes as the local stage registers them, pointed at the test emulator."""
    from chalicelib.api import dev

    deps = get_deps()
    original = deps.settings
    deps.settings = original.model_copy(update={"stage": "local", "aws_endpoint_url": emulator})
    app = Chalice(app_name="permesso-dev-test")
    app.register_blueprint(dev.api)
    try:
        with Client(app) as client:
            yield client
    finally:
        deps.settings = original


def test_dev_outbox_lists_mail_as_json_and_html(emulator: str, dev_app: Any) -> None:
    boto3.client("sesv2", region_name="eu-central-1", endpoint_url=emulator).create_email_identity(
        EmailIdentity="hello@outbox.example"
    )
    SesMailer(get_deps().settings, endpoint_url=emulator).send(
        mail("dev-route@example.com"), now=datetime.now(UTC)
    )
    response = dev_app.http.get("/dev/outbox")
    assert response.status_code == 200
    body = json.loads(response.body)
    [item] = [i for i in body["items"] if i["to"] == ["dev-route@example.com"]]
    assert item["links"][0]["cta"] == "confirm" and body["count"] == len(body["items"]) <= body["total"]
    page = dev_app.http.get("/dev/outbox", headers={"Accept": "text/html"})
    assert page.status_code == 200 and f'href="/dev/outbox/{item["message_id"]}"'.encode() in page.body
    assert "script-src" not in page.headers["Content-Security-Policy"]
    one = json.loads(dev_app.http.get(f"/dev/outbox/{item['message_id']}").body)
    assert one["subject"] == "Potvrďte prosím" and 'data-cta="confirm"' in one["html"] and one["text"]
    assert dev_app.http.get("/dev/outbox/nope").status_code == 404


def test_an_opened_e_mail_shows_its_headers_both_parts_and_its_html_only_in_a_sandbox(
    emulator: str, dev_app: Any
) -> None:
    from chalicelib.mail.outbox import html_links

    boto3.client("sesv2", region_name="eu-central-1", endpoint_url=emulator).create_email_identity(
        EmailIdentity="hello@outbox.example"
    )
    hostile = replace(
        mail("sandbox@example.com"),
        html='<p>Hi</p><script>fetch("/dev/outbox")</script><a href="https://permesso.test/p/confirm/abc" data-cta="confirm">Confirm</a>',
        list_unsubscribe_url="https://permesso.test/p/unsubscribe/tok",
    )
    message_id = SesMailer(get_deps().settings, endpoint_url=emulator).send(hostile, now=datetime.now(UTC))

    page = dev_app.http.get(f"/dev/outbox/{message_id}", headers={"Accept": "text/html"})
    assert page.status_code == 200
    text = page.body.decode()
    for header in ("From", "To", "Subject", "List-Unsubscribe"):
        assert f'<th scope="row">{header}</th>' in text, header
    assert "Outbox Test" in text and "sandbox@example.com" in text and "Potvrďte prosím" in text
    assert "&lt;https://permesso.test/p/unsubscribe/tok&gt;" in text  # the List-Unsubscribe value
    assert "Confirm: https://permesso.test/p/confirm/abc" in text  # the text part
    assert "<script" not in text  # the HTML part is not in the page
    [frame] = [tag for tag in text.split("<iframe")[1:]]
    assert frame.startswith(" sandbox src=") and "allow-scripts" not in frame
    assert f'src="/dev/outbox/{message_id}/html"' in frame
    assert "https://permesso.test/p/confirm/abc" in [link.href for link in html_links(text)]
    policy = page.headers["Content-Security-Policy"]
    assert "script-src" not in policy and "default-src 'none'" in policy and "frame-src 'self'" in policy

    part = dev_app.http.get(f"/dev/outbox/{message_id}/html")
    assert part.status_code == 200 and b"<script>" in part.body  # the tenant's HTML, as sent ...
    policy = part.headers["Content-Security-Policy"]
    assert policy.startswith("sandbox;") and "default-src 'none'" in policy  # ... in a sandbox
    assert "allow-scripts" not in policy and "script-src" not in policy
    assert part.headers["X-Content-Type-Options"] == "nosniff"


def test_the_outbox_pages_newest_first_and_searches_recipients_and_subjects(
    emulator: str, dev_app: Any
) -> None:
    boto3.client("sesv2", region_name="eu-central-1", endpoint_url=emulator).create_email_identity(
        EmailIdentity="hello@outbox.example"
    )
    mailer = SesMailer(get_deps().settings, endpoint_url=emulator)
    sent = [
        mailer.send(replace(mail(f"pager{i}@paging.example"), subject=f"Paging {i}"), now=datetime.now(UTC))
        for i in range(7)
    ]
    seen: list[str] = []
    cursor = None
    while True:
        query = "/dev/outbox?q=paging.example&limit=3" + (f"&cursor={cursor}" if cursor else "")
        body = json.loads(dev_app.http.get(query).body)
        seen += [item["message_id"] for item in body["items"]]
        assert body["count"] <= 3
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == sent[::-1]  # newest first, every one once
    by_subject = json.loads(dev_app.http.get("/dev/outbox?q=PAGING%204").body)["items"]
    assert [item["message_id"] for item in by_subject] == [sent[4]]
    assert json.loads(dev_app.http.get("/dev/outbox?q=nobody-at-all").body)["items"] == []
    html = dev_app.http.get("/dev/outbox?q=paging&limit=3&format=html").body.decode()
    assert html.count("paging.example</td>") == 3 and 'rel="next"' in html
    for bad in ("limit=0", "limit=x", "limit=201", "cursor=abc"):
        response = dev_app.http.get(f"/dev/outbox?{bad}")
        assert response.status_code == 400 and json.loads(response.body)["error"]["code"] == "invalid_query"


def test_the_outbox_stays_fast_with_ten_thousand_e_mails(emulator: str, dev_app: Any) -> None:
    """A page and a search with 10,000 e-mails, against the same with 100 (one run, a ratio)."""
    import time

    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import RawMessage, ses_backends

    from chalicelib.mail.mime import build_mime

    backend = ses_backends[DEFAULT_ACCOUNT_ID]["eu-central-1"]
    raw = build_mime(mail("bulk@volume.example"), datetime.now(UTC)).decode()

    def timed(path: str) -> float:
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            response = dev_app.http.get(path, headers={"Accept": "text/html"})
            best = min(best, time.perf_counter() - started)
            assert response.status_code == 200
        return best

    saved = list(backend.sent_messages)
    try:
        backend.sent_messages[:] = [
            RawMessage(f"bulk-{i}", "a@b.c", ["bulk@volume.example"], raw) for i in range(100)
        ]
        small = timed("/dev/outbox"), timed("/dev/outbox?q=volume.example")
        backend.sent_messages[:] = [
            RawMessage(f"bulk-{i}", "a@b.c", ["bulk@volume.example"], raw) for i in range(10_000)
        ]
        timed("/dev/outbox?q=nothing-matches")  # the first search reads every e-mail's headers once
        large = timed("/dev/outbox"), timed("/dev/outbox?q=volume.example")
    finally:
        backend.sent_messages[:] = saved
    assert large[0] < 3 * small[0] + 0.05, (small, large)
    assert large[1] < 3 * small[1] + 0.05, (small, large)


def test_dev_outbox_reports_an_unreachable_emulator(dev_app: Any) -> None:
    deps = get_deps()
    deps.settings = deps.settings.model_copy(update={"aws_endpoint_url": "http://127.0.0.1:9"})
    response = dev_app.http.get("/dev/outbox")
    assert (
        response.status_code == 503 and json.loads(response.body)["error"]["code"] == "emulator_unavailable"
    )


def test_dev_routes_do_not_exist_outside_the_local_stage(api: Any) -> None:
    from app import app

    assert not any(path.startswith("/dev") for path in app.routes)
