"""Fault injection: SES refusing the whole account or sender pauses the campaign with a reason,
fails nobody, keeps everyone queued, and a resume after the fix sends each recipient once.
Refusals about one recipient stay that recipient's. The faults are SES error answers given
to the real SES adapter (its classification included), in front of moto's SES."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError

from chalicelib.bootstrap import get_deps
from chalicelib.storage.models import DeliveryModel
from tests.integration.conftest import Http
from tests.integration.sending_support import SimQueue, SimTime, drain, recipients_of_sent, simulated
from tests.integration.test_campaigns import add_clients, new_campaign

RUN_FIRST = 35  # its seconds in a parallel run, busy machine: the order (tests/conftest.py)


class FaultySes:
    """The SES client of the adapter, answering ``SendEmail`` with an error until ``fixed``."""

    def __init__(self, real: Any, code: str, message: str, status: int = 400) -> None:
        self.real, self.code, self.message, self.status = real, code, message, status
        self.fixed = False
        self.refused = 0

    def send_email(self, **kwargs: Any) -> Any:
        if not self.fixed:
            self.refused += 1
            raise ClientError(
                {
                    "Error": {"Code": self.code, "Message": self.message},
                    "ResponseMetadata": {"HTTPStatusCode": self.status},
                },
                "SendEmail",
            )
        return self.real.send_email(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


@pytest.fixture
def sim(api: Any, account: dict[str, Any]) -> Iterator[tuple[SimTime, SimQueue]]:
    with simulated() as pair:
        yield pair


def inject(code: str, message: str, status: int = 400) -> FaultySes:
    mailer = get_deps().mailer
    real = mailer._client  # the adapter's SendEmail client (moto)
    faulty = FaultySes(real, code, message, status)
    mailer._clients["ses_send"] = faulty
    return faulty


@pytest.fixture(autouse=True)
def restore_client() -> Iterator[None]:
    yield
    get_deps().mailer._clients.pop("ses_send", None)


def statuses(campaign_id: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in DeliveryModel.query(campaign_id):
        counts[item.status] = counts.get(item.status, 0) + 1
    return counts


def send(http: Http) -> str:
    campaign = new_campaign(http)
    status, body = http.post(
        f"/v1/campaigns/{campaign['campaign_id']}/send", {"acknowledge_non_consented": True}
    )
    assert status == 202, body
    return str(campaign["campaign_id"])


ACCOUNT_LEVEL = [
    ("AccountSendingPausedException", "Sending is paused for this account.", "ses_account_paused"),
    ("AccountSuspendedException", "The account's ability to send email is suspended.", "ses_account_paused"),
    ("SendingPausedException", "Sending is paused for this configuration set.", "ses_sending_paused"),
    ("MailFromDomainNotVerifiedException", "The MAIL FROM domain is not verified.", "mail_from_not_verified"),
    (
        "ConfigurationSetDoesNotExistException",
        "Configuration set does not exist.",
        "configuration_set_missing",
    ),
    (
        "NotFoundException",
        "Configuration set permesso-test-events does not exist.",
        "configuration_set_missing",
    ),
    (
        "MessageRejected",
        "Email address is not verified. The following identities failed the check.",
        "sender_not_verified",
    ),
]


@pytest.mark.parametrize(("code", "message", "reason"), ACCOUNT_LEVEL)
def test_an_account_level_refusal_pauses_the_campaign_and_resume_sends_each_once(
    http: Http, sim: Any, code: str, message: str, reason: str
) -> None:
    _, queue = sim
    n = 30
    add_clients(http, n)
    faulty = inject(code, message)
    campaign_id = send(http)
    drain(http.client, queue)
    assert faulty.refused >= 1
    campaign = http.get(f"/v1/campaigns/{campaign_id}")[1]
    assert campaign["status"] == "paused" and campaign["paused_reason"] == reason
    assert statuses(campaign_id) == {"queued": n}  # nobody failed, nobody sent, nobody stuck
    report = http.get(f"/v1/campaigns/{campaign_id}/report")[1]
    assert report["failed"] == 0 and report["sent"] == 0 and report["paused_reason"] == reason
    assert recipients_of_sent() == {}
    faulty.fixed = True  # the operator fixes SES
    status, body = http.post(f"/v1/campaigns/{campaign_id}/resume")
    assert status == 200 and body["status"] == "sending", body
    drain(http.client, queue)
    per_address = recipients_of_sent()
    assert sorted(per_address) == sorted(f"c{i}@example.com" for i in range(n))
    assert set(per_address.values()) == {1}
    assert statuses(campaign_id) == {"sent": n}
    assert http.get(f"/v1/campaigns/{campaign_id}")[1]["status"] == "sent"


def test_an_unverified_sender_in_ses_itself_pauses_the_campaign(
    http: Http, account: dict[str, Any], sim: Any
) -> None:
    """No injected answer: the identity is removed from SES (moto then refuses the sender)."""
    _, queue = sim
    add_clients(http, 5)
    mailer = get_deps().mailer
    mailer._manage.delete_email_identity(EmailIdentity="salon.example")
    campaign_id = send(http)
    drain(http.client, queue)
    campaign = http.get(f"/v1/campaigns/{campaign_id}")[1]
    assert campaign["status"] == "paused" and campaign["paused_reason"] == "sender_not_verified"
    assert statuses(campaign_id) == {"queued": 5}
    mailer.create_domain_identity("salon.example")
    assert http.post(f"/v1/campaigns/{campaign_id}/resume")[0] == 200
    drain(http.client, queue)
    assert statuses(campaign_id) == {"sent": 5} and set(recipients_of_sent().values()) == {1}


def test_a_recipient_level_refusal_fails_only_that_recipient(http: Http, sim: Any) -> None:
    _, queue = sim
    add_clients(http, 10)
    mailer = get_deps().mailer
    real = mailer._client

    class OneBadAddress:
        def send_email(self, **kwargs: Any) -> Any:
            if kwargs["Destination"]["ToAddresses"] == ["c3@example.com"]:
                raise ClientError(
                    {"Error": {"Code": "MessageRejected", "Message": "Address blacklisted."}}, "SendEmail"
                )
            return real.send_email(**kwargs)

    mailer._clients["ses_send"] = OneBadAddress()
    campaign_id = send(http)
    drain(http.client, queue)
    assert statuses(campaign_id) == {"sent": 9, "failed": 1}
    assert http.get(f"/v1/campaigns/{campaign_id}")[1]["status"] == "sent"


def test_a_lost_ses_answer_is_never_sent_again(http: Http, account: dict[str, Any], sim: Any) -> None:
    """A read timeout on SendEmail: SES may have sent it. The delivery stays ``sending`` until
    SES's Send event or ``send_unconfirmed_after_seconds``; it is never sent a second time."""
    _, queue = sim
    (client_id,) = add_clients(http, 1)
    mailer = get_deps().mailer
    real = mailer._client
    calls: list[str] = []

    class SentButAnswerLost:
        def send_email(self, **kwargs: Any) -> Any:
            calls.append(kwargs["Destination"]["ToAddresses"][0])
            real.send_email(**kwargs)  # SES accepted it…
            raise ReadTimeoutError(
                endpoint_url="https://email.eu-central-1.amazonaws.com"
            )  # …the answer is lost

    mailer._clients["ses_send"] = SentButAnswerLost()
    campaign_id = send(http)
    drain(http.client, queue)
    assert calls == ["c0@example.com"]  # one call: neither the SDK nor the worker retried it
    (delivery,) = list(DeliveryModel.query(campaign_id))
    assert delivery.status == "failed" and delivery.reason == "unconfirmed"  # no Send event came
    assert recipients_of_sent() == {"c0@example.com": 1}
    assert http.get(f"/v1/campaigns/{campaign_id}")[1]["status"] == "sent"
    assert client_id == delivery.client_id
