"""The benchmark's meter around the real repositories and the emulator: what it counts is
what DynamoDB would bill, and the repositories behave as without it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from bench.meter import Meter, install, schemas_of
from chalicelib.domain.campaign_status import DeliveryStatus
from chalicelib.domain.campaigns import Delivery
from chalicelib.storage.campaigns import DeliveryRepository
from chalicelib.storage.models import ALL_MODELS


@pytest.fixture
def meter(aws: None) -> Iterator[Meter]:
    meter = Meter(schemas_of(ALL_MODELS), trust_reported=False)
    remove = install(meter)
    try:
        yield meter
    finally:
        remove()


def test_deliveries_are_billed_with_their_index_and_scanned_items(meter: Meter) -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    repo = DeliveryRepository()
    deliveries = [Delivery("cmp_1", f"cl_{i:03}", "acc_1", DeliveryStatus.QUEUED, batch=0) for i in range(30)]
    assert len(repo.put_new(deliveries)) == 30
    put = meter.snapshot()
    assert put["items_written"] == 30
    assert put["wru"] == 30  # small items: one unit each
    assert put["index_wru"] == 30  # and one write of the by-client index each

    meter.reset()
    for delivery in deliveries[:3]:
        assert repo.move(delivery, DeliveryStatus.SENDING, now)
    assert not repo.move(deliveries[0], DeliveryStatus.SENDING, now)  # lost the condition: still billed
    moved = meter.snapshot()
    assert moved["wru"] == 4 and moved.get("index_wru", 0) == 0  # a status is not in the keys-only index
    assert moved["failed:UpdateItem"] == 1

    meter.reset()
    waiting = list(repo.of_campaign("cmp_1", status=DeliveryStatus.SENDING))
    assert len(waiting) == 3  # the repository's answer is unchanged by the meter
    read = meter.snapshot()
    assert read["query_items_returned"] == 3
    assert read["items_read"] == read["query_items_scanned"] == 30
    assert read["rru_reported"] == 1.0  # the emulator's constant, whatever was read
    assert read["rru"] == 0.5  # 30 small items: under 4 KB, eventually consistent
