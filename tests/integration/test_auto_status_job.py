"""The scheduled automatic-status job, with an injected clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.bootstrap import get_deps
from chalicelib.services.auto_status import recompute_due_statuses
from tests.integration.conftest import Http

START = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)


class MovableClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(api: Any) -> Iterator[MovableClock]:
    deps = get_deps()
    original = deps.clock
    deps.clock = MovableClock(START)
    yield deps.clock  # type: ignore[misc]
    deps.clock = original


def status(http: Http, client_id: str) -> str:
    return http.get(f"/v1/clients/{client_id}")[1]["auto_status"]


def test_statuses_follow_time_and_only_due_clients_are_visited(http: Http, clock: MovableClock) -> None:
    visit = (START - timedelta(days=10)).isoformat()
    _, regular = http.post("/v1/clients", {"email": "r@example.com", "last_visit_at": visit})
    _, newbie = http.post("/v1/clients", {"email": "n@example.com"})
    _, gone = http.post("/v1/clients", {"email": "g@example.com", "last_visit_at": "2020-01-01"})
    assert [status(http, c["client_id"]) for c in (regular, newbie, gone)] == ["active", "new", "lost"]

    clock.now = START + timedelta(days=29)
    report = recompute_due_statuses(get_deps())
    assert (report.visited, report.changed) == (0, 0)  # nothing due yet: nothing read

    clock.now = START + timedelta(days=31)
    report = recompute_due_statuses(get_deps())
    assert (report.visited, report.changed) == (1, 1)  # only the new client was due
    assert status(http, newbie["client_id"]) == "lost"

    clock.now = START + timedelta(days=81)  # 91 days after the visit
    assert recompute_due_statuses(get_deps()).changed == 1
    assert status(http, regular["client_id"]) == "lapsing"

    clock.now = START + timedelta(days=171)  # 181 days after the visit
    assert recompute_due_statuses(get_deps()).changed == 1
    assert status(http, regular["client_id"]) == "lost"
    assert recompute_due_statuses(get_deps()).visited == 0  # lost is final: left the index


def test_a_visit_recorded_meanwhile_wins(http: Http, clock: MovableClock) -> None:
    _, client = http.post("/v1/clients", {"email": "v@example.com"})
    clock.now = START + timedelta(days=40)
    status_code, body = http.patch(
        f"/v1/clients/{client['client_id']}", {"last_visit_at": clock.now.isoformat()}
    )
    assert status_code == 200 and body["auto_status"] == "active"
    report = recompute_due_statuses(get_deps())
    assert report.changed == 0
    assert status(http, client["client_id"]) == "active"


def test_an_interrupted_run_is_finished_by_the_next(http: Http, clock: MovableClock) -> None:
    ids = [http.post("/v1/clients", {"email": f"c{i}@example.com"})[1]["client_id"] for i in range(6)]
    clock.now = START + timedelta(days=31)
    first = recompute_due_statuses(get_deps(), time_budget_seconds=0.0)
    assert not first.complete
    second = recompute_due_statuses(get_deps())
    assert second.complete and first.changed + second.changed == 6
    assert {status(http, i) for i in ids} == {"lost"}


def test_the_scheduled_entry_point_runs(api: Any, clock: MovableClock, http: Http) -> None:
    http.post("/v1/clients", {"email": "s@example.com"})
    clock.now = START + timedelta(days=31)
    event = api.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
    )
    result = api.lambda_.invoke("recompute_auto_status", event)
    assert result.payload == {"visited": 1, "changed": 1, "complete": True}


def test_new_thresholds_re_evaluate_every_client(api: Any, http: Http, clock: MovableClock) -> None:
    from tests.integration.conftest import drain_jobs

    visit = (START - timedelta(days=60)).isoformat()
    ids = [
        http.post("/v1/clients", {"email": f"t{i}@example.com", "last_visit_at": visit})[1]["client_id"]
        for i in range(5)
    ]
    assert {status(http, i) for i in ids} == {"active"}  # 60 days < 90
    code, body = http.patch(
        "/v1/account/settings", {"auto_status": {"new_days": 30, "active_days": 45, "lapsing_days": 120}}
    )
    assert code == 200, body
    assert drain_jobs(api) >= 1
    assert {status(http, i) for i in ids} == {"lapsing"}  # 60 days > 45
    # unchanged thresholds start no job
    http.patch("/v1/account/settings", {"consent_only_campaigns": True})
    assert drain_jobs(api) == 0
