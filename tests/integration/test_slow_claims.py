"""Slow storage delays a batch, never starves it: a worker whose claims take longer than the
lead it booked its slots with books further ahead next time (seen on a loaded machine, where
a campaign's last recipient was re-queued as late forever)."""

from __future__ import annotations

from typing import Any

from chalicelib.bootstrap import get_deps
from tests.integration.conftest import Http, verify_sender
from tests.integration.sending_support import drain, recipients_of_sent, simulated
from tests.integration.test_campaigns import add_clients, new_campaign


def test_claims_slower_than_the_slot_lead_still_send(api: Any, http: Http, monkeypatch: Any) -> None:
    verify_sender("hello@salon.example")
    add_clients(http, 3)
    deps = get_deps()
    with simulated() as (time, queue):
        real_move = deps.deliveries.move

        def slow_move(delivery: Any, to: Any, now: Any, **kw: Any) -> bool:
            if to.value == "sending":
                time.advance(seconds=0.4)  # every claim takes 0.4 s: four times the default lead
            return bool(real_move(delivery, to, now, **kw))

        monkeypatch.setattr(deps.deliveries, "move", slow_move)
        campaign = new_campaign(http, None)
        path = f"/v1/campaigns/{campaign['campaign_id']}"
        assert http.post(f"{path}/send", {"acknowledge_non_consented": True})[0] == 202
        drain(http.client, queue, max_messages=200)
        monkeypatch.setattr(deps.deliveries, "move", real_move)
        assert http.get(path)[1]["status"] == "sent"
    assert sorted(recipients_of_sent()) == [f"c{i}@example.com" for i in range(3)]
