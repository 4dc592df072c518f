"""Deliveries expire after the retention (DynamoDB TTL); the report outlives them, from the
campaign's counters (docs/data-model.md, Retention)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from chalicelib.bootstrap import get_deps
from chalicelib.storage.models import DeliveryModel
from tests.integration.conftest import Http, verify_sender
from tests.integration.sending_support import SimQueue, SimTime, drain, simulated
from tests.integration.test_campaigns import add_clients, new_campaign


@pytest.fixture
def sim(api: Any, account: dict[str, Any]) -> Iterator[tuple[SimTime, SimQueue]]:
    verify_sender("hello@salon.example")
    with simulated() as pair:
        yield pair


def test_deliveries_expire_and_the_report_stays(http: Http, sim: tuple[SimTime, SimQueue]) -> None:
    time, queue = sim
    add_clients(http, 6)
    campaign = new_campaign(http)
    campaign_id = campaign["campaign_id"]
    fanned_out_at = time.now
    status, body = http.post(f"/v1/campaigns/{campaign_id}/send", {"acknowledge_non_consented": True})
    assert status == 202, body
    drain(http.client, queue)
    status, before = http.get(f"/v1/campaigns/{campaign_id}/report")
    assert status == 200 and before["sent"] == 6 and before["recipients"] == 6
    retention = timedelta(days=get_deps().settings.delivery_retention_days)
    items = list(DeliveryModel.query(campaign_id))
    assert len(items) == 6
    for item in items:
        assert item.expires_at is not None
        assert abs(item.expires_at - (fanned_out_at + retention)) < timedelta(minutes=5)
    for item in items:  # what DynamoDB's TTL does after the retention (moto never expires items)
        item.delete()
    status, after = http.get(f"/v1/campaigns/{campaign_id}/report")
    assert status == 200
    assert after == before
