"""Security: the IP in the consent ledger, and the IP a rate limit counts, is the
connection's source address as API Gateway reports it (``requestContext.identity.sourceIp``)
— never a value from a header the client writes.

Every public route is classified below (records an IP, or records none); a new public
route fails ``test_every_public_route_is_classified`` until it is added and exercised
here. Each IP-recording route is called once per spoofing header set (every common
forwarding header, their combination and malformed values) from a known source address;
afterwards every ledger event carries that address, one event per request, and no table
holds any of the spoofed values.
"""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chalice.local import LambdaEventConverter

from chalicelib.bootstrap import get_deps
from chalicelib.domain.intake import FORM_PER_ACCOUNT_IP, FORM_PER_IP, keyed_subject
from chalicelib.storage.models import ALL_MODELS, ConsentEventModel, ThrottleModel
from tests.integration.conftest import Http, verify_sender
from tests.integration.sending_support import drain, parsed, sent_messages, simulated

SOURCE_IP = "198.51.100.7"  # what the connection (API Gateway) reports
OTHER_SOURCE_IP = "198.51.100.8"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
TERMS = "https://salon.example/terms"
INTEREST = "https://salon.example/legitimate-interest"

# Every value below is the attacker's: none may be recorded. All of them contain one of
# ``SPOOF_MARKERS`` so a scan of the tables can find any that leaked.
SPOOF_MARKERS = ("203.0.113.", "2001:db8:bad", "spoofed")
SPOOFS: list[dict[str, str]] = [
    {"X-Forwarded-For": "203.0.113.1"},
    {"X-Forwarded-For": "203.0.113.2, 203.0.113.3, 198.51.100.7"},
    {"X-Forwarded-For": "2001:db8:bad::1"},
    {"Forwarded": "for=203.0.113.4"},
    {"Forwarded": 'for="[2001:db8:bad::2]:4711";proto=https;by=203.0.113.5'},
    {"Forwarded": "for=203.0.113.6, for=203.0.113.7"},
    {"X-Real-IP": "203.0.113.8"},
    {"True-Client-IP": "203.0.113.9"},
    {"CF-Connecting-IP": "203.0.113.10"},
    {"X-Client-IP": "203.0.113.11"},
    {"X-Cluster-Client-IP": "203.0.113.12", "Client-IP": "203.0.113.13", "X-Originating-IP": "203.0.113.14"},
    {  # all at once
        "X-Forwarded-For": "203.0.113.15",
        "Forwarded": "for=203.0.113.16",
        "X-Real-IP": "203.0.113.17",
        "True-Client-IP": "203.0.113.18",
        "CF-Connecting-IP": "203.0.113.19",
        "X-Client-IP": "203.0.113.20",
    },
    # malformed
    {"X-Forwarded-For": "spoofed-not-an-ip"},
    {"X-Forwarded-For": "<script>spoofed</script>"},
    {"X-Forwarded-For": ", , 203.0.113.21,,"},
    {"X-Forwarded-For": "203.0.113.22" + ",203.0.113.23" * 300},
    {"Forwarded": "for=;spoofed;;=="},
    {"X-Real-IP": "203.0.113.24\tspoofed"},
    {"X-Forwarded-For": "unknown", "X-Real-IP": "spoofed 203.0.113.25"},
]

# Every route under /p/: the ones that record an IP (ledger evidence or a rate-limit key),
# and the ones that record none (pages that only show a form or a button).
RECORDS_IP = {
    ("/p/forms/{public_slug}", "POST"): "rate limits per business and source IP, per source IP",
    ("/p/confirm/{token}", "POST"): "ledger: granted (double opt-in)",
    ("/p/reactivation/{token}", "GET"): "ledger: opened",
    ("/p/reactivation/{token}", "POST"): "ledger: granted / denied",
    ("/p/unsubscribe/{token}", "POST"): "ledger: unsubscribed (one-click and the page's button)",
}
RECORDS_NO_IP = {
    ("/p/forms/{public_slug}", "GET"),
    ("/p/confirm/{token}", "GET"),
    ("/p/unsubscribe/{token}", "GET"),
    # Any other path under /p/: the uniform 404 page, nothing recorded.
    *(("/p/{proxy+}", method) for method in ("GET", "POST", "PUT", "PATCH", "DELETE")),
}
# The services that take the request's address; each is reached by a route above.
IP_TAKING_SERVICES = {
    "chalicelib.services.intake.submit_intake",
    "chalicelib.services.intake._check_limits",
    "chalicelib.services.intake.confirm_double_opt_in",
    "chalicelib.services.reactivation.open_link",
    "chalicelib.services.reactivation.choose",
    "chalicelib.services.unsubscribe.unsubscribe",
    # Rate-limit keys only (never stored in clear): sign-in, password reset, API authentication.
    "chalicelib.services.sessions.sign_in",
    "chalicelib.services.sessions._subjects",
    "chalicelib.services.users.request_reset",
    "chalicelib.services.api_keys.authenticate",
    "chalicelib.services.accounts.authenticate",
}
CHALICELIB = Path(__file__).resolve().parents[2] / "chalicelib"


@pytest.fixture
def source_ip(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The address ``chalice.test.Client`` puts in ``requestContext.identity.sourceIp``."""

    def use(address: str) -> None:
        monkeypatch.setattr(LambdaEventConverter, "LOCAL_SOURCE_IP", address)

    use(SOURCE_IP)
    yield use


def ledger(account_id: str, client_id: str) -> list[Any]:
    return list(ConsentEventModel.query(f"{account_id}#{client_id}"))


def assert_nothing_spoofed_was_stored() -> None:
    for model in ALL_MODELS:
        for item in model.scan():
            text = str(item.attribute_values)
            leaked = [marker for marker in SPOOF_MARKERS if marker in text]
            assert not leaked, (model.__name__, leaked)


def assert_ledger_ips(events: list[Any], expected_count: int) -> None:
    assert len(events) == expected_count
    assert {event.ip for event in events} == {SOURCE_IP}


# --- the inventory ---------------------------------------------------------------------------


def test_every_public_route_is_classified() -> None:
    from app import app

    public = {
        (path, method) for path, entries in app.routes.items() if path.startswith("/p/") for method in entries
    }
    assert public == set(RECORDS_IP) | RECORDS_NO_IP


def test_only_the_known_services_take_an_address() -> None:
    import importlib
    import pkgutil

    import chalicelib.services as services

    taking = set()
    for module_info in pkgutil.iter_modules(services.__path__):
        module = importlib.import_module(f"chalicelib.services.{module_info.name}")
        for name, function in inspect.getmembers(module, inspect.isfunction):
            if (
                function.__module__ == module.__name__
                and "source_ip" in inspect.signature(function).parameters
            ):
                taking.add(f"{module.__name__}.{name}")
    assert taking == IP_TAKING_SERVICES


def _python_sources() -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(CHALICELIB.rglob("*.py")):
        yield path, ast.parse(path.read_text(encoding="utf-8"))


def test_no_code_reads_a_forwarding_header_and_every_recorded_ip_is_the_source_ip() -> None:
    header_names = re.compile(
        r"forwarded|real-ip|client-ip|connecting-ip|originating-ip|x-cluster", re.IGNORECASE
    )
    readers_of_source_ip = []
    evidence_sites = []
    for path, tree in _python_sources():
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                assert not header_names.search(node.value), (path.name, node.value)
                if node.value == "sourceIp":
                    readers_of_source_ip.append(path.relative_to(CHALICELIB).as_posix())
            # Ledger evidence: every ``ConsentChange(ip=...)`` passes the request's ``source_ip``.
            if isinstance(node, ast.Call) and ast.unparse(node.func).endswith("ConsentChange"):
                for keyword in node.keywords:
                    if keyword.arg == "ip":
                        evidence_sites.append(path.name)
                        assert isinstance(keyword.value, ast.Name) and keyword.value.id == "source_ip", (
                            path.name,
                            ast.unparse(keyword.value),
                        )
    assert readers_of_source_ip == ["api/connection.py"]  # ``source_ip(request)``, and nothing else
    # confirm_double_opt_in, open_link, choose, unsubscribe
    assert sorted(evidence_sites) == ["intake.py", "reactivation.py", "reactivation.py", "unsubscribe.py"]


# --- the intake form's rate limit ------------------------------------------------------------


def _throttle_buckets() -> dict[str, int]:
    return {item.bucket: int(item.count or 0) for item in ThrottleModel.scan()}


def test_intake_rate_limit_counts_the_source_address(
    api: Any, account: dict[str, Any], source_ip: Any
) -> None:
    deps = get_deps()
    path = f"/p/forms/{account['public_slug']}"
    limit = FORM_PER_ACCOUNT_IP.limit
    statuses = []
    for i, spoof in enumerate(SPOOFS):
        body = f"email=visitor{i}%40example.com".encode()
        statuses.append(api.http.post(path, headers={**FORM, **spoof}, body=body).status_code)
    within = min(len(SPOOFS), limit)
    assert statuses[:within] == [200] * within and set(statuses[within:]) <= {429}

    now = deps.clock()
    counted = _throttle_buckets()
    key = deps.email_hash_key
    per_business = FORM_PER_ACCOUNT_IP.bucket(
        keyed_subject(key, "ip", f"{account['account_id']}|{SOURCE_IP}"), now
    )
    per_ip = FORM_PER_IP.bucket(keyed_subject(key, "ip", SOURCE_IP), now)
    assert counted[per_business] == within and counted[per_ip] == within
    ip_buckets = {
        b for b in counted if b.startswith((f"{FORM_PER_ACCOUNT_IP.name}#", f"{FORM_PER_IP.name}#"))
    }
    assert ip_buckets == {per_business, per_ip}  # no counter keyed by any header value

    # Spoofed headers never make a new visitor once the address is over its limit ...
    for i in range(within, limit):
        api.http.post(path, headers=FORM, body=f"email=more{i}%40example.com".encode())
    for spoof in SPOOFS:
        response = api.http.post(path, headers={**FORM, **spoof}, body=b"email=late%40example.com")
        assert response.status_code == 429, spoof
    # ... while another connection address is a new visitor.
    source_ip(OTHER_SOURCE_IP)
    assert api.http.post(path, headers=FORM, body=b"email=other%40example.com").status_code == 200
    assert_nothing_spoofed_was_stored()


# --- ledger evidence -------------------------------------------------------------------------


def test_double_opt_in_confirmation_records_the_source_address(
    api: Any, http: Http, account: dict[str, Any], mail_ready: None, source_ip: Any
) -> None:
    form = f"/p/forms/{account['public_slug']}"
    response = api.http.post(form, headers=FORM, body=b"email=joe%40example.com&consent=yes")
    assert response.status_code == 200
    [message] = sent_messages()
    [link] = set(
        re.findall(r"https://permesso\.test(/p/confirm/[A-Za-z0-9._~-]+)", parsed(message).as_string())
    )
    client_id = http.get("/v1/clients")[1]["items"][0]["client_id"]  # pending: in no search yet

    for spoof in SPOOFS:
        assert api.http.get(link, headers=spoof).status_code == 200  # records nothing
        response = api.http.post(link, headers={**FORM, **spoof}, body=b"confirm=yes")
        assert response.status_code == 200, spoof

    assert_ledger_ips(ledger(account["account_id"], client_id), len(SPOOFS))
    status, consent = http.get(f"/v1/clients/{client_id}/consent")
    assert status == 200 and {event["ip"] for event in consent["events"]} == {SOURCE_IP}
    assert_nothing_spoofed_was_stored()


@pytest.fixture
def reactivation_links(
    api: Any, http: Http, account: dict[str, Any], source_ip: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, dict[str, str]]]:
    """A reactivation campaign sent to one client: its id and the e-mail's CTA paths."""
    verify_sender("hello@salon.example")
    status, client = http.post("/v1/clients", {"email": "ann@example.com", "tags": ["old"]})
    assert status == 201
    with simulated() as (_time, queue):
        status, campaign = http.post(
            "/v1/campaigns",
            {
                "name": "Still with us?",
                "kind": "reactivation",
                "audience": {"tag": "old"},
                "terms_url": TERMS,
                "legitimate_interest_url": INTEREST,
            },
        )
        assert status == 201, campaign
        assert http.post(f"/v1/campaigns/{campaign['campaign_id']}/send", {})[0] == 202
        drain(api, queue)
        [message] = sent_messages()
        html = parsed(message).get_body(preferencelist=("html",)).get_content()
        links = {
            cta: href.removeprefix("https://permesso.test")
            for href, cta in re.findall(r'href="([^"]+)" data-cta="([a-z]+)"', html)
        }
        assert set(links) == {"confirm", "decline", "unsubscribe"}
        yield client["client_id"], links


def test_reactivation_open_and_choices_record_the_source_address(
    api: Any, account: dict[str, Any], reactivation_links: tuple[str, dict[str, str]]
) -> None:
    client_id, links = reactivation_links
    for spoof in SPOOFS:
        for cta in ("confirm", "decline"):
            assert api.http.get(links[cta], headers=spoof).status_code == 200, spoof
            response = api.http.post(links[cta], headers={**FORM, **spoof}, body=b"choice=x")
            assert response.status_code == 200, spoof

    events = ledger(account["account_id"], client_id)
    assert sorted({event.type for event in events}) == ["denied", "granted", "opened"]
    # every choice (POST) is an event; an opening (GET) once per link per hour
    assert_ledger_ips(events, 2 * len(SPOOFS) + 2)
    assert_nothing_spoofed_was_stored()


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/x-www-form-urlencoded", b"List-Unsubscribe=One-Click"),  # RFC 8058
        (
            "multipart/form-data; boundary=x",
            b'--x\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\nOne-Click\r\n--x--\r\n',
        ),
        ("application/x-www-form-urlencoded", b"unsubscribe=yes"),  # the page's button
        ("text/plain", b""),
    ],
    ids=["one-click", "one-click-multipart", "page-button", "empty-text"],
)
def test_unsubscribe_records_the_source_address(
    api: Any,
    account: dict[str, Any],
    reactivation_links: tuple[str, dict[str, str]],
    content_type: str,
    body: bytes,
) -> None:
    client_id, links = reactivation_links
    for spoof in SPOOFS:
        assert api.http.get(links["unsubscribe"], headers=spoof).status_code == 200  # records nothing
        response = api.http.post(
            links["unsubscribe"], headers={"Content-Type": content_type, **spoof}, body=body
        )
        assert response.status_code == 200, spoof

    events = ledger(account["account_id"], client_id)
    assert {event.type for event in events} == {"unsubscribed"}
    assert_ledger_ips(events, len(SPOOFS))
    assert_nothing_spoofed_was_stored()


# --- the console's sign-in and the API's authentication ----------------------------------------


def test_sign_in_and_api_authentication_limits_count_the_source_address(
    api: Any, source_ip: Any, monkeypatch: pytest.MonkeyPatch, tune: Any
) -> None:
    """Failures from one connection address are counted together whatever forwarding headers
    say; the same headers from another address start a fresh count."""
    from datetime import UTC, datetime

    from chalicelib.services import api_keys

    moment = datetime(2026, 11, 22, 10, 0, 5, tzinfo=UTC)  # one fixed window, however slow the run
    tune().clock = lambda: moment
    from tests.integration.console_support import Browser

    monkeypatch.setattr(api_keys, "_BLOCKED", {})
    statuses = []
    for n in range(api_keys.API_AUTH_PER_IP.limit + 1):
        headers = {**SPOOFS[n % len(SPOOFS)], "Authorization": "Bearer pm_" + "Q" * 43}
        statuses.append(Http(api, None).get("/v1/account", headers=headers)[0])
    assert statuses[-1] == 429 and statuses[:-1] == [401] * api_keys.API_AUTH_PER_IP.limit
    for n in range(30):
        browser = Browser(api)
        browser.get("/app/sign-in")
        answer = browser.post(
            "/app/sign-in",
            {"email": f"guess{n}@salon.example", "password": "wrong password but long"},
            headers=SPOOFS[n % len(SPOOFS)],
        )
        assert answer.status == 401
    browser = Browser(api)
    browser.get("/app/sign-in")
    assert browser.post("/app/sign-in", {"email": "x@salon.example", "password": "p" * 12}).status == 429
    source_ip(OTHER_SOURCE_IP)
    monkeypatch.setattr(api_keys, "_BLOCKED", {})
    assert Http(api, None).get("/v1/account", headers={"Authorization": "Bearer pm_" + "Q" * 43})[0] == 401
    browser = Browser(api)
    browser.get("/app/sign-in")
    assert (
        browser.post(
            "/app/sign-in", {"email": "x@salon.example", "password": "p" * 12}, headers=SPOOFS[0]
        ).status
        == 401
    )
    assert_nothing_spoofed_was_stored()
