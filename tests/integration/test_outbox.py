"""The local outbox: mail sent through the SES adapter to a real moto server, read back."""

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
from moto.server import ThreadedMotoServer

from chalicelib.bootstrap import get_deps
from chalicelib.mail.mime import OutgoingMail
from chalicelib.mail.outbox import read_outbox
from chalicelib.mail.ses import MailAccountProblem, SesMailer


@pytest.fixture(scope="module")
def emulator() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
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
    [found] = [m for m in read_outbox(emulator) if m.message_id == message_id]
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
    assert item["links"][0]["cta"] == "confirm" and body["count"] == len(body["items"])
    page = dev_app.http.get("/dev/outbox", headers={"Accept": "text/html"})
    assert page.status_code == 200 and b'href="https://permesso.test/p/confirm/abc"' in page.body
    one = dev_app.http.get(f"/dev/outbox/{item['message_id']}")
    assert one.status_code == 200 and b'data-cta="confirm"' in one.body
    assert dev_app.http.get("/dev/outbox/nope").status_code == 404


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
