"""Security: log lines carry ids and codes only — no address, name, phone, IP, user agent or key."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.integration.conftest import Http

PERSON = {
    "email": "private.person@example.com",
    "first_name": "Quirinus",
    "last_name": "Zebedee",
    "phone": "+420 601 987 654",
    "tags": ["vip"],
}


def test_a_busy_flow_logs_no_personal_data(
    api: Any, http: Http, account: dict[str, Any], caplog: pytest.LogCaptureFixture, capsys: Any
) -> None:
    caplog.set_level("DEBUG")
    status, client = http.post("/v1/clients", PERSON)
    assert status == 201
    cid = client["client_id"]
    http.patch(f"/v1/clients/{cid}", {"last_name": "Zebedee-Smith"})
    http.put(f"/v1/clients/{cid}/consent", {"granted": True, "note": "met at the fair"})
    http.post("/v1/clients", PERSON)  # a refused duplicate logs too
    http.post("/v1/clients/search", {"filter": {"field": "email", "op": "eq", "value": PERSON["email"]}})
    http.get(f"/v1/clients/{cid}/export")
    slug = account["public_slug"]
    api.http.post(
        f"/p/forms/{slug}",
        headers={"Content-Type": "application/x-www-form-urlencoded", "User-Agent": "UniqueAgent/9.9"},
        body=f"email=other.person%40example.com&first_name=Ottilie&consent=yes&phone={urlsplit('x').path}".encode(),
    )
    http.delete(f"/v1/clients/{cid}")
    logged = caplog.text + capsys.readouterr().out
    assert "client created" in logged  # the capture works
    for secret in (
        PERSON["email"],
        "other.person@example.com",
        "Quirinus",
        "Zebedee",
        "Ottilie",
        "601 987 654",
        "met at the fair",
        "UniqueAgent",
        account["api_key"],
        "test-operator-key",
        "test-token-signing-secret",
        "test-email-hash-key",
    ):
        assert secret not in logged, secret
