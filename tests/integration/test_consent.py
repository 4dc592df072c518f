"""The consent ledger through the HTTP API: state + events, staff changes, atomicity, concurrency."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.bootstrap import get_deps
from chalicelib.domain.consent import ConsentState, EventType, Source, replay
from chalicelib.domain.contact import email_hash
from chalicelib.storage.models import ClientModel, ConsentEventModel, SuppressionModel
from tests.integration.conftest import Http, create_account

ANNA = {"email": "anna@example.com", "first_name": "Anna", "last_name": "Nováková"}


@pytest.fixture
def client_id(http: Http) -> str:
    status, body = http.post("/v1/clients", ANNA)
    assert status == 201, body
    return str(body["client_id"])


def ledger(account_id: str, client_id: str) -> list[ConsentEventModel]:
    return list(ConsentEventModel.query(f"{account_id}#{client_id}"))


def test_new_client_has_unknown_consent_and_empty_ledger(http: Http, client_id: str) -> None:
    status, body = http.get(f"/v1/clients/{client_id}/consent")
    assert status == 200, body
    assert body["state"] == "unknown" and body["confirmed_at"] is None and body["events"] == []


def test_staff_grant_is_recorded_with_actor_and_shown_on_the_client(http: Http, client_id: str) -> None:
    status, body = http.put(
        f"/v1/clients/{client_id}/consent", {"granted": True, "note": "signed paper form"}
    )
    assert status == 200, body
    assert body["state"] == "granted" and body["source"] == "staff"
    assert body["confirmed_at"] is not None
    [event] = body["events"]
    assert event["type"] == "granted" and event["source"] == "staff"
    [key] = http.get("/v1/api-keys")[1]["items"]
    assert event["actor"] == key["key_id"]  # the id of the API key that made the change
    assert event["note"] == "signed paper form"
    assert event["at"].endswith("Z") and event["ip"] is None
    for name in (
        "type",
        "at",
        "source",
        "ip",
        "user_agent",
        "campaign_id",
        "terms_url",
        "legitimate_interest_url",
        "actor",
    ):
        assert name in event
    status, client = http.get(f"/v1/clients/{client_id}")
    assert client["consent"] == {"state": "granted", "confirmed_at": body["confirmed_at"], "source": "staff"}


def test_same_state_twice_logs_two_events_and_later_choice_wins(http: Http, client_id: str) -> None:
    path = f"/v1/clients/{client_id}/consent"
    assert http.put(path, {"granted": True})[0] == 200
    assert http.put(path, {"granted": True})[0] == 200
    status, body = http.put(path, {"granted": False})
    assert status == 200
    assert [e["type"] for e in body["events"]] == ["granted", "granted", "denied"]
    assert body["state"] == "denied" and body["confirmed_at"] is None
    status, body = http.put(path, {"granted": True})
    assert body["state"] == "granted"
    assert [e["type"] for e in body["events"]] == ["granted", "granted", "denied", "granted"]
    ids = [e["event_id"] for e in body["events"]]
    assert ids == sorted(ids) and len(set(ids)) == 4


def test_confirmed_at_is_the_most_recent_confirmation(http: Http, client_id: str) -> None:
    deps = get_deps()
    first = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
    deps.clock = lambda: first
    try:
        http.put(f"/v1/clients/{client_id}/consent", {"granted": True})
        deps.clock = lambda: first + timedelta(days=3)
        _status, body = http.put(f"/v1/clients/{client_id}/consent", {"granted": True})
    finally:
        deps.clock = type(deps).clock  # the dataclass default: the system clock
    assert body["confirmed_at"] == "2026-11-04T09:00:00Z"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"granted": "yes"},
        {"granted": 1},
        {"granted": True, "extra": 1},
        {"granted": True, "note": 5},
        {"granted": True, "note": "x" * 1001},
        {"granted": True, "note": "bad\x07"},
    ],
)
def test_invalid_staff_consent_is_a_400_with_details(http: Http, client_id: str, body: dict) -> None:
    status, answer = http.put(f"/v1/clients/{client_id}/consent", body)
    assert status == 400, answer
    assert answer["error"]["code"] == "invalid_input" and answer["error"]["details"]


def test_malformed_json_is_a_400(http: Http, client_id: str) -> None:
    status, answer = http.put(f"/v1/clients/{client_id}/consent", raw=b"{granted")
    assert status == 400 and answer["error"]["code"] == "invalid_json"


def test_other_accounts_client_is_not_found(api: Any, http: Http, client_id: str) -> None:
    other = Http(api, create_account(api, "Other", "o@other.example")["api_key"])
    assert other.get(f"/v1/clients/{client_id}/consent")[0] == 404
    assert other.put(f"/v1/clients/{client_id}/consent", {"granted": True})[0] == 404
    assert http.get("/v1/clients/cl_nope/consent")[0] == 404
    assert http.get(f"/v1/clients/{client_id}/consent")[1]["events"] == []


def test_needs_a_valid_api_key(api: Any, client_id: str) -> None:
    assert Http(api, None).get(f"/v1/clients/{client_id}/consent")[0] == 401
    assert Http(api, "pm_wrong").put(f"/v1/clients/{client_id}/consent", {"granted": True})[0] == 401


def test_concurrent_staff_updates_never_lose_an_event(http: Http, account: dict, client_id: str) -> None:
    results: list[tuple[bool, int]] = []
    lock = threading.Lock()

    def put(granted: bool) -> None:
        status, _ = http.put(f"/v1/clients/{client_id}/consent", {"granted": granted})
        with lock:
            results.append((granted, status))

    threads = [threading.Thread(target=put, args=(i % 2 == 0,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [status for _, status in results] == [200] * 10
    _status, body = http.get(f"/v1/clients/{client_id}/consent")
    events = body["events"]
    assert len(events) == 10
    assert sorted(e["type"] for e in events) == ["denied"] * 5 + ["granted"] * 5
    # The client shows exactly what its newest event says.
    assert body["state"] == events[-1]["type"]
    stored = ledger(account["account_id"], client_id)
    assert len(stored) == 10
    item = ClientModel.get(account["account_id"], client_id)
    assert item.consent_event_id == stored[-1].event_id


def test_ledger_replay_proves_the_client_state(http: Http, account: dict, client_id: str) -> None:
    for granted in (True, False, True, True, False, True):
        http.put(f"/v1/clients/{client_id}/consent", {"granted": granted})
    deps = get_deps()
    events = deps.consent.events(account["account_id"], client_id)
    client = deps.clients.get(account["account_id"], client_id)
    proven = replay(events)
    assert proven.state.value == client.consent_state == "granted"
    assert proven.confirmed_at == client.consent_confirmed_at


class _FailingClientCondition:
    """Adds a condition on the client that can never hold to every consent transaction."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import chalicelib.storage.consent as consent_storage

        original = consent_storage.Transaction

        class Sabotaged(original):  # type: ignore[misc, valid-type]
            def update(self, model: Any, actions: list[Any], label: str, condition: Any = None) -> None:
                super().update(model, actions, label, condition=ClientModel.version == -1)

        monkeypatch.setattr(consent_storage, "Transaction", Sabotaged)


def test_a_failed_transaction_leaves_neither_event_nor_state(
    http: Http, account: dict, client_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = http.get(f"/v1/clients/{client_id}")[1]
    _FailingClientCondition(monkeypatch)
    status, body = http.put(f"/v1/clients/{client_id}/consent", {"granted": True})
    assert status == 409 and body["error"]["code"] == "concurrent_modification"
    assert ledger(account["account_id"], client_id) == []
    monkeypatch.undo()
    after = http.get(f"/v1/clients/{client_id}")[1]
    assert after == before


def test_a_failed_transaction_writes_no_suppression_either(
    http: Http, account: dict, client_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.errors import ConcurrentModification
    from chalicelib.services.consent import ConsentChange, record_consent

    deps = get_deps()
    acct = deps.accounts.get(account["account_id"])
    _FailingClientCondition(monkeypatch)
    with pytest.raises(ConcurrentModification):
        record_consent(
            deps, acct, client_id, ConsentChange(EventType.UNSUBSCRIBED, Source.ONE_CLICK_UNSUBSCRIBE)
        )
    assert ledger(account["account_id"], client_id) == []
    assert list(SuppressionModel.query(account["account_id"])) == []
    assert ClientModel.get(account["account_id"], client_id).suppressed is False


def _record(account_id: str, client_id: str, event_type: EventType, source: Source, **evidence: Any) -> Any:
    from chalicelib.services.consent import ConsentChange, record_consent

    deps = get_deps()
    return record_consent(
        deps, deps.accounts.get(account_id), client_id, ConsentChange(event_type, source, **evidence)
    )


def test_unsubscribe_suppresses_the_address_in_the_same_change(
    http: Http, account: dict, client_id: str
) -> None:
    http.put(f"/v1/clients/{client_id}/consent", {"granted": True})
    record = _record(
        account["account_id"],
        client_id,
        EventType.UNSUBSCRIBED,
        Source.ONE_CLICK_UNSUBSCRIBE,
        campaign_id="cmp_1",
        ip="198.51.100.7",
    )
    assert record.client.suppressed and record.client.consent_state == "denied"
    entry = SuppressionModel.get(account["account_id"], email_hash(get_deps().email_hash_key, ANNA["email"]))
    assert entry.reason == "unsubscribed" and entry.campaign_id == "cmp_1"
    # A later staff grant without saying how the client consented again is refused
    # (API.md, second round): the address stays unmailable.
    status, body = http.put(f"/v1/clients/{client_id}/consent", {"granted": True})
    assert status == 400 and body["error"]["code"] == "note_required"
    assert http.get(f"/v1/clients/{client_id}")[1]["suppressed"] is True


def test_reactivation_decline_then_confirm_lifts_only_the_decline(
    account: dict, http: Http, client_id: str
) -> None:
    key = get_deps().email_hash_key
    declined = _record(account["account_id"], client_id, EventType.DENIED, Source.REACTIVATION_CAMPAIGN)
    assert declined.client.suppressed
    assert SuppressionModel.get(account["account_id"], email_hash(key, ANNA["email"])).reason == "declined"
    confirmed = _record(account["account_id"], client_id, EventType.GRANTED, Source.REACTIVATION_CAMPAIGN)
    assert confirmed.client.consent_state == "granted" and not confirmed.client.suppressed
    assert list(SuppressionModel.query(account["account_id"])) == []


def test_a_bounce_keeps_a_decline_from_being_lifted(account: dict, http: Http, client_id: str) -> None:
    key = get_deps().email_hash_key
    _record(account["account_id"], client_id, EventType.DENIED, Source.REACTIVATION_CAMPAIGN)
    _record(account["account_id"], client_id, EventType.BOUNCED, Source.BOUNCE)
    assert SuppressionModel.get(account["account_id"], email_hash(key, ANNA["email"])).reason == "hard_bounce"
    confirmed = _record(account["account_id"], client_id, EventType.GRANTED, Source.REACTIVATION_CAMPAIGN)
    assert confirmed.client.suppressed  # a permanent reason is never lifted
    assert confirmed.client.consent_state == ConsentState.GRANTED.value


def test_staff_denial_does_not_suppress(http: Http, client_id: str) -> None:
    _status, body = http.put(f"/v1/clients/{client_id}/consent", {"granted": False})
    assert body["state"] == "denied" and body["suppressed"] is False


# --- API.md, second round: consent never returns to unknown; a client's own refusal is lifted
# only by a documented new consent -------------------------------------------------------------


def _refuse_by_client(account_id: str, client_id: str, event: EventType, source: Source) -> None:
    from chalicelib.services.consent import ConsentChange, record_consent

    deps = get_deps()
    record_consent(deps, deps.accounts.get(account_id), client_id, ConsentChange(type=event, source=source))


@pytest.mark.parametrize(
    ("event", "source"),
    [
        (EventType.DENIED, Source.REACTIVATION_CAMPAIGN),  # declined through the e-mail
        (EventType.UNSUBSCRIBED, Source.ONE_CLICK_UNSUBSCRIBE),
        (EventType.COMPLAINED, Source.COMPLAINT),
    ],
)
def test_staff_consent_over_the_clients_own_refusal_needs_a_note(
    http: Http, account: dict[str, Any], client_id: str, event: EventType, source: Source
) -> None:
    _refuse_by_client(account["account_id"], client_id, event, source)
    path = f"/v1/clients/{client_id}/consent"
    before = http.get(path)[1]
    assert before["suppressed"] is True
    for body in ({"granted": True}, {"granted": True, "note": "   "}):
        status, answer = http.put(path, body)
        assert status == 400 and answer["error"]["code"] == "note_required", answer
        assert answer["error"]["details"][0]["field"] == "note"
    assert http.get(path)[1] == before  # nothing recorded
    status, after = http.put(path, {"granted": True, "note": "asked again at the counter, signed form 12"})
    assert status == 200 and after["state"] == "granted" and after["suppressed"] is False
    assert after["events"][-1]["note"] == "asked again at the counter, signed form 12"
    status, client = http.get(f"/v1/clients/{client_id}")
    assert client["suppressed"] is False and client["consent"]["state"] == "granted"


def test_a_staff_denial_can_be_corrected_without_a_note_and_consent_never_returns_to_unknown(
    http: Http, client_id: str
) -> None:
    path = f"/v1/clients/{client_id}/consent"
    assert http.put(path, {"granted": False})[1]["state"] == "denied"
    assert http.put(path, {"granted": True})[1]["state"] == "granted"  # staff's own denial: no note
    states = {e["type"] for e in http.get(path)[1]["events"]}
    assert states == {"denied", "granted"}
    assert http.put(path, {"granted": False})[1]["state"] == "denied"  # never unknown again
