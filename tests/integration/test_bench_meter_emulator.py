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
from chalicelib.storage.models import ALL_MODELS, ListMemberModel


@pytest.fixture
def meter(aws: None) -> Iterator[Meter]:
    meter = Meter(schemas_of(ALL_MODELS), trust_reported=False)
    remove = install(meter)
    try:
        yield meter
    finally:
        remove()


def test_index_entries_are_billed_where_a_table_has_an_index(meter: Meter) -> None:
    for i in range(5):
        ListMemberModel("lst_1", f"cl_{i:03}", account_id="acc_1").save()
    put = meter.snapshot()
    assert put["items_written"] == 5 and put["wru"] == 5
    assert put["index_items_written"] == 5 and put["index_wru"] == 5  # one by-client entry each
    assert put["inv|PutItem|permesso-test-list-members/by-client|units"] == 5


def test_deliveries_are_billed_with_their_scanned_items(meter: Meter) -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    repo = DeliveryRepository()
    deliveries = [Delivery("cmp_1", f"cl_{i:03}", "acc_1", DeliveryStatus.QUEUED, batch=0) for i in range(30)]
    assert len(repo.put_new(deliveries)) == 30
    put = meter.snapshot()
    assert put["items_written"] == 30
    assert put["wru"] == 30  # small items: one unit each
    assert put.get("index_wru", 0) == 0  # the deliveries have no index: nothing more per e-mail

    meter.reset()
    for delivery in deliveries[:3]:
        assert repo.move(delivery, DeliveryStatus.SENDING, now)
    assert not repo.move(deliveries[0], DeliveryStatus.SENDING, now)  # lost the condition: still billed
    moved = meter.snapshot()
    assert moved["wru"] == 4 and moved.get("index_wru", 0) == 0
    assert moved["failed:UpdateItem"] == 1

    meter.reset()
    waiting = list(repo.of_campaign("cmp_1", status=DeliveryStatus.SENDING))
    assert len(waiting) == 3  # the repository's answer is unchanged by the meter
    read = meter.snapshot()
    assert read["query_items_returned"] == 3
    assert read["items_read"] == read["query_items_scanned"] == 30
    assert read["rru_reported"] == 1.0  # the emulator's constant, whatever was read
    assert read["rru"] == 0.5  # 30 small items: under 4 KB, eventually consistent
