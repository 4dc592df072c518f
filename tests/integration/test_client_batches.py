"""New clients several to a transaction (an import's rows): the same items and conditions as
one client at a time, in fewer calls; a row its own items refuse is left to be created alone."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from chalicelib.bootstrap import get_deps
from chalicelib.domain.contact import email_hash
from chalicelib.domain.records import Client
from chalicelib.storage import clients as client_storage
from chalicelib.storage.clients import TRANSACTION_ITEMS, TRANSACTION_ROWS, NewClient
from chalicelib.storage.models import ClientEmailModel, ClientModel, SuppressionModel, TagMemberModel
from tests.integration.conftest import Http
from tests.integration.test_import import CSV, client_by_email, suppress

ACCOUNT = "acc_batches"
NOW = "2026-05-01T10:00:00.000000Z"


def new(i: int, tags: list[str] | None = None, email: str | None = None) -> NewClient:
    from chalicelib.domain.time import parse_timestamp

    address = email or f"row{i:03d}@batch.example"
    client = Client(
        account_id=ACCOUNT,
        client_id=f"cl_batch{i:04d}",
        email=address,
        tags=["vip", "hair"] if tags is None else tags,
        created_at=parse_timestamp(NOW),
        updated_at=parse_timestamp(NOW),
        auto_status="new",
    )
    return NewClient(client, None, email_hash(get_deps().email_hash_key, address))


@pytest.fixture
def commits(aws: None, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The item count of every transaction sent."""
    sent: list[int] = []
    commit = client_storage.Transaction.commit

    def counted(self: Any) -> None:
        sent.append(len(self))
        commit(self)

    monkeypatch.setattr(client_storage.Transaction, "commit", counted)
    return sent


def stored(client_id: str) -> bool:
    return ClientModel.count(ACCOUNT, ClientModel.client_id == client_id) == 1


def test_forty_clients_are_three_transactions_with_every_item(commits: list[int]) -> None:
    entries = [new(i) for i in range(40)]
    created = get_deps().clients.create_many(entries)
    assert [client.client_id for client in created if client] == [e.client.client_id for e in entries]
    assert commits == [16 * 5, 16 * 5, 8 * 5]  # suppression check, claim, client, two tag members
    assert ClientModel.count(ACCOUNT) == 40
    assert ClientEmailModel.count(ACCOUNT) == 40
    assert TagMemberModel.count(f"{ACCOUNT}#vip") == 40 and TagMemberModel.count(f"{ACCOUNT}#hair") == 40


def test_a_row_its_own_items_refuse_is_left_out_and_the_others_are_written(commits: list[int]) -> None:
    deps = get_deps()
    taken = new(900, email="taken@batch.example")
    assert deps.clients.create_many([taken]) == [deps.clients.get(ACCOUNT, "cl_batch0900")]
    suppress(ACCOUNT, "gone@batch.example")
    commits.clear()
    entries = [new(i) for i in range(6)]
    entries[2] = new(2, email="Taken@batch.example")  # claimed meanwhile (another client)
    entries[4] = new(4, email="gone@batch.example")  # unsubscribed meanwhile
    created = deps.clients.create_many(entries)
    assert [client is not None for client in created] == [True, True, False, True, False, True]
    # The first transaction was cancelled by the two refusals; the second wrote the four others.
    assert commits == [6 * 5, 4 * 5]
    assert not stored("cl_batch0002") and not stored("cl_batch0004")
    assert TagMemberModel.count(f"{ACCOUNT}#vip", TagMemberModel.client_id == "cl_batch0002") == 0
    assert ClientEmailModel.get(ACCOUNT, "taken@batch.example").client_id == "cl_batch0900"
    assert all(stored(f"cl_batch{i:04d}") for i in (0, 1, 3, 5))
    # Alone, each is told apart as one client is: a duplicate, and a suppressed address.
    from chalicelib.errors import Conflict
    from chalicelib.storage.clients import SuppressionMismatch

    with pytest.raises(Conflict):
        deps.clients.create(entries[2].client, email_hash=entries[2].email_hash)
    with pytest.raises(SuppressionMismatch):
        deps.clients.create(entries[4].client, email_hash=entries[4].email_hash)
    assert SuppressionModel.count(ACCOUNT) == 1


def test_transactions_stay_within_dynamodb_limits_and_hold_no_item_twice(commits: list[int]) -> None:
    many_tags = [f"t{n}" for n in range(40)]
    entries = [new(i, tags=many_tags) for i in range(5)] + [new(5), new(6)]
    entries[6] = replace(entries[6], email_hash=entries[5].email_hash)  # one suppression item twice
    created = get_deps().clients.create_many(entries)
    assert all(client is not None for client in created)
    # 43 items a row of 40 tags: two to a transaction; the shared suppression item: apart.
    assert commits == [86, 86, 48, 5]
    assert max(commits) <= TRANSACTION_ITEMS and len(commits) >= len(entries) / TRANSACTION_ROWS
    assert TagMemberModel.count(f"{ACCOUNT}#t39") == 5


def test_an_import_whose_address_is_claimed_after_the_lookup_skips_that_row(
    http: Http, account: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lookup before the batch found the address free; another request claimed it before
    the transaction: the batch leaves the row out, and alone it is found to exist."""
    status, body = http.post("/v1/clients", {"email": "raced@example.com", "first_name": "First"})
    assert status == 201, body
    deps = get_deps()
    lookup = deps.client_index.client_ids_for_email_keys
    monkeypatch.setattr(
        deps.client_index,
        "client_ids_for_email_keys",
        lambda account_id, keys: {
            k: v for k, v in lookup(account_id, keys).items() if k != "raced@example.com"
        },
    )
    rows = "".join(f"new{i}@example.com;New {i}\n" for i in range(20))
    status, body = http.post(
        "/v1/clients/import", raw=f"email;first_name\n{rows}raced@example.com;Second\n".encode(), headers=CSV
    )
    assert status == 200, body
    assert body["created"] == 20 and [(s["row"], s["code"]) for s in body["skipped_rows"]] == [(21, "exists")]
    assert client_by_email(http, "raced@example.com")["first_name"] == "First"
    assert client_by_email(http, "new19@example.com")["first_name"] == "New 19"


def test_changes_several_to_a_transaction_and_a_stale_one_left_out(commits: list[int]) -> None:
    deps = get_deps()
    deps.clients.create_many([new(i) for i in range(20)])
    read = [deps.clients.get(ACCOUNT, f"cl_batch{i:04d}") for i in range(20)]
    deps.clients.update(read[7], replace(read[7], first_name="Changed meanwhile"))
    commits.clear()
    changes = [(client, replace(client, tags=["hair", "spring"])) for client in read]
    written = deps.clients.update_many(changes)
    assert [client is None for client in written] == [i == 7 for i in range(20)]
    # client, one member added, one removed: 16 to the first transaction (cancelled by the stale
    # one, then sent again without it), the last four to the second
    assert commits == [16 * 3, 15 * 3, 4 * 3]
    assert TagMemberModel.count(f"{ACCOUNT}#spring") == 19 and TagMemberModel.count(f"{ACCOUNT}#vip") == 1
    kept = deps.clients.get(ACCOUNT, "cl_batch0007")
    assert kept.first_name == "Changed meanwhile" and kept.tags == ["vip", "hair"]
    assert deps.clients.get(ACCOUNT, "cl_batch0008").version == read[8].version + 1


def test_concurrent_writers_as_on_aws_create_and_retag_every_client_once(
    http: Http, account: dict, tune: Any
) -> None:
    """The AWS stages write PERMESSO_WRITE_CONCURRENCY (8) transactions at a time: the batches of
    an import and of a bulk tag go through the thread pool, each result to its own rows."""
    from tests.integration.test_bulk_tags import assert_membership_consistent

    tune(write_concurrency=8)
    emails = [f"pool{i:03d}@example.com" for i in range(150)]
    taken = "pool007@example.com"
    status, body = http.post("/v1/clients", {"email": taken, "tags": ["old"]})
    assert status == 201, body
    rows = "".join(f"{email};Pool {i};{'vip' if i % 2 else 'hair'}\n" for i, email in enumerate(emails))
    status, body = http.post("/v1/clients/import", raw=f"email;first_name;tags\n{rows}".encode(), headers=CSV)
    assert status == 200, body
    assert body["created"] == 149 and [(s["row"], s["code"]) for s in body["skipped_rows"]] == [(8, "exists")]
    assert ClientModel.count(account["account_id"]) == 150
    assert ClientEmailModel.count(account["account_id"]) == 150
    status, body = http.post(
        "/v1/clients/bulk-tags", {"selection": {"filter": None}, "add": ["spring"], "remove": ["vip"]}
    )
    assert status == 200, body
    assert body == {"matched": 150, "updated": 150, "unchanged": 0, "too_many_tags": 0, "gone": 0}
    assert_membership_consistent(account["account_id"])
    assert TagMemberModel.count(f"{account['account_id']}#spring") == 150
    assert TagMemberModel.count(f"{account['account_id']}#vip") == 0


def test_a_collision_with_another_transaction_leaves_every_row_to_be_written_alone(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.storage.transactions import TransactionFailed

    def collided(self: Any) -> None:
        raise TransactionFailed(set(), conflicted=True)

    monkeypatch.setattr(client_storage.Transaction, "commit", collided)
    assert get_deps().clients.create_many([new(i) for i in range(3)]) == [None, None, None]
    monkeypatch.undo()
    assert ClientModel.count(ACCOUNT) == 0
