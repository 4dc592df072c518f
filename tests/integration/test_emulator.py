"""The emulator patches of ``local/emulator.py`` against moto's own behaviour.

Every transaction is run twice, on identical tables in two regions of one moto: once
through moto's own ``transact_write_items``, once through the item-level rollback. The
answers (success, or the error code, message and every cancellation reason — what
``chalicelib/storage/transactions.py`` reads) and the resulting tables (every item, the
table's internal layout, stream records) must be identical, for generated transactions
mixing puts, updates, deletes and condition checks that pass, fail, repeat a key or fail
validation. Then the costs: a transaction on a large table allocates in proportion to the
transaction, not the table, and the direct read responses parse to the same documents.
"""

from __future__ import annotations

import contextlib
import json
import threading
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models import DynamoDBBackend, dynamodb_backends

from local import emulator

PATCHED, ORIGINAL = "eu-central-1", "eu-west-1"
TABLES = {"h": ("pk", None), "hr": ("pk", "sk")}
KEYS = [("a", "1"), ("a", "2"), ("b", "1"), ("c", "2")]


@contextmanager
def moto_original() -> Iterator[None]:
    """moto's own transact_write_items (under the same write lock) for the duration."""
    patched = DynamoDBBackend.transact_write_items
    DynamoDBBackend.transact_write_items = emulator.locked(emulator.moto_transact_write_items())
    try:
        yield
    finally:
        DynamoDBBackend.transact_write_items = patched


def create_tables(client: Any, streams: bool) -> None:
    for name, (hash_key, range_key) in TABLES.items():
        schema = [{"AttributeName": hash_key, "KeyType": "HASH"}]
        attributes = [{"AttributeName": hash_key, "AttributeType": "S"}]
        if range_key:
            schema.append({"AttributeName": range_key, "KeyType": "RANGE"})
            attributes.append({"AttributeName": range_key, "AttributeType": "S"})
        extra = {"StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}}
        client.create_table(
            TableName=name,
            KeySchema=schema,
            AttributeDefinitions=attributes,
            BillingMode="PAY_PER_REQUEST",
            **(extra if streams else {}),
        )


@pytest.fixture(scope="module")
def clients() -> Iterator[dict[str, Any]]:
    emulator.install()
    with mock_aws():
        made = {region: boto3.client("dynamodb", region_name=region) for region in (PATCHED, ORIGINAL)}
        for client in made.values():
            create_tables(client, streams=True)
        yield made


def key_of(table: str, pair: tuple[str, str]) -> dict[str, Any]:
    key = {"pk": {"S": pair[0]}}
    if TABLES[table][1]:
        key["sk"] = {"S": pair[1]}
    return key


def state(region: str) -> dict[str, Any]:
    """Every item of every table, the tables' internal layout and their stream records."""
    backend = dynamodb_backends[DEFAULT_ACCOUNT_ID][region]
    out: dict[str, Any] = {}
    for name in TABLES:
        table = backend.get_table(name)
        out[name] = {
            "items": sorted(repr(item.to_json()) for item in table.all_items()),
            "buckets": sorted(str(h) for h in table.items),
            "stream": [_stream_record(r.record) for r in table.stream_shard.items],
        }
    return out


def _stream_record(record: dict[str, Any]) -> tuple[str, str]:
    """A stream record without its random id, its clock time and its size (which counts the time)."""
    image = {
        k: v for k, v in record["dynamodb"].items() if k not in ("ApproximateCreationDateTime", "SizeBytes")
    }
    return record["eventName"], repr(image)


def reset(region: str, initial: list[tuple[str, tuple[str, str], int]]) -> None:
    backend = dynamodb_backends[DEFAULT_ACCOUNT_ID][region]
    for name in TABLES:
        table = backend.get_table(name)
        table.items.clear()
        table.stream_shard.items.clear()
        for table_name, pair, value in initial:
            if table_name == name:
                table.put_item({**key_of(name, pair), "v": {"N": str(value)}, "n": {"N": "1"}})
        table.stream_shard.items.clear()


def outcome(client: Any, items: list[dict[str, Any]]) -> Any:
    try:
        client.transact_write_items(TransactItems=items)
    except ClientError as error:
        response = error.response
        return (
            response["Error"]["Code"],
            response["Error"].get("Message"),
            response.get("CancellationReasons"),
        )
    return "ok"


# --- generated transactions ---------------------------------------------------------------

CONDITIONS = [
    None,
    ("attribute_exists(pk)", {}),
    ("attribute_not_exists(pk)", {}),
    ("v = :c", {":c": {"N": "1"}}),
    ("v < :c", {":c": {"N": "2"}}),
]
UPDATES = [
    ("SET v = :u", {":u": {"N": "7"}}),
    ("ADD n :u", {":u": {"N": "1"}}),
    ("REMOVE v", {}),
    ("SET v = v + :u", {":u": {"N": "1"}}),  # fails validation on an item without v
    ("SET #missing = :u", {":u": {"N": "1"}}),  # an undefined attribute name: a validation error
]


@st.composite
def operation(draw: Any) -> dict[str, Any]:
    table = draw(st.sampled_from(sorted(TABLES)))
    key = key_of(table, draw(st.sampled_from(KEYS)))
    kind = draw(st.sampled_from(["Put", "Update", "Delete", "ConditionCheck"]))
    condition = draw(st.sampled_from(CONDITIONS))
    if kind == "ConditionCheck" and condition is None:
        condition = CONDITIONS[1]
    op: dict[str, Any] = {"TableName": draw(st.sampled_from([table, table, table, "missing"]))}
    values: dict[str, Any] = {}
    if kind == "Put":
        op["Item"] = {**key, "v": {"N": str(draw(st.integers(0, 3)))}}
    else:
        op["Key"] = key
    if kind == "Update":
        expression, update_values = draw(st.sampled_from(UPDATES))
        op["UpdateExpression"] = expression
        values.update(update_values)
    if condition is not None:
        op["ConditionExpression"] = condition[0]
        values.update(condition[1])
        if draw(st.booleans()):
            op["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    if values:
        op["ExpressionAttributeValues"] = values
    return {kind: op}


initial_items = st.lists(
    st.tuples(st.sampled_from(sorted(TABLES)), st.sampled_from(KEYS), st.integers(0, 3)), max_size=8
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(initial=initial_items, transaction=st.lists(operation(), min_size=1, max_size=6))
def test_a_transaction_ends_exactly_as_with_moto_s_own_rollback(
    clients: dict[str, Any], initial: list[Any], transaction: list[dict[str, Any]]
) -> None:
    for region in (PATCHED, ORIGINAL):
        reset(region, initial)
    assert state(PATCHED) == state(ORIGINAL)
    patched = outcome(clients[PATCHED], transaction)
    with moto_original():
        original = outcome(clients[ORIGINAL], transaction)
    assert patched == original
    assert state(PATCHED) == state(ORIGINAL)


def test_a_failed_condition_undoes_the_earlier_items_and_names_the_failed_one(
    clients: dict[str, Any],
) -> None:
    """The case the app lives on: labels come from the cancellation reasons' positions."""
    reset(PATCHED, [("h", ("a", "1"), 1)])
    before = state(PATCHED)
    answer = outcome(
        clients[PATCHED],
        [
            {"Put": {"TableName": "h", "Item": {"pk": {"S": "b"}, "v": {"N": "5"}}}},
            {"Update": {"TableName": "hr", "Key": key_of("hr", ("c", "2")), "UpdateExpression": "SET v = :u",
                        "ExpressionAttributeValues": {":u": {"N": "1"}}}},
            {"Delete": {"TableName": "h", "Key": {"pk": {"S": "a"}}}},
            {"ConditionCheck": {"TableName": "h", "Key": {"pk": {"S": "z"}},
                                "ConditionExpression": "attribute_exists(pk)"}},
        ],
    )  # fmt: skip
    assert answer[0] == "TransactionCanceledException"
    assert [reason["Code"] for reason in answer[2]] == ["None", "None", "None", "ConditionalCheckFailed"]
    assert state(PATCHED) == before


def test_the_app_s_transaction_reports_its_labels_through_the_patch() -> None:
    """chalicelib's Transaction over PynamoDB: the failed item's label, nothing written."""
    from chalicelib.storage.models import ALL_MODELS, ClientEmailModel
    from chalicelib.storage.transactions import Transaction, TransactionFailed

    emulator.install()
    with mock_aws():
        for model in ALL_MODELS:
            model.create_table(wait=True)
        ClientEmailModel("acc", "taken@example.com", client_id="cl_1").save()
        tx = Transaction(ClientEmailModel._get_connection().connection)
        tx.save(
            ClientEmailModel("acc", "free@example.com", client_id="cl_2"),
            label="free",
            condition=ClientEmailModel.account_id.does_not_exist(),
        )
        tx.save(ClientEmailModel("acc", "taken@example.com", client_id="cl_2"), label="taken",
                condition=ClientEmailModel.account_id.does_not_exist())  # fmt: skip
        with pytest.raises(TransactionFailed) as caught:
            tx.commit()
        assert caught.value.labels == {"taken"}
        assert [e.email_key for e in ClientEmailModel.query("acc")] == ["taken@example.com"]


# --- costs --------------------------------------------------------------------------------


def _transaction_allocations(client: Any, rows: int) -> int:
    table = dynamodb_backends[DEFAULT_ACCOUNT_ID][PATCHED].get_table("hr")
    for i in range(rows):
        table.put_item({"pk": {"S": f"bulk{i % 50}"}, "sk": {"S": str(i)}, "v": {"N": str(i)}})
    items = [
        {"Put": {"TableName": "hr", "Item": {"pk": {"S": "bulk0"}, "sk": {"S": "new"}}}},
        {"Update": {"TableName": "hr", "Key": key_of("hr", ("bulk1", "1")), "UpdateExpression": "SET v = :u",
                    "ExpressionAttributeValues": {":u": {"N": "1"}}}},
        {"ConditionCheck": {"TableName": "hr", "Key": key_of("hr", ("nope", "1")),
                            "ConditionExpression": "attribute_exists(pk)"}},
    ]  # fmt: skip
    tracemalloc.start()
    try:
        outcome(client, items)  # fails: everything is rolled back
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_transaction_costs_the_same_on_a_table_fifty_times_larger(clients: dict[str, Any]) -> None:
    reset(PATCHED, [])
    small = _transaction_allocations(clients[PATCHED], 40)
    reset(PATCHED, [])
    large = _transaction_allocations(clients[PATCHED], 2000)
    reset(PATCHED, [])
    assert large < 1.5 * small, (small, large)  # moto's own copies both tables: about 50x


def test_memory_stays_flat_under_sustained_transactions(clients: dict[str, Any]) -> None:
    reset(PATCHED, [])
    client = clients[PATCHED]

    def write(n: int) -> None:
        for i in range(n):
            outcome(
                client,
                [
                    {"Put": {"TableName": "h", "Item": {"pk": {"S": "same"}, "v": {"N": str(i)}}}},
                    {"Update": {"TableName": "hr", "Key": key_of("hr", ("same", "1")),
                                "UpdateExpression": "ADD n :u", "ExpressionAttributeValues": {":u": {"N": "1"}}}},
                ],
            )  # fmt: skip
        for name in TABLES:  # stream records are the table's own growth
            dynamodb_backends[DEFAULT_ACCOUNT_ID][PATCHED].get_table(name).stream_shard.items.clear()

    write(50)
    tracemalloc.start()
    try:
        write(100)
        after_100 = tracemalloc.get_traced_memory()[0]
        write(400)
        after_500 = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert after_500 < after_100 + 200_000, (after_100, after_500)


def test_concurrent_transactions_keep_every_acknowledged_write(clients: dict[str, Any]) -> None:
    """Failed transactions undo only their own items, never another thread's write."""
    reset(PATCHED, [])
    client = clients[PATCHED]
    errors: list[Any] = []

    def worker(n: int) -> None:
        for i in range(40):
            ok = outcome(
                client, [{"Put": {"TableName": "hr", "Item": {"pk": {"S": f"t{n}"}, "sk": {"S": str(i)}}}}]
            )
            failed = outcome(
                client,
                [
                    {"Put": {"TableName": "hr", "Item": {"pk": {"S": f"t{n}"}, "sk": {"S": f"x{i}"}}}},
                    {"ConditionCheck": {"TableName": "h", "Key": {"pk": {"S": "never"}},
                                        "ConditionExpression": "attribute_exists(pk)"}},
                ],
            )  # fmt: skip
            if ok != "ok" or failed == "ok":
                errors.append((ok, failed))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    table = dynamodb_backends[DEFAULT_ACCOUNT_ID][PATCHED].get_table("hr")
    assert sorted(item.range_key.value for item in table.all_items()) == sorted(
        str(i) for _ in range(4) for i in range(40)
    )


def test_direct_read_responses_parse_to_moto_s_own(clients: dict[str, Any]) -> None:
    from moto.dynamodb.responses import DynamoResult

    reset(PATCHED, [("hr", pair, n) for n, pair in enumerate(KEYS)] + [("h", ("a", "1"), 3)])
    client = clients[PATCHED]
    # Binary values are base64 on the wire: json.dumps refuses bytes, and moto's own path answers.
    client.put_item(
        TableName="h", Item={"pk": {"S": "bin"}, "b": {"B": b"\x00\xffraw"}, "bs": {"BS": [b"x"]}}
    )
    reads = [
        ("get_item", {"TableName": "h", "Key": {"pk": {"S": "a"}}}),
        ("get_item", {"TableName": "h", "Key": {"pk": {"S": "bin"}}}),
        ("query", {"TableName": "hr", "KeyConditionExpression": "pk = :p",
                   "ExpressionAttributeValues": {":p": {"S": "a"}}, "Limit": 1}),
        ("scan", {"TableName": "hr"}),
        ("batch_get_item", {"RequestItems": {"h": {"Keys": [{"pk": {"S": "a"}}, {"pk": {"S": "zz"}}]}}}),
    ]  # fmt: skip
    direct = [getattr(client, name)(**kwargs) for name, kwargs in reads]
    patched = DynamoResult.execute_result
    DynamoResult.execute_result = patched.__wrapped__
    try:
        generic = [getattr(client, name)(**kwargs) for name, kwargs in reads]
    finally:
        DynamoResult.execute_result = patched
    for mine, theirs in zip(direct, generic, strict=True):
        mine.pop("ResponseMetadata")
        theirs.pop("ResponseMetadata")
        assert mine == theirs
    assert direct[1]["Item"]["b"] == {"B": b"\x00\xffraw"} and direct[1]["Item"]["bs"] == {"BS": [b"x"]}


@pytest.mark.parametrize("size", [100, 404_000, 404_990, 405_000, 405_100, 500_000])
def test_one_size_check_per_item_accepts_and_refuses_as_moto_does(size: int) -> None:
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    attrs = {
        "pk": {"S": "a"},
        "tags": {"L": [{"S": "vip"}, {"M": {"n": {"N": "12"}}}]},
        "fields": {"M": {"city": {"S": "Brno"}, "ok": {"BOOL": True}}},
        "set": {"SS": ["x", "y"]},
        "big": {"S": "x" * max(0, size - 80)},
    }
    outcomes = []
    for init in (emulator._originals["Item.__init__"], Item.__init__):
        made = Item.__new__(Item)
        try:
            init(made, DynamoType(attrs["pk"]), None, attrs)
        except ItemSizeTooLarge:
            outcomes.append("too large")
        else:
            outcomes.append((made.to_json(), dict(made.attrs) == dict(made.attrs), made.size()))
    assert outcomes[0] == outcomes[1]
    assert (outcomes[0] == "too large") == (size > 405_000), (size, outcomes[0])


def test_the_cached_action_lookup_lists_the_same_methods() -> None:
    import moto.core.responses as responses
    from moto.dynamodb.responses import DynamoHandler
    from moto.sqs.responses import SQSResponse

    emulator.install()
    for handler in (DynamoHandler, SQSResponse):
        assert responses.method_names_from_class(handler) == emulator._originals["method_names_from_class"](
            handler
        )
        assert "transact_write_items" in responses.method_names_from_class(DynamoHandler)


def test_a_cached_condition_judges_every_item_as_a_fresh_parse_does() -> None:
    import moto.dynamodb.comparisons as comparisons
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    emulator.install()
    original = emulator._originals["get_filter_expression"]
    items = [None] + [
        Item(DynamoType({"S": "a"}), None, {"pk": {"S": "a"}, **attrs})
        for attrs in (
            {},
            {"v": {"N": "1"}},
            {"v": {"N": "3"}},
            {"w": {"S": "x"}},
            {"tags": {"L": [{"S": "vip"}]}},
        )
    ]
    cases = [
        ("attribute_not_exists(pk)", None, None),
        ("attribute_exists(#v)", {"#v": "v"}, None),
        ("v = :c OR v > :d", None, {":c": {"N": "1"}, ":d": {"N": "2"}}),
        ("v = :c OR v > :d", None, {":c": {"N": "3"}, ":d": {"N": "9"}}),  # same text, other values
        ("contains(tags, :t) AND NOT v = :c", None, {":t": {"S": "vip"}, ":c": {"N": "1"}}),
    ]
    for _ in range(2):  # the second round is answered from the cache
        for expression, names, values in cases:
            cached = comparisons.get_filter_expression(expression, names, values)
            fresh = original(expression, names, values)
            assert [cached.expr(item) for item in items] == [fresh.expr(item) for item in items], expression
    with pytest.raises((ValueError, KeyError)):
        comparisons.get_filter_expression("v = :missing", None, {})


# --- a Query reads only its partition ----------------------------------------------------------

QUERY_REGION = "ap-southeast-2"


@contextmanager
def moto_own_query() -> Iterator[None]:
    """moto's own ``Table.query`` (sort the whole table, then filter, deep-copy the page) for
    the duration."""
    from moto.dynamodb.models.table import Table

    patched = Table.query
    Table.query = emulator.moto_table_query()  # type: ignore[method-assign]
    try:
        with emulator.moto_own_page_copies():
            yield
    finally:
        Table.query = patched  # type: ignore[method-assign]


def stored_items() -> dict[str, list[Any]]:
    """Every item of the query tables, as moto holds it (its JSON), in key order."""
    backend = dynamodb_backends[DEFAULT_ACCOUNT_ID][QUERY_REGION]
    return {
        name: sorted(
            json.dumps(item.to_json(), sort_keys=True) for item in backend.get_table(name).all_items()
        )
        for name in ("q", "qn")
    }


@pytest.fixture(scope="module")
def query_client() -> Iterator[Any]:
    """Tables with a range key and without, a numeric hash key, an index with a range key and
    one without (sparse: items may lack the index attributes)."""
    emulator.install()
    with mock_aws():
        client = boto3.client("dynamodb", region_name=QUERY_REGION)
        client.create_table(
            TableName="q",
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": name, "AttributeType": kind}
                for name, kind in (("pk", "S"), ("sk", "S"), ("gh", "S"), ("gr", "N"))
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "by-gh-gr",
                    "KeySchema": [
                        {"AttributeName": "gh", "KeyType": "HASH"},
                        {"AttributeName": "gr", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["v"]},
                },
                {
                    "IndexName": "by-gh",
                    "KeySchema": [{"AttributeName": "gh", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "KEYS_ONLY"},
                },
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        client.create_table(
            TableName="qn",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "N"},
                {"AttributeName": "gh", "AttributeType": "S"},
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "by-gh",
                    "KeySchema": [{"AttributeName": "gh", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


PARTITIONS = ["a", "b", "c"]
query_items = st.lists(
    st.tuples(
        st.sampled_from(PARTITIONS),  # pk
        st.sampled_from(["1", "2", "10", "a", "b#1", "b#2"]),  # sk
        st.sampled_from([None, "x", "y"]),  # gh (None: not in the indexes)
        st.sampled_from([None, 1, 2, 10, -3]),  # gr
        st.integers(0, 3),  # v
    ),
    max_size=24,
)


@st.composite
def query_request(draw: Any) -> dict[str, Any]:
    shape = draw(st.sampled_from(["table", "table-range", "index", "index-range", "index-hash", "numeric"]))
    request: dict[str, Any] = {"TableName": "q"}
    values: dict[str, Any] = {}
    if shape in ("table", "table-range"):
        request["KeyConditionExpression"] = "pk = :p"
        values[":p"] = {"S": draw(st.sampled_from([*PARTITIONS, "zz"]))}
        if shape == "table-range":
            condition = draw(
                st.sampled_from(["sk < :s", "sk >= :s", "begins_with(sk, :s)", "sk BETWEEN :s AND :t"])
            )
            request["KeyConditionExpression"] += f" AND {condition}"
            values[":s"] = {"S": draw(st.sampled_from(["1", "2", "b", "b#1"]))}
            if ":t" in condition:
                values[":t"] = {"S": "b#9"}
    elif shape in ("index", "index-range"):
        request["IndexName"] = "by-gh-gr"
        request["KeyConditionExpression"] = "gh = :g"
        values[":g"] = {"S": draw(st.sampled_from(["x", "y", "zz"]))}
        if shape == "index-range":
            request["KeyConditionExpression"] += " AND gr <= :r"
            values[":r"] = {"N": str(draw(st.sampled_from([-3, 1, 2, 10])))}
    elif shape == "index-hash":
        request["IndexName"] = "by-gh"
        request["KeyConditionExpression"] = "gh = :g"
        values[":g"] = {"S": draw(st.sampled_from(["x", "y"]))}
    else:
        request["TableName"] = "qn"
        if draw(st.booleans()):
            request["IndexName"] = "by-gh"
            request["KeyConditionExpression"] = "gh = :g"
            values[":g"] = {"S": draw(st.sampled_from(["x", "y"]))}
        else:
            request["KeyConditionExpression"] = "pk = :p"
            values[":p"] = {"N": draw(st.sampled_from(["1", "1.0", "2", "10", "-3"]))}
    if draw(st.booleans()):
        request["ScanIndexForward"] = False
    if draw(st.booleans()):
        request["Limit"] = draw(st.integers(1, 4))
    if draw(st.booleans()):
        request["FilterExpression"] = "attribute_exists(v) AND v <> :v"
        values[":v"] = {"N": "1"}
    if draw(st.booleans()) and request.get("IndexName") != "by-gh":
        request["ProjectionExpression"] = "pk, v"
    request["ExpressionAttributeValues"] = values
    return request


def every_page(client: Any, request: dict[str, Any]) -> list[Any]:
    """Each page of the Query (with its counts and LastEvaluatedKey), or the error."""
    pages: list[Any] = []
    start: dict[str, Any] | None = None
    while len(pages) < 40:
        try:
            page = client.query(**request, **({"ExclusiveStartKey": start} if start else {}))
        except ClientError as error:
            return [*pages, (error.response["Error"]["Code"], error.response["Error"].get("Message"))]
        page.pop("ResponseMetadata")
        pages.append(page)
        start = page.get("LastEvaluatedKey")
        if not start:
            break
    return pages


def fill_query_tables(items: list[tuple[str, str, str | None, int | None, int]]) -> None:
    backend = dynamodb_backends[DEFAULT_ACCOUNT_ID][QUERY_REGION]
    for name in ("q", "qn"):
        backend.get_table(name).items.clear()
    for number, (pk, sk, gh, gr, v) in enumerate(items):
        attrs: dict[str, Any] = {"pk": {"S": pk}, "sk": {"S": sk}, "v": {"N": str(v)}}
        if gh is not None:
            attrs["gh"] = {"S": gh}
        if gr is not None:
            attrs["gr"] = {"N": str(gr)}
        backend.put_item("q", attrs)
        numeric = {"pk": {"N": str([1, 2, 10, -3][number % 4] * (1 + number // 4))}, "v": {"N": str(v)}}
        if gh is not None:
            numeric["gh"] = {"S": gh}
        backend.put_item("qn", numeric)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(items=query_items, requests=st.lists(query_request(), min_size=1, max_size=4))
def test_a_partition_query_answers_exactly_as_moto_s_own(
    query_client: Any, items: list[Any], requests: list[dict[str, Any]]
) -> None:
    """Every page (items in order, Count, ScannedCount, LastEvaluatedKey) or error of a Query
    on the table or an index, paged to the end, is the same as moto's own whole-table Query
    (which deep-copies each page), and answering it changed no stored item (the page is not
    copied: 11. in local/emulator.py)."""
    fill_query_tables(items)
    before = stored_items()
    for request in requests:
        mine = every_page(query_client, request)
        assert stored_items() == before, request
        with moto_own_query():
            theirs = every_page(query_client, request)
        assert mine == theirs, request


def test_a_query_of_an_unknown_index_fails_as_moto_s_own(query_client: Any) -> None:
    fill_query_tables([("a", "1", "x", 1, 0)])
    request = {"TableName": "q", "IndexName": "nope", "KeyConditionExpression": "gh = :g",
               "ExpressionAttributeValues": {":g": {"S": "x"}}}  # fmt: skip
    mine = every_page(query_client, request)
    with moto_own_query():
        theirs = every_page(query_client, request)
    assert mine == theirs
    assert len(mine) == 1 and isinstance(mine[0], tuple)  # the error, no page


def test_a_query_does_not_sort_the_whole_table(query_client: Any) -> None:
    """A partition of 3 items in a table of 3,000: moto's own Query compares table items
    thousands of times (its whole-table sort); the partition Query only its own."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    fill_query_tables([(f"p{i % 1000}", str(i), "x" if i < 3 else None, i, 0) for i in range(3000)])
    counted = {"lt": 0}
    original_lt = DynamoType.__lt__

    def counting_lt(self: Any, other: Any) -> bool:
        counted["lt"] += 1
        return original_lt(self, other)

    requests = [
        {"TableName": "q", "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "p7"}}},
        {"TableName": "q", "IndexName": "by-gh-gr", "KeyConditionExpression": "gh = :g",
         "ExpressionAttributeValues": {":g": {"S": "x"}}},
    ]  # fmt: skip
    comparisons = []
    for own in (False, True):
        counted["lt"] = 0
        DynamoType.__lt__ = counting_lt  # type: ignore[method-assign]
        try:
            with moto_own_query() if own else contextlib.nullcontext():
                answers = [every_page(query_client, request) for request in requests]
        finally:
            DynamoType.__lt__ = original_lt  # type: ignore[method-assign]
        comparisons.append((counted["lt"], answers))
    (partition_lt, partition_answers), (moto_lt, moto_answers) = comparisons
    assert partition_answers == moto_answers
    assert [page["Count"] for page in partition_answers[0]] == [3]
    assert moto_lt > 20_000
    assert partition_lt < 50


def test_a_page_of_a_partition_does_not_step_over_the_pages_before_it(query_client: Any) -> None:
    """Paging a partition (each page starts after the previous page's last key): moto's own
    Query compares every item of the earlier pages with the start key again on each page;
    the partition Query starts after it at once, with the same pages, forward and backward."""
    from moto.dynamodb.models.table import Table

    fill_query_tables([("p", f"{i:04d}", None, None, 0) for i in range(300)])
    counted = {"calls": 0}
    original = Table._item_comes_before_dct

    def counting(self: Any, *args: Any, **kwargs: Any) -> bool:
        counted["calls"] += 1
        return original(self, *args, **kwargs)

    for forward in (True, False):
        request = {"TableName": "q", "KeyConditionExpression": "pk = :p", "Limit": 50,
                   "ExpressionAttributeValues": {":p": {"S": "p"}}, "ScanIndexForward": forward}  # fmt: skip
        calls = []
        answers = []
        for own in (False, True):
            counted["calls"] = 0
            Table._item_comes_before_dct = counting  # type: ignore[method-assign]
            try:
                with moto_own_query() if own else contextlib.nullcontext():
                    answers.append(every_page(query_client, request))
            finally:
                Table._item_comes_before_dct = original  # type: ignore[method-assign]
            calls.append(counted["calls"])
        assert answers[0] == answers[1]
        assert [page["Count"] for page in answers[0]] == [50] * 6
        assert calls == [0, 50 * (1 + 2 + 3 + 4 + 5) + 5], calls


def test_a_query_page_is_not_deep_copied(query_client: Any) -> None:
    """moto deep-copies every item of a Query's page before answering; the emulator answers from
    the items themselves (under its lock, into new projected items and JSON): the same pages,
    no item copied, the stored items unchanged."""
    from moto.dynamodb.models.dynamo_type import Item

    fill_query_tables([("p", f"{i:04d}", "x", i, i % 4) for i in range(120)])
    request = {"TableName": "q", "KeyConditionExpression": "pk = :p", "Limit": 50,
               "ExpressionAttributeValues": {":p": {"S": "p"}}}  # fmt: skip
    index_request = {"TableName": "q", "IndexName": "by-gh-gr", "KeyConditionExpression": "gh = :g",
                     "ExpressionAttributeValues": {":g": {"S": "x"}}}  # fmt: skip
    counted = {"copies": 0}
    original = Item.__deepcopy__

    def counting(self: Any, memo: Any) -> Any:
        counted["copies"] += 1
        return original(self, memo)

    before = stored_items()
    copies, answers = [], []
    for own in (False, True):
        counted["copies"] = 0
        Item.__deepcopy__ = counting  # type: ignore[method-assign]
        try:
            with emulator.moto_own_page_copies() if own else contextlib.nullcontext():
                answers.append([every_page(query_client, r) for r in (request, index_request)])
        finally:
            Item.__deepcopy__ = original  # type: ignore[method-assign]
        copies.append(counted["copies"])
    assert answers[0] == answers[1]
    assert [page["Count"] for page in answers[0][0]] == [50, 50, 20]
    assert copies == [0, 240], copies
    assert stored_items() == before
