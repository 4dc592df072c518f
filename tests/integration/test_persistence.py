"""The local stack's saved state (``local/persistence.py``): what is saved comes back exactly,
only what changed is written again, a snapshot is replaced atomically, and it waits for the
emulator's requests in flight."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models import dynamodb_backends

from local import emulator
from local.persistence import MANIFEST, EmulatorState, StateError

REGION = "eu-central-1"


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    emulator.install()
    with mock_aws():
        yield {name: boto3.client(name, region_name=REGION) for name in ("dynamodb", "sqs", "ses", "sns")}


def make_table(dynamodb: Any, name: str, range_key: bool) -> None:
    schema = [{"AttributeName": "pk", "KeyType": "HASH"}]
    attributes = [{"AttributeName": "pk", "AttributeType": "S"}]
    if range_key:
        schema.append({"AttributeName": "sk", "KeyType": "RANGE"})
        attributes.append({"AttributeName": "sk", "AttributeType": "S"})
    attributes.append({"AttributeName": "g", "AttributeType": "S"})
    dynamodb.create_table(
        TableName=name,
        KeySchema=schema,
        AttributeDefinitions=attributes,
        BillingMode="PAY_PER_REQUEST",
        GlobalSecondaryIndexes=[
            {"IndexName": "by-g", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}], "Projection": {"ProjectionType": "ALL"}}
        ],
    )  # fmt: skip


def populate(clients: dict[str, Any]) -> dict[str, Any]:
    dynamodb, sqs, ses, sns = clients["dynamodb"], clients["sqs"], clients["ses"], clients["sns"]
    make_table(dynamodb, "plain", range_key=False)
    make_table(dynamodb, "ranged", range_key=True)
    for i in range(30):
        dynamodb.put_item(
            TableName="ranged",
            Item={
                "pk": {"S": f"p{i % 3}"},
                "sk": {"S": f"s{i}"},
                "g": {"S": "x"},
                "n": {"N": str(i)},
                "tags": {"L": [{"S": "vip"}, {"M": {"deep": {"SS": ["a", "b"]}}}]},
                "ok": {"BOOL": True},
                "none": {"NULL": True},
                "blob": {"B": b"\x00\x01"},
            },
        )
    dynamodb.put_item(TableName="plain", Item={"pk": {"S": "one"}, "g": {"S": "y"}})
    queue = sqs.create_queue(QueueName="jobs")["QueueUrl"]
    sqs.send_message(QueueUrl=queue, MessageBody="pending job")
    ses.verify_email_identity(EmailAddress="hello@salon.example")
    ses.send_raw_email(
        Source="hello@salon.example",
        Destinations=["anna@example.com"],
        RawMessage={"Data": b"From: hello@salon.example\r\nTo: anna@example.com\r\nSubject: Hi\r\n\r\nBody"},
    )
    topic = sns.create_topic(Name="events")["TopicArn"]
    return {"queue": queue, "topic": topic}


def snapshot_of(clients: dict[str, Any]) -> dict[str, Any]:
    dynamodb = clients["dynamodb"]
    tables = {
        name: sorted(
            json.dumps(item, sort_keys=True, default=repr) for item in dynamodb.scan(TableName=name)["Items"]
        )
        for name in ("plain", "ranged")
    }
    by_index = dynamodb.query(
        TableName="ranged", IndexName="by-g", KeyConditionExpression="g = :g", ExpressionAttributeValues={":g": {"S": "x"}}
    )["Count"]  # fmt: skip
    return {
        "tables": tables,
        "index": by_index,
        "queues": clients["sqs"].list_queues().get("QueueUrls"),
        "identities": clients["ses"].list_identities()["Identities"],
        "topics": [t["TopicArn"] for t in clients["sns"].list_topics()["Topics"]],
    }


def test_the_saved_state_comes_back_exactly(tmp_path: Path, aws: dict[str, Any]) -> None:
    made = populate(aws)
    before = snapshot_of(aws)
    state = EmulatorState(tmp_path / "emulator")
    report = state.save()
    assert "table/123456789012/eu-central-1/ranged" in report.parts and "sqs" in report.parts
    from moto.backends import get_backend

    for service in ("dynamodb", "sqs", "sns", "ses", "sesv2"):  # an empty emulator, as at start
        get_backend(service).reset()  # type: ignore[call-overload]
    assert aws["dynamodb"].list_tables()["TableNames"] == []

    assert EmulatorState(tmp_path / "emulator").restore()
    assert snapshot_of(aws) == before
    [message] = aws["sqs"].receive_message(QueueUrl=made["queue"])["Messages"]
    assert message["Body"] == "pending job"
    from moto.ses.models import ses_backends

    [sent] = ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages
    assert "Subject: Hi" in sent.raw_data
    # The restored emulator keeps working: writes, conditions, transactions.
    aws["dynamodb"].transact_write_items(
        TransactItems=[{"Put": {"TableName": "plain", "Item": {"pk": {"S": "two"}, "g": {"S": "y"}},
                                "ConditionExpression": "attribute_not_exists(pk)"}}]
    )  # fmt: skip
    assert aws["dynamodb"].get_item(TableName="plain", Key={"pk": {"S": "two"}})["Item"]["g"] == {"S": "y"}


def test_only_what_changed_is_written_again_and_the_manifest_is_replaced_whole(
    tmp_path: Path, aws: dict[str, Any]
) -> None:
    populate(aws)
    state = EmulatorState(tmp_path / "emulator")
    state.save()
    assert state.save().parts == []  # nothing changed
    aws["dynamodb"].put_item(TableName="plain", Item={"pk": {"S": "new"}, "g": {"S": "z"}})
    second = state.save()
    assert second.parts == ["table/123456789012/eu-central-1/plain"]
    manifest = json.loads((tmp_path / "emulator" / MANIFEST).read_text())
    files = {name for names in manifest["parts"].values() for name in names}
    assert {path.name for path in (tmp_path / "emulator").iterdir()} == {*files, MANIFEST}  # old files gone
    # A crash while writing the next snapshot leaves a stray file: the manifest still names whole files.
    (tmp_path / "emulator" / f".{MANIFEST}.tmp").write_text("{broken")
    (tmp_path / "emulator" / "table--half-written.9.pickle").write_bytes(b"\x80")
    dynamodb_backends[DEFAULT_ACCOUNT_ID][REGION].tables.clear()
    assert EmulatorState(tmp_path / "emulator").restore()
    assert aws["dynamodb"].get_item(TableName="plain", Key={"pk": {"S": "new"}})["Item"]["g"] == {"S": "z"}


def test_a_snapshot_of_another_moto_version_is_refused(tmp_path: Path, aws: dict[str, Any]) -> None:
    populate(aws)
    EmulatorState(tmp_path / "emulator").save()
    path = tmp_path / "emulator" / MANIFEST
    manifest = json.loads(path.read_text())
    path.write_text(json.dumps({**manifest, "moto": "0.0.1"}))
    with pytest.raises(StateError, match="--fresh"):
        EmulatorState(tmp_path / "emulator").restore()
    assert not EmulatorState(tmp_path / "nothing").restore()


def test_a_snapshot_waits_for_requests_in_flight_and_holds_new_ones() -> None:
    gate = emulator.Gate()
    events: list[str] = []
    inside = threading.Event()

    def request() -> None:
        with gate.request():
            inside.set()
            time.sleep(0.3)
            events.append("request done")

    def late_request() -> None:
        with gate.request():
            events.append("late request")

    worker = threading.Thread(target=request)
    worker.start()
    inside.wait(5)
    with gate.exclusive():
        events.append("snapshot")
        late = threading.Thread(target=late_request)
        late.start()
        time.sleep(0.2)
        events.append("snapshot done")
    late.join(5)
    worker.join(5)
    assert events == ["request done", "snapshot", "snapshot done", "late request"]
    # A request that waits on something else (an SQS long poll) steps out of the gate meanwhile.
    with gate.request(), gate.stepped_out(), gate.exclusive():
        pass


# --- a snapshot saves the items that changed ------------------------------------------------


def restored_snapshot(tmp_path: Path, aws: dict[str, Any]) -> dict[str, Any]:
    """What the emulator holds after a restore of ``tmp_path / "emulator"`` into an empty one."""
    from moto.backends import get_backend

    for service in ("dynamodb", "sqs", "sns", "ses", "sesv2"):
        get_backend(service).reset()  # type: ignore[call-overload]
    assert EmulatorState(tmp_path / "emulator").restore()
    return snapshot_of(aws)


def table_files(tmp_path: Path, name: str) -> list[str]:
    manifest = json.loads((tmp_path / "emulator" / MANIFEST).read_text())
    return list(manifest["parts"][f"table/{DEFAULT_ACCOUNT_ID}/{REGION}/{name}"])


def test_changed_items_are_saved_as_changes_and_come_back_exactly(
    tmp_path: Path, aws: dict[str, Any]
) -> None:
    populate(aws)
    dynamodb = aws["dynamodb"]
    state = EmulatorState(tmp_path / "emulator")
    state.save()
    # Puts, an update, deletes (one empties a partition), a transaction that fails (its
    # items are back as they were) and one that succeeds, a batch.
    dynamodb.put_item(TableName="ranged", Item={"pk": {"S": "p9"}, "sk": {"S": "new"}, "g": {"S": "x"}})
    dynamodb.update_item(
        TableName="ranged", Key={"pk": {"S": "p0"}, "sk": {"S": "s0"}},
        UpdateExpression="SET n = :n REMOVE tags", ExpressionAttributeValues={":n": {"N": "99"}},
    )  # fmt: skip
    for i in (1, 4, 7, 10, 13, 16, 19, 22, 25, 28):  # every item of partition p1
        dynamodb.delete_item(TableName="ranged", Key={"pk": {"S": "p1"}, "sk": {"S": f"s{i}"}})
    dynamodb.delete_item(TableName="plain", Key={"pk": {"S": "one"}})
    with pytest.raises(dynamodb.exceptions.TransactionCanceledException):
        dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": "plain", "Item": {"pk": {"S": "tx"}, "g": {"S": "y"}}}},
                {"ConditionCheck": {"TableName": "ranged", "Key": {"pk": {"S": "p2"}, "sk": {"S": "s2"}},
                                    "ConditionExpression": "attribute_not_exists(pk)"}},
            ]
        )  # fmt: skip
    dynamodb.transact_write_items(
        TransactItems=[{"Put": {"TableName": "plain", "Item": {"pk": {"S": "tx2"}, "g": {"S": "y"}}}}]
    )
    dynamodb.batch_write_item(
        RequestItems={
            "plain": [{"PutRequest": {"Item": {"pk": {"S": f"b{i}"}, "g": {"S": "z"}}}} for i in range(5)]
        }
    )
    before = snapshot_of(aws)
    report = state.save()
    assert report.parts == [
        f"table/{DEFAULT_ACCOUNT_ID}/{REGION}/plain",
        f"table/{DEFAULT_ACCOUNT_ID}/{REGION}/ranged",
    ]
    assert len(table_files(tmp_path, "ranged")) == 2  # the whole copy, then the changes
    dynamodb.put_item(TableName="ranged", Item={"pk": {"S": "p9"}, "sk": {"S": "later"}, "g": {"S": "x"}})
    before = snapshot_of(aws)
    state.save(final=True)
    assert len(table_files(tmp_path, "ranged")) == 3
    assert restored_snapshot(tmp_path, aws) == before
    # The restored state keeps saving changes on top of its files.
    again = EmulatorState(tmp_path / "emulator")
    assert again.restore()
    dynamodb.delete_item(TableName="ranged", Key={"pk": {"S": "p9"}, "sk": {"S": "later"}})
    before = snapshot_of(aws)
    again.save(final=True)
    assert restored_snapshot(tmp_path, aws) == before


def test_a_snapshot_costs_what_changed_not_the_table(tmp_path: Path, aws: dict[str, Any]) -> None:
    """One item changed in a table of 3,000: the snapshot writes a few hundred bytes, not the
    table; the periodic snapshots copy the table whole again once its changes outgrow it."""
    dynamodb = aws["dynamodb"]
    make_table(dynamodb, "big", range_key=True)
    table = dynamodb_backends[DEFAULT_ACCOUNT_ID][REGION].get_table("big")
    for i in range(3000):
        table.put_item(
            {"pk": {"S": f"p{i % 300}"}, "sk": {"S": f"s{i}"}, "g": {"S": "x"}, "n": {"N": str(i)}}
        )
    state = EmulatorState(tmp_path / "emulator")
    whole = state.save().bytes_written
    dynamodb.put_item(TableName="big", Item={"pk": {"S": "p1"}, "sk": {"S": "s1"}, "g": {"S": "y"}})
    changed = state.save().bytes_written
    assert changed * 20 < whole, (changed, whole)
    assert len(table_files(tmp_path, "big")) == 2
    # Changes up to the table's size are added; past it, the table is copied whole again.
    for i in range(3000):
        dynamodb.put_item(TableName="big", Item={"pk": {"S": "p2"}, "sk": {"S": f"t{i}"}, "g": {"S": "x"}})
    state.save()
    assert len(table_files(tmp_path, "big")) == 1


def test_a_periodic_snapshot_gives_up_for_the_last_one(tmp_path: Path, aws: dict[str, Any]) -> None:
    """At stop, a periodic snapshot that is copying a table whole gives up (it writes nothing)
    and the last snapshot saves the changes instead, so stopping stays prompt."""
    from local.persistence import Cancelled

    populate(aws)
    state = EmulatorState(tmp_path / "emulator")
    state.save()
    aws["dynamodb"].put_item(TableName="plain", Item={"pk": {"S": "late"}, "g": {"S": "y"}})
    aws["dynamodb"].put_item(TableName="ranged", Item={"pk": {"S": "p5"}, "sk": {"S": "x"}, "g": {"S": "x"}})
    files = table_files(tmp_path, "ranged")
    state.cancel()
    state._changed_rows = {part: 10**9 for part in state._files}  # every table due for a whole copy
    state._compact_not_before = 0.0  # however long the first save paused the emulator
    with pytest.raises(Cancelled):
        state.save()
    assert table_files(tmp_path, "ranged") == files  # nothing written
    before = snapshot_of(aws)
    report = state.save(final=True)
    assert report.parts == [
        f"table/{DEFAULT_ACCOUNT_ID}/{REGION}/plain",
        f"table/{DEFAULT_ACCOUNT_ID}/{REGION}/ranged",
    ]
    assert len(table_files(tmp_path, "ranged")) == 2  # changes only, not a whole copy
    assert restored_snapshot(tmp_path, aws) == before


def test_a_snapshot_of_the_previous_format_is_restored(tmp_path: Path, aws: dict[str, Any]) -> None:
    populate(aws)
    EmulatorState(tmp_path / "emulator").save()
    path = tmp_path / "emulator" / MANIFEST
    manifest = json.loads(path.read_text())
    manifest["format"] = 1
    manifest["parts"] = {part: names[0] for part, names in manifest["parts"].items()}
    path.write_text(json.dumps(manifest))
    before = snapshot_of(aws)
    assert restored_snapshot(tmp_path, aws) == before


def test_a_table_whose_settings_change_is_copied_whole(tmp_path: Path, aws: dict[str, Any]) -> None:
    populate(aws)
    state = EmulatorState(tmp_path / "emulator")
    state.save()
    aws["dynamodb"].update_time_to_live(
        TableName="ranged", TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"}
    )
    state.save()
    assert len(table_files(tmp_path, "ranged")) == 1  # a new whole copy, with the setting
    state.save()
    from moto.backends import get_backend

    get_backend("dynamodb").reset()  # type: ignore[call-overload]
    assert EmulatorState(tmp_path / "emulator").restore()
    described = aws["dynamodb"].describe_time_to_live(TableName="ranged")["TimeToLiveDescription"]
    assert described["TimeToLiveStatus"] == "ENABLED"


def test_a_whole_copy_spaces_the_next_whole_copies_not_the_snapshots_of_changes(
    tmp_path: Path, aws: dict[str, Any]
) -> None:
    """A large table's copy whole pauses the emulator; the next one waits four times that
    long, but the changes made meanwhile are still saved at the snapshots' pace (as changes),
    so neither a crash nor the stop has more to catch up with than the last few seconds."""
    dynamodb = aws["dynamodb"]
    populate(aws)
    state = EmulatorState(tmp_path / "emulator")
    state.save()
    state._changed_rows = {part: 10**9 for part in state._files}  # every table due for a whole copy
    # However long the first save paused the emulator (a loaded machine spaced the next whole
    # copy past this one), this copy is due now.
    state._compact_not_before = 0.0
    dynamodb.put_item(TableName="ranged", Item={"pk": {"S": "p1"}, "sk": {"S": "a"}, "g": {"S": "x"}})
    report = state.save()
    assert len(table_files(tmp_path, "ranged")) == 1  # copied whole
    assert state._compact_not_before > 0  # the next whole copy waits 4x the pause of this one
    state._compact_not_before = time.monotonic() + 3600  # as after a long copy
    state._changed_rows = {part: 10**9 for part in state._files}
    dynamodb.put_item(TableName="ranged", Item={"pk": {"S": "p1"}, "sk": {"S": "b"}, "g": {"S": "x"}})
    report = state.save()
    assert report.parts == [f"table/{DEFAULT_ACCOUNT_ID}/{REGION}/ranged"]
    assert len(table_files(tmp_path, "ranged")) == 2  # its changes, added: not copied whole again
    before = snapshot_of(aws)
    assert restored_snapshot(tmp_path, aws) == before


def test_the_stop_saves_the_changes_so_far_while_the_other_processes_stop(
    tmp_path: Path, aws: dict[str, Any]
) -> None:
    """``begin_stop()`` saves what changed so far in the background; the last snapshot then
    has only what was written after it, and the state comes back exactly."""
    from local.persistence import Saver

    dynamodb = aws["dynamodb"]
    populate(aws)
    state = EmulatorState(tmp_path / "emulator")
    state.save()
    saver = Saver(state, interval=3600)  # no periodic snapshot within the test
    saver.start()
    for i in range(50):
        dynamodb.put_item(
            TableName="ranged", Item={"pk": {"S": "p7"}, "sk": {"S": f"early{i}"}, "g": {"S": "x"}}
        )
    saver.begin_stop()
    assert saver._early is not None
    saver._early.join(30)
    early = saver._early_report
    assert early is not None and early.parts == [f"table/{DEFAULT_ACCOUNT_ID}/{REGION}/ranged"]
    dynamodb.put_item(TableName="plain", Item={"pk": {"S": "late"}, "g": {"S": "y"}})  # a child's last write
    report = saver.stop(timeout=1.0)
    assert report is not None
    assert report.parts == [
        f"table/{DEFAULT_ACCOUNT_ID}/{REGION}/plain",
        f"table/{DEFAULT_ACCOUNT_ID}/{REGION}/ranged",
    ]
    assert report.bytes_written > early.bytes_written  # both snapshots reported as one
    before = snapshot_of(aws)
    assert restored_snapshot(tmp_path, aws) == before
