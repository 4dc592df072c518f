"""The benchmark's DynamoDB meter counts what AWS bills (bench/meter.py, bench/capacity.py)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from bench.capacity import (
    IndexSchema,
    TableSchema,
    index_writes,
    item_size,
    read_units,
    touches_index,
    write_units,
)
from bench.meter import Meter, evaluated_request, expression_names, reported_units

DELIVERIES = TableSchema(
    "deliveries",
    ("campaign_id", "client_id"),
    (IndexSchema("by-client", ("client_id", "campaign_id"), "KEYS_ONLY"),),
)
CLIENTS = TableSchema(
    "clients",
    ("account_id", "client_id"),
    (
        IndexSchema("by-status", ("status_shard", "next_status_at"), "INCLUDE", ("auto_status",)),
        IndexSchema("by-auto", ("account_auto_status", "client_id"), "KEYS_ONLY"),
    ),
)


def s(text: str) -> dict[str, str]:
    return {"S": text}


class FakeDynamo:
    """Stands in for PynamoDB's ``Connection._make_api_call``: canned answers, every request kept."""

    def __init__(self, answers: dict[str, Any], items: dict[str, Any] | None = None) -> None:
        self.answers = answers
        self.items = items or {}
        self.requests: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, connection: Any, op: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        self.requests.append((op, kwargs))
        if op == "GetItem" and op not in self.answers:
            return {"Item": self.items.get(kwargs["Key"]["client_id"]["S"])} if kwargs["Key"] else {}
        answer = self.answers[op]
        if isinstance(answer, Exception):
            raise answer
        return answer(kwargs) if callable(answer) else dict(answer)


# ------------------------------------------------------------------ the billing rules


def test_item_size_counts_names_and_values() -> None:
    assert item_size({"a": s("bc")}) == 3
    assert item_size({"name": s("é")}) == 4 + 2  # UTF-8 bytes
    assert item_size({"n": {"N": "12345"}}) == 1 + 4  # 5 significant digits: 3 bytes + 1
    assert item_size({"f": {"BOOL": True}, "z": {"NULL": True}}) == 2 + 2
    assert item_size({"l": {"L": [s("ab"), s("c")]}}) == 1 + 3 + (1 + 2) + (1 + 1)
    assert item_size({"m": {"M": {"k": s("v")}}}) == 1 + 3 + (1 + 1 + 1)
    assert item_size(None) == 0


def test_read_units_round_up_to_4_kb_and_halve_for_eventual_reads() -> None:
    assert read_units(4096, consistent=True) == 1
    assert read_units(4097, consistent=True) == 2
    assert read_units(4097, consistent=False) == 1
    assert read_units(0, consistent=False) == 0.5  # reading nothing still costs the minimum


def test_write_units_round_up_to_1_kb() -> None:
    assert write_units(1) == 1
    assert write_units(1024) == 1
    assert write_units(1025) == 2
    assert write_units(20_000) == 20


def test_index_writes_follow_the_index_entry() -> None:
    delivery = {"campaign_id": s("c1"), "client_id": s("k1"), "status": s("queued")}
    # A new delivery enters the by-client index: one write.
    assert index_writes(DELIVERIES, None, delivery) == {"by-client": 1}
    # A status change does not touch a keys-only index.
    assert index_writes(DELIVERIES, delivery, {**delivery, "status": s("sent")}) == {}
    # A deleted item leaves it.
    assert index_writes(DELIVERIES, delivery, None) == {"by-client": 1}
    client = {"account_id": s("a"), "client_id": s("k"), "status_shard": s("3"), "next_status_at": s("t1")}
    # An index key changed: the old entry deleted, a new one put.
    moved = {**client, "next_status_at": s("t2")}
    assert index_writes(CLIENTS, client, moved) == {"by-status": 2}
    # A projected attribute changed: one write; a sparse index entered: one write.
    changed = {**client, "auto_status": s("lost"), "account_auto_status": s("a#lost")}
    assert index_writes(CLIENTS, client, changed) == {"by-status": 1, "by-auto": 1}


def test_only_writes_naming_an_indexed_attribute_need_the_old_image() -> None:
    assert not touches_index(DELIVERIES, {"status", "sent_at"})
    assert touches_index(CLIENTS, {"auto_status"})
    assert touches_index(CLIENTS, {"next_status_at"})


# ------------------------------------------------------------------ reported capacity


def test_a_call_with_known_consumed_capacity_is_counted_exactly() -> None:
    fake = FakeDynamo(
        {
            "UpdateItem": {
                "Attributes": {"campaign_id": s("c1")},
                "ConsumedCapacity": {
                    "TableName": "deliveries",
                    "CapacityUnits": 3.0,
                    "Table": {"CapacityUnits": 2.0},
                    "GlobalSecondaryIndexes": {"by-client": {"CapacityUnits": 1.0}},
                },
            },
            "Query": {
                "Count": 2,
                "ScannedCount": 2,
                "Items": [],
                "ConsumedCapacity": {"TableName": "deliveries", "CapacityUnits": 12.5},
            },
        }
    )
    meter = Meter({"deliveries": DELIVERIES}, trust_reported=True)
    meter.call(
        fake, None, "UpdateItem", {"TableName": "deliveries", "Key": {}, "UpdateExpression": "SET #s = :s"}
    )
    meter.call(fake, None, "Query", {"TableName": "deliveries"})
    counted = meter.snapshot()
    assert counted["wru"] == 3.0
    assert counted["index_wru"] == 1.0
    assert counted["rru"] == 12.5
    assert counted["wru_reported"] == 3.0 and counted["rru_reported"] == 12.5
    assert counted["inv|UpdateItem|deliveries/by-client|units"] == 1.0


def test_capacity_is_asked_for_on_every_call_and_the_answer_stays_the_callers() -> None:
    fake = FakeDynamo(
        {
            "PutItem": {"Attributes": {"old": s("x")}, "ConsumedCapacity": {"CapacityUnits": 1.0}},
            "GetItem": {"Item": {"a": s("b")}, "ConsumedCapacity": {"CapacityUnits": 0.5}},
            "DescribeTable": {"Table": {}},
        }
    )
    meter = Meter(trust_reported=True)
    put = meter.call(fake, None, "PutItem", {"TableName": "t", "Item": {"a": s("b")}})
    got = meter.call(fake, None, "GetItem", {"TableName": "t", "Key": {}, "ReturnConsumedCapacity": "TOTAL"})
    assert [r[1]["ReturnConsumedCapacity"] for r in fake.requests] == ["INDEXES", "INDEXES"]
    assert put == {}  # neither the old image the meter asked for nor the capacity
    assert got["ConsumedCapacity"] == {"CapacityUnits": 0.5}  # the caller asked for it
    meter.call(fake, None, "DescribeTable", {"TableName": "t"})  # not a data call: passed as it is
    assert fake.requests[-1] == ("DescribeTable", {"TableName": "t"})


def test_reported_units_of_one_answer_or_a_list() -> None:
    assert reported_units({"CapacityUnits": 2.0}) == (2.0, {})
    assert reported_units([{"CapacityUnits": 1.0}, {"ReadCapacityUnits": 0.5}]) == (1.5, {})
    assert reported_units(None) == (0.0, {})


# ------------------------------------------------------------------ scanned, not returned


def test_a_query_that_scans_100_and_returns_10_counts_100_read_items() -> None:
    evaluated = [
        {"campaign_id": s("c1"), "client_id": s(f"k{i:03}"), "status": s("sent")} for i in range(100)
    ]
    fake = FakeDynamo(
        {
            "Query": lambda kwargs: (
                {"Count": 10, "ScannedCount": 100, "Items": evaluated[:10]}
                if "FilterExpression" in kwargs
                else {"Count": 100, "ScannedCount": 100, "Items": evaluated}
            )
        }
    )
    meter = Meter({"deliveries": DELIVERIES}, trust_reported=False)
    meter.call(
        fake,
        None,
        "Query",
        {
            "TableName": "deliveries",
            "KeyConditionExpression": "#0 = :0",
            "FilterExpression": "#1 = :1",
            "ExpressionAttributeNames": {"#0": "campaign_id", "#1": "status"},
            "ExpressionAttributeValues": {":0": s("c1"), ":1": s("queued")},
        },
    )
    counted = meter.snapshot()
    assert counted["items_read"] == 100
    assert counted["query_items_scanned"] == 100
    assert counted["query_items_returned"] == 10
    # Billed over the 100 items evaluated (their full size), not the 10 returned.
    size = sum(item_size(i) for i in evaluated)
    assert counted["rru"] == read_units(size, consistent=False)
    reread = fake.requests[-1][1]
    assert "FilterExpression" not in reread and reread["Limit"] == 100


def test_the_reread_of_a_filtered_page_keeps_only_the_key_condition() -> None:
    request = {
        "TableName": "t",
        "IndexName": "i",
        "KeyConditionExpression": "#0 = :0",
        "FilterExpression": "#1 = :1",
        "ProjectionExpression": "#2",
        "ExpressionAttributeNames": {"#0": "a", "#1": "b", "#2": "c"},
        "ExpressionAttributeValues": {":0": s("x"), ":1": s("y")},
        "ExclusiveStartKey": {"a": s("x")},
        "Limit": 50,
    }
    assert evaluated_request(request, 37) == {
        "TableName": "t",
        "IndexName": "i",
        "KeyConditionExpression": "#0 = :0",
        "ExpressionAttributeNames": {"#0": "a"},
        "ExpressionAttributeValues": {":0": s("x")},
        "ExclusiveStartKey": {"a": s("x")},
        "Limit": 37,
    }


def test_expression_names_resolve_placeholders() -> None:
    assert expression_names(
        "SET #0 = :0, #1 = if_not_exists(#1, :1) REMOVE sent_at", {"#0": "a", "#1": "b"}
    ) == {
        "a",
        "b",
        "sent_at",
    }


# ------------------------------------------------------------------ computed writes


def test_a_put_is_billed_by_size_with_its_index_write() -> None:
    body = "x" * 20_000  # a 20 KB campaign body
    item = {"campaign_id": s("c1"), "client_id": s("k1"), "html": s(body)}
    fake = FakeDynamo({"PutItem": {"ConsumedCapacity": {"CapacityUnits": 1.0}}})  # moto's constant
    meter = Meter({"deliveries": DELIVERIES}, trust_reported=False)
    meter.call(fake, None, "PutItem", {"TableName": "deliveries", "Item": item})
    counted = meter.snapshot()
    assert counted["wru"] == write_units(item_size(item)) == 20
    assert counted["wru_reported"] == 1.0
    assert counted["index_wru"] == 1
    assert counted["index_items_written"] == 1
    assert counted["items_written"] == 1


def test_an_update_of_a_keys_only_indexed_item_writes_no_index_entry() -> None:
    new = {"campaign_id": s("c1"), "client_id": s("k1"), "status": s("sent")}
    fake = FakeDynamo({"UpdateItem": {"Attributes": new}})
    meter = Meter({"deliveries": DELIVERIES}, trust_reported=False)
    answer = meter.call(
        fake,
        None,
        "UpdateItem",
        {
            "TableName": "deliveries",
            "Key": {"campaign_id": s("c1"), "client_id": s("k1")},
            "UpdateExpression": "SET #0 = :0",
            "ExpressionAttributeNames": {"#0": "status"},
        },
    )
    counted = meter.snapshot()
    assert counted["wru"] == 1 and counted.get("index_wru", 0) == 0
    assert answer == {}  # the caller asked for no image
    assert [op for op, _ in fake.requests] == ["UpdateItem"]  # no read of the old image needed


def test_a_failed_condition_bills_the_existing_item() -> None:
    existing = {"campaign_id": s("c1"), "client_id": s("k1"), "html": s("y" * 3000)}
    refused = ClientError({"Error": {"Code": "ConditionalCheckFailedException"}}, "PutItem")
    fake = FakeDynamo({"PutItem": refused}, items={"k1": existing})
    meter = Meter({"deliveries": DELIVERIES}, trust_reported=False)
    with pytest.raises(ClientError):
        meter.call(
            fake,
            None,
            "PutItem",
            {"TableName": "deliveries", "Item": {"campaign_id": s("c1"), "client_id": s("k1")}},
        )
    counted = meter.snapshot()
    assert counted["failed:PutItem"] == 1
    assert counted["wru"] == 3


def test_transactions_bill_every_unit_twice() -> None:
    fake = FakeDynamo({"TransactWriteItems": {}}, items={})
    meter = Meter({"deliveries": DELIVERIES}, trust_reported=False)
    meter.call(
        fake,
        None,
        "TransactWriteItems",
        {
            "TransactItems": [
                {"Put": {"TableName": "marks", "Item": {"k": s("m")}}},
                {
                    "ConditionCheck": {
                        "TableName": "deliveries",
                        "Key": {"campaign_id": s("c"), "client_id": s("k")},
                    }
                },
            ]
        },
    )
    assert meter.snapshot()["wru"] == 4.0
