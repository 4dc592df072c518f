"""A message that cannot get send slots goes back on the queue before it reads its clients or
claims a delivery (the buckets are looked at first), and is sent once when its turn comes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.bootstrap import get_deps
from chalicelib.services.pacing import PLATFORM_BUCKET, capacity
from chalicelib.storage.models import DeliveryModel
from tests.integration.conftest import Http, verify_sender
from tests.integration.sending_support import SimQueue, SimTime, drain, recipients_of_sent, simulated
from tests.integration.test_campaigns import add_clients, new_campaign
from tests.integration.test_sending_reliability import raise_limits


@pytest.fixture
def sim(api: Any, account: dict[str, Any]) -> Iterator[tuple[SimTime, SimQueue]]:
    verify_sender("hello@salon.example")
    with simulated() as pair:
        yield pair


def test_a_message_without_slots_goes_back_unread_and_unclaimed(
    http: Http, account: dict[str, Any], sim: tuple[SimTime, SimQueue]
) -> None:
    time, queue = sim
    deps = get_deps()
    n = 30
    add_clients(http, n)
    raise_limits(http, account["account_id"])
    reads: list[int] = []
    claims: list[str] = []
    index, deliveries = deps.client_index, deps.deliveries
    real_get_many, real_move = index.get_many, deliveries.move

    def counting_get_many(account_id: str, client_ids: list[str]) -> Any:
        reads.append(len(client_ids))
        return real_get_many(account_id, client_ids)

    def counting_move(delivery: Any, to: Any, *args: Any, **kwargs: Any) -> bool:
        claims.append(to.value)
        return bool(real_move(delivery, to, *args, **kwargs))

    index.get_many = counting_get_many  # type: ignore[method-assign]
    deliveries.move = counting_move  # type: ignore[method-assign]
    try:
        campaign = new_campaign(http)
        status, body = http.post(
            f"/v1/campaigns/{campaign['campaign_id']}/send", {"acknowledge_non_consented": True}
        )
        assert status == 202, body
        drain(http.client, queue, stop=lambda: queue.sent["send"] > 0)  # the fan-out only
        # Other tenants hold the platform's next minute: far beyond what a worker waits for.
        now = time.now.timestamp()
        rate = capacity(deps)
        deps.throttle.reserve_rate(PLATFORM_BUCKET, int(60 * rate), rate, now, 1.0)
        entry = queue.pop()
        assert entry is not None and entry.queue == "send"
        from tests.integration.sending_support import deliver

        assert deliver(http.client, "send", entry.body)
        assert reads == []  # not one client read…
        assert claims == []  # …nor one delivery claimed and released
        assert len(queue) == 1  # back on the queue, with a delay until the platform has room
        back = queue.pop()
        assert back is not None and back.due.timestamp() >= now + 60 - deps.settings.send_max_wait_seconds - 1
        assert sorted(back.body["client_ids"]) == sorted(entry.body["client_ids"])
        assert {item.status for item in DeliveryModel.query(campaign["campaign_id"])} == {"queued"}
        queue.send("send", back.body)
        drain(http.client, queue)
    finally:
        del index.get_many
        del deliveries.move
    per_address = recipients_of_sent()
    assert len(per_address) == n and set(per_address.values()) == {1}
    assert sum(reads) == n  # each client read once, when its e-mail went out
