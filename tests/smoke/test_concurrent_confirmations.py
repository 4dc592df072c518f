"""Reliability through the real local stack: 200 simultaneous double opt-in confirmations for
distinct clients and 50 for one client — every event recorded once, every state right.

Confirmation links are minted with the stack's own signing keys (what the e-mail would
carry), so the test needs no mailbox; the POSTs go over real HTTP to `chalice local`,
whose Lambda-like handlers write to the moto server concurrently.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from chalicelib.domain.contact import email_hash
from chalicelib.domain.intake import mint_double_opt_in
from chalicelib.domain.signing import KeyRing
from local.run import local_secrets
from tests.smoke.test_local_stack import HTTP_TIMEOUT, OPERATOR_KEY, Stack, every_client, stack  # noqa: F401

pytestmark = pytest.mark.smoke

DISTINCT = 200
SAME = 50
FORM = {"Content-Type": "application/x-www-form-urlencoded", "User-Agent": "ConcurrencyTest/1.0"}


@pytest.fixture(scope="module")
def account(stack: Stack) -> Iterator[dict[str, Any]]:  # noqa: F811
    response = requests.post(
        f"{stack.api}/v1/accounts",
        json={"name": "Busy Salon", "sender_email": "busy@salon.example"},
        headers={"Authorization": f"Bearer {OPERATOR_KEY}"},
        timeout=HTTP_TIMEOUT,
    )
    assert response.status_code == 201, response.text
    yield response.json()


def post_all(urls: list[str], workers: int) -> list[int]:
    with requests.Session() as session, ThreadPoolExecutor(max_workers=workers) as pool:
        adapter = requests.adapters.HTTPAdapter(pool_connections=workers, pool_maxsize=workers)
        session.mount("http://", adapter)
        return list(
            pool.map(
                lambda url: session.post(url, data="confirm=yes", headers=FORM, timeout=60).status_code, urls
            )
        )


def test_simultaneous_confirmations(stack: Stack, account: dict[str, Any]) -> None:  # noqa: F811
    auth = {"Authorization": f"Bearer {account['api_key']}"}
    secrets = local_secrets(stack.state_dir)
    ring = KeyRing.parse(secrets["PERMESSO_TOKEN_KEYS"])
    hash_key = secrets["PERMESSO_EMAIL_HASH_KEY"].encode()
    # The clients come from one CSV import, as a salon's would (201 rows: applied in the request).
    emails = [f"person{i}@example.com" for i in range(DISTINCT + 1)]
    answer = requests.post(
        f"{stack.api}/v1/clients/import",
        data=("email\n" + "".join(f"{email}\n" for email in emails)).encode(),
        headers={**auth, "Content-Type": "text/csv"},
        timeout=HTTP_TIMEOUT,
    )
    assert answer.status_code == 200 and answer.json()["created"] == DISTINCT + 1, answer.text
    ids = {client["email"]: client["client_id"] for client in every_client(stack.api, auth)}
    clients = [(ids[email], email) for email in emails]
    now = datetime.now(UTC)

    def link(client_id: str, email: str) -> str:
        token = mint_double_opt_in(ring, account["account_id"], client_id, email_hash(hash_key, email), now)
        return f"{stack.api}/p/confirm/{token}"

    distinct = [link(cid, email) for cid, email in clients[:DISTINCT]]
    one = link(*clients[DISTINCT])
    statuses = post_all(distinct + [one] * SAME, workers=32)
    assert statuses == [200] * (DISTINCT + SAME)

    with requests.Session() as session:
        for i, (client_id, _) in enumerate(clients):
            ledger = session.get(
                f"{stack.api}/v1/clients/{client_id}/consent", headers=auth, timeout=HTTP_TIMEOUT
            )
            body = ledger.json()
            expected = SAME if i == DISTINCT else 1
            assert body["state"] == "granted", body
            assert len(body["events"]) == expected, (i, body)
            assert all(e["type"] == "granted" and e["source"] == "intake_form" for e in body["events"])
            assert all(
                e["ip"] == "127.0.0.1" and e["user_agent"] == "ConcurrencyTest/1.0" for e in body["events"]
            )
            assert len({e["event_id"] for e in body["events"]}) == expected  # each recorded once
