"""Smoke test: a campaign through the real local stack — API, worker, emulated SES, outbox,
one-click unsubscribe, and a bounce notification published to the local SNS topic."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from tests.smoke.test_local_stack import HTTP_TIMEOUT, OPERATOR_KEY, Stack, stack, wait_for  # noqa: F401

pytestmark = pytest.mark.smoke


def _outbox(running: Stack) -> list[dict[str, Any]]:
    response = requests.get(f"{running.api}/dev/outbox", timeout=HTTP_TIMEOUT)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def _log(running: Stack) -> str:
    return "\n".join(line for line in running.output().splitlines() if "/dev/outbox" not in line)[-4000:]


def test_a_campaign_is_sent_unsubscribed_and_bounced_locally(stack: Stack) -> None:  # noqa: F811
    created = requests.post(
        f"{stack.api}/v1/accounts",
        json={"name": "Campaign Salon", "sender_email": "news@campaign-salon.example"},
        headers={"Authorization": f"Bearer {OPERATOR_KEY}"},
        timeout=HTTP_TIMEOUT,
    )
    assert created.status_code == 201, created.text
    account_id = created.json()["account_id"]
    auth = {"Authorization": f"Bearer {created.json()['api_key']}"}
    ids = []
    for name in ("ada", "bob"):
        posted = requests.post(
            f"{stack.api}/v1/clients",
            json={"email": f"{name}@campaign.example", "first_name": name.title(), "tags": ["smoke"]},
            headers=auth,
            timeout=HTTP_TIMEOUT,
        )
        assert posted.status_code == 201, posted.text
        ids.append(posted.json()["client_id"])
    campaign = requests.post(
        f"{stack.api}/v1/campaigns",
        json={
            "name": "Smoke",
            "subject": "Hi {{ first_name }}",
            "html": "<p>Hello {{ first_name }}</p>",
            "audience": {"tag": "smoke"},
        },
        headers=auth,
        timeout=HTTP_TIMEOUT,
    ).json()
    cid = campaign["campaign_id"]
    sent = requests.post(
        f"{stack.api}/v1/campaigns/{cid}/send",
        json={"acknowledge_non_consented": True},
        headers=auth,
        timeout=HTTP_TIMEOUT,
    )
    assert sent.status_code == 202, sent.text

    def ours() -> list[dict[str, Any]]:
        return [m for m in _outbox(stack) if any("campaign.example" in to for to in m["to"])]

    assert wait_for(lambda: len(ours()) == 2, 60), _log(stack)
    assert wait_for(
        lambda: (
            requests.get(f"{stack.api}/v1/campaigns/{cid}", headers=auth, timeout=HTTP_TIMEOUT).json()[
                "status"
            ]
            == "sent"
        ),
        30,
    )
    mail = next(m for m in ours() if "ada@" in m["to"][0])
    url = mail["headers"]["List-Unsubscribe"].strip("<>")
    assert url.startswith(f"{stack.api}/p/unsubscribe/")
    assert mail["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert [link["href"] for link in mail["links"] if link["cta"] == "unsubscribe"] == [url]
    one_click = requests.post(
        url,
        data=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=HTTP_TIMEOUT,
    )
    assert one_click.status_code == 200
    ada = requests.get(f"{stack.api}/v1/clients/{ids[0]}", headers=auth, timeout=HTTP_TIMEOUT).json()
    assert ada["suppressed"] is True and ada["consent"]["state"] == "denied"

    # A standard SES bounce notification published to the local topic is processed.
    sns = stack.aws("sns")
    topic = next(
        t["TopicArn"]
        for t in sns.list_topics()["Topics"]
        if t["TopicArn"].endswith(":permesso-local-ses-events")
    )
    notification = {
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": "Permanent",
            "bouncedRecipients": [{"emailAddress": "bob@campaign.example"}],
        },
        "mail": {
            "messageId": "x",
            "tags": {"account_id": [account_id], "campaign_id": [cid], "client_id": [ids[1]]},
        },
    }
    sns.publish(TopicArn=topic, Message=json.dumps(notification))

    def bob_suppressed() -> bool:
        bob = requests.get(f"{stack.api}/v1/clients/{ids[1]}", headers=auth, timeout=HTTP_TIMEOUT).json()
        return bool(bob["suppressed"])

    assert wait_for(bob_suppressed, 60), _log(stack)
    report = requests.get(f"{stack.api}/v1/campaigns/{cid}/report", headers=auth, timeout=HTTP_TIMEOUT).json()
    assert (report["recipients"], report["sent"], report["bounced"], report["unsubscribed"]) == (2, 2, 1, 1)
