"""Security: log lines carry ids and codes only — no address, name, phone, IP, user agent or key."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
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


# --- every log line of a whole flow: forms, links with tokens, campaigns, keys --------------

SOURCE_IP = "198.51.100.77"
AGENT = "Mozilla/5.0 (SecretAgent 4.2)"
FORM = {"Content-Type": "application/x-www-form-urlencoded", "User-Agent": AGENT}


class _KeepEverything(logging.Handler):
    """Every record of every logger, with its extra keys and arguments, as text."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        fields = {k: v for k, v in vars(record).items() if k not in ("msg", "args")}
        self.lines.append(f"{record.getMessage()} {json.dumps(fields, default=str)}")


@pytest.fixture
def every_log_line(monkeypatch: pytest.MonkeyPatch) -> Iterator[_KeepEverything]:
    from chalicelib.observability import logger

    keep = _KeepEverything()
    targets = [logging.getLogger(), logging.getLogger(logger.name), logging.getLogger("permesso")]
    saved = [(target, target.level) for target in targets]
    for target in targets:
        target.addHandler(keep)
        target.setLevel(logging.DEBUG)
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "DEBUG")
    try:
        yield keep
    finally:
        for target, level in saved:
            target.removeHandler(keep)
            target.setLevel(level)


def test_a_full_flow_logs_no_key_token_address_or_agent(
    api: Any,
    account: dict[str, Any],
    every_log_line: _KeepEverything,
    capsys: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from chalice.local import LambdaEventConverter

    from tests.integration.conftest import verify_sender
    from tests.integration.sending_support import after_real_time, drain, parsed, sent_messages, simulated

    monkeypatch.setattr(LambdaEventConverter, "LOCAL_SOURCE_IP", SOURCE_IP)
    verify_sender("hello@salon.example")
    key = account["api_key"]
    http = Http(api, key)
    headers = {"User-Agent": AGENT}
    assert (
        http.patch(
            "/v1/account/settings",
            {
                "terms_url": "https://salon.example/terms",
                "legitimate_interest_url": "https://salon.example/li",
            },
            headers=headers,
        )[0]
        == 200
    )
    assert Http(api, key + "x").get("/v1/account")[0] == 401  # a wrong key is logged as a refusal
    assert Http(api, "test-operator-key").get("/v1/account")[0] in (401, 403)

    # The intake form and its double opt-in (a token in the link's path).
    slug = account["public_slug"]
    body = b"email=intake.person%40example.com&first_name=Wilhelmina&last_name=Quast&phone=%2B420601111222&consent=yes"
    assert api.http.post(f"/p/forms/{slug}", headers=FORM, body=body).status_code == 200
    [doi] = sent_messages()
    tokens = re.findall(r"/p/confirm/([A-Za-z0-9._~-]+)", parsed(doi).as_string())
    assert tokens
    assert api.http.get(f"/p/confirm/{tokens[0]}", headers=headers).status_code == 200
    assert api.http.post(f"/p/confirm/{tokens[0]}", headers=FORM, body=b"confirm=yes").status_code == 200
    assert api.http.post(f"/p/confirm/{tokens[0]}x", headers=FORM, body=b"c=1").status_code == 404

    # A reactivation campaign: its links carry tokens too.
    status, client = http.post(
        "/v1/clients",
        {"email": "lapsed.person@example.com", "first_name": "Bartholomew", "tags": ["old"]},
        headers=headers,
    )
    assert status == 201
    with simulated(start=after_real_time()) as (_time, queue):  # the opt-in mail went out on the real clock
        status, campaign = http.post(
            "/v1/campaigns", {"name": "Back?", "kind": "reactivation", "audience": {"tag": "old"}}
        )
        assert status == 201, campaign
        assert http.post(f"/v1/campaigns/{campaign['campaign_id']}/send", {})[0] == 202
        drain(api, queue)
    mail = parsed(sent_messages()[-1])
    html = mail.get_body(preferencelist=("html",)).get_content()
    links = dict(
        (cta, href)
        for href, cta in re.findall(r'href="https://permesso\.test([^"]+)" data-cta="([a-z]+)"', html)
    )
    for cta in ("confirm", "decline"):
        assert api.http.get(links[cta], headers=headers).status_code == 200
        assert api.http.post(links[cta], headers=FORM, body=b"choice=x").status_code == 200
    assert (
        api.http.post(links["unsubscribe"], headers=FORM, body=b"List-Unsubscribe=One-Click").status_code
        == 200
    )
    tokens += [path.rsplit("/", 1)[-1] for path in links.values()]
    http.delete(f"/v1/clients/{client['client_id']}")

    logged = "\n".join(every_log_line.lines) + capsys.readouterr().out
    assert "unsubscribed" in logged and "reactivation choice recorded" in logged  # the capture works
    secrets = [
        key,
        f"Bearer {key}",
        key[-12:],  # no fragment of a key either
        "test-operator-key",
        "test-token-signing-secret",
        "test-email-hash-key",
        SOURCE_IP,
        "SecretAgent",
        "intake.person",
        "lapsed.person",
        "Wilhelmina",
        "Quast",
        "Bartholomew",
        "601111222",
        *tokens,
        *(token[:24] for token in tokens),
    ]
    for secret in secrets:
        assert secret not in logged, secret


def test_identity_flows_log_no_address_password_token_or_session(
    api: Any, every_log_line: _KeepEverything, capsys: Any
) -> None:
    """Invitation, password, sign-in (right and wrong), reset, sign-out: ids and codes only."""
    from tests.integration.console_support import (
        Browser,
        accept_invitation,
        create_account_with_owner,
        link_in_mail,
    )

    owner, password = "private.owner@example.com", "a very private passphrase"
    created = create_account_with_owner(api, owner)
    invitation = link_in_mail(owner, "/app/invitation/")
    browser = accept_invitation(api, owner, password)
    assert browser.sign_in(owner, password).status == 303
    session = browser.cookies["permesso_session"]
    assert Browser(api).sign_in(owner, "a wrong but long passphrase").status == 401
    assert Browser(api).sign_in("unknown.person@example.com", password).status == 401
    visitor = Browser(api)
    visitor.get("/app/forgot-password")
    assert visitor.post("/app/forgot-password", {"email": owner}).status == 200
    reset = link_in_mail(owner, "/app/reset/")
    browser.get("/app")
    assert browser.post("/app/sign-out").status == 303
    _, key = Http(api, created["api_key"]).post("/v1/api-keys", {"name": "Private key name"})
    logged = "\n".join(every_log_line.lines) + capsys.readouterr().out
    assert "signed in" in logged and "sign-in refused" in logged  # the capture works
    for secret in (
        owner,
        "private.owner",
        "unknown.person",
        password,
        "wrong but long",
        invitation.rsplit("/", 1)[1],
        reset.rsplit("/", 1)[1],
        session,
        created["api_key"],
        key["api_key"],
    ):
        assert secret not in logged, secret
