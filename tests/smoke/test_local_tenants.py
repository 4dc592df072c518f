"""Smoke test: three businesses send at once through the real local stack (API, worker,
emulated SES) and share its 50/s platform rate: no 2-second window of the outbox holds more
than the rate allows, and each business gets its e-mails out, once each."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

import pytest
import requests

from bench.local_stack import import_csv
from tests.smoke.test_local_stack import HTTP_TIMEOUT, OPERATOR_KEY, Stack, stack, wait_for  # noqa: F401

pytestmark = pytest.mark.smoke
RUN_FIRST = 50  # its seconds in a parallel run, busy machine: the order (tests/conftest.py)

TENANTS = 3
CLIENTS = 120
LOCAL_RATE = 50  # .chalice/config.json, stage local


def _tenant(running: Stack, n: int) -> dict[str, str]:
    created = requests.post(
        f"{running.api}/v1/accounts",
        json={"name": f"Tenant {n}", "sender_email": f"news@tenant{n}.example"},
        headers={"Authorization": f"Bearer {OPERATOR_KEY}"},
        timeout=HTTP_TIMEOUT,
    )
    assert created.status_code == 201, created.text
    auth = {"Authorization": f"Bearer {created.json()['api_key']}"}
    rows = "\n".join(f"c{i}@t{n}.example,Client {i},all" for i in range(CLIENTS))
    imported = import_csv(running.api, auth, f"email,first_name,tags\n{rows}\n".encode(), timeout=120)
    assert imported["created"] == CLIENTS, imported
    campaign = requests.post(
        f"{running.api}/v1/campaigns",
        json={
            "name": "Together",
            "subject": "Hi",
            "html": "<p>Hi {{ first_name }}</p>",
            "audience": {"tag": "all"},
        },
        headers=auth,
        timeout=HTTP_TIMEOUT,
    )
    assert campaign.status_code == 201, campaign.text
    return {"campaign_id": campaign.json()["campaign_id"], **auth}


def test_three_tenants_share_the_platform_rate(stack: Stack) -> None:  # noqa: F811
    tenants = [_tenant(stack, n) for n in range(TENANTS)]
    for tenant in tenants:  # all three start at once
        auth = {"Authorization": tenant["Authorization"]}
        sent = requests.post(
            f"{stack.api}/v1/campaigns/{tenant['campaign_id']}/send",
            json={"acknowledge_non_consented": True},
            headers=auth,
            timeout=HTTP_TIMEOUT,
        )
        assert sent.status_code == 202, sent.text

    def ours() -> list[dict[str, Any]]:
        """Every page of the outbox (it answers at most 200 e-mails a page, newest first)."""
        found: list[dict[str, Any]] = []
        cursor: str | None = ""
        while cursor is not None:
            params = {"limit": "200", **({"cursor": cursor} if cursor else {})}
            page = requests.get(f"{stack.api}/dev/outbox", params=params, timeout=HTTP_TIMEOUT).json()
            found += [m for m in page["items"] if m["to"][0].split("@")[1].startswith("t")]
            cursor = page.get("next_cursor")
        return found

    assert wait_for(lambda: len(ours()) >= TENANTS * CLIENTS, 300), stack.output()[-4000:]
    mails = ours()
    per_address = Counter(m["to"][0] for m in mails)
    assert len(per_address) == TENANTS * CLIENTS and set(per_address.values()) == {1}
    per_tenant = Counter(m["to"][0].split("@")[1] for m in mails)
    assert set(per_tenant.values()) == {CLIENTS}
    # The outbox's Date header has whole seconds: a 2-second bucket may hold at most 2 R.
    seconds = Counter(int(datetime.fromisoformat(m["date"]).timestamp()) for m in mails)
    busiest = max(seconds[s] + seconds.get(s + 1, 0) for s in seconds)
    assert busiest <= 2 * LOCAL_RATE, sorted(seconds.items())
