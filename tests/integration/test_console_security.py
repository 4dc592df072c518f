"""Security of every console route, found by iterating the app's routes (a new page is covered
as soon as it exists): another account's ids are 404 on every ``/app/`` route that takes one,
and nothing of theirs is shown or changed; every state change refuses a missing or foreign
CSRF token and a cross-site ``Origin`` and changes nothing; hostile text in every field a
client-side page shows (names, tags, statuses, custom fields, notes, list names, search and
filter values, CSV headers and cells, the job page's link back) is escaped.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, urlencode

import pytest

from tests.integration.conftest import Http
from tests.integration.console_support import ORIGIN, Browser, signed_in_owner
from tests.integration.test_html_injection import HOSTILE, assert_inert

# Routes that take no id of an account's record (their placeholders are links' tokens).
NOT_TENANT_SCOPED = {"/app/invitation/{token}", "/app/reset/{token}", "/app/static/{name}"}


def console_routes() -> list[tuple[str, str]]:
    from app import app

    return sorted(
        (path, method)
        for path, entries in app.routes.items()
        if (path == "/app" or path.startswith("/app/")) and not path.startswith("/app/static/")
        for method in entries
    )


def concrete(path: str, ids: dict[str, str]) -> str:
    for name, value in ids.items():
        path = path.replace("{" + name + "}", value)
    assert "{" not in path, f"no id for {path}: add it to the victim fixture"
    return path


@pytest.fixture
def victim(api: Any) -> dict[str, Any]:
    """Another business: an owner, a client, a list, a campaign, a job and a user, API key."""
    _, created = signed_in_owner(api, "boss@victim.example", name="Victim Salon", sender="hi@victim.example")
    http = Http(api, created["api_key"])
    _, client = http.post(
        "/v1/clients", {"email": "secret@victim.example", "first_name": "Vera", "tags": ["vip"]}
    )
    _, lst = http.post("/v1/lists", {"name": "Victim VIP", "source": {"tag": "vip"}})
    _, campaign = http.post(
        "/v1/campaigns",
        {"name": "Victim sale", "subject": "Hi", "html": "<p>x</p>", "audience": {"tag": "vip"}},
    )
    http.post("/v1/clients/bulk-tags", {"selection": {"client_ids": [client["client_id"]]}, "add": ["x"]})
    [user] = http.get("/v1/users")[1]["items"]
    [key] = http.get("/v1/api-keys")[1]["items"]
    from chalicelib.bootstrap import get_deps
    from chalicelib.domain.jobs import Job

    now = get_deps().clock()
    get_deps().jobs.create(
        Job(
            account_id=created["account_id"],
            job_id="job_victim",
            kind="bulk_tags",
            params={},
            created_at=now,
            updated_at=now,
        )
    )
    return {
        "http": http,
        "ids": {
            "client_id": client["client_id"],
            "list_id": lst["list_id"],
            "campaign_id": campaign["campaign_id"],
            "job_id": "job_victim",
            "user_id": user["user_id"],
            "key_id": key["key_id"],
        },
    }


def test_another_accounts_ids_are_not_found_on_every_console_route(api: Any, victim: dict[str, Any]) -> None:
    intruder, _ = signed_in_owner(api, "owner@intruder.example", name="Intruder", sender="i@intruder.example")
    http, ids = victim["http"], victim["ids"]
    before = http.get(f"/v1/clients/{ids['client_id']}")[1]
    tried = 0
    for path, method in console_routes():
        if "{" not in path or path in NOT_TENANT_SCOPED:
            continue
        target = concrete(path, ids)
        intruder.get("/app")
        answer = (
            intruder.get(target)
            if method == "GET"
            else intruder.post(
                target,
                {
                    "name": "Mallory",
                    "tag": "x",
                    "consent": "granted",
                    "email": "m@intruder.example",
                    "role": "staff",
                },
            )
        )
        assert answer.status == 404, (method, path, answer.status)
        for secret in ("secret@victim.example", "Vera", "Victim VIP", "Victim sale", "boss@victim.example"):
            assert secret not in answer.text, (method, path, secret)
        tried += 1
    assert tried >= 12
    assert http.get(f"/v1/clients/{ids['client_id']}")[1] == before
    assert http.get(f"/v1/lists/{ids['list_id']}")[0] == 200
    assert http.get(f"/v1/clients/{ids['client_id']}/consent")[1]["events"] == []


@pytest.mark.parametrize(
    ("csrf", "origin"), [(None, ORIGIN), ("forged", ORIGIN), (True, "https://evil.example"), (True, None)]
)
def test_every_console_form_refuses_a_forged_request_and_changes_nothing(
    api: Any, victim: dict[str, Any], csrf: Any, origin: str | None
) -> None:
    """The victim's own session, a request forged by another site: refused on every POST."""
    http, ids = victim["http"], victim["ids"]
    browser = Browser(api)
    browser.sign_in("boss@victim.example")
    before = (http.get(f"/v1/clients/{ids['client_id']}")[1], http.get("/v1/lists")[1]["items"])
    tried = 0
    for path, method in console_routes():
        if method != "POST" or path in ("/app/sign-in", "/app/forgot-password") or path in NOT_TENANT_SCOPED:
            continue
        browser.get("/app")
        answer = browser.post(
            concrete(path, ids),
            {
                "name": "Forged",
                "tag": "forged",
                "consent": "granted",
                "client_id": ids["client_id"],
                "action": "add_tag",
                "email": "x@evil.example",
                "role": "owner",
            },
            csrf=csrf,
            origin=origin,
        )
        assert answer.status == 403, (path, answer.status)
        tried += 1
    assert tried >= 10
    assert (http.get(f"/v1/clients/{ids['client_id']}")[1], http.get("/v1/lists")[1]["items"]) == before
    assert browser.get("/app").status == 200  # still signed in: nothing ended the session


def test_hostile_text_is_escaped_on_every_client_page(api: Any) -> None:
    browser, created = signed_in_owner(api)
    http = Http(api, created["api_key"])
    hostile_tag = HOSTILE[:64]
    status, client = http.post(
        "/v1/clients",
        {
            "email": "victim@example.com",
            "first_name": HOSTILE[:100],
            "last_name": HOSTILE[:100],
            "tags": [hostile_tag],
            "status": HOSTILE[:64],
            "fields": {"note": HOSTILE},
        },
    )
    assert status == 201, client
    client_id = client["client_id"]
    http.put(f"/v1/clients/{client_id}/consent", {"granted": True, "note": HOSTILE})
    _, lst = http.post("/v1/lists", {"name": HOSTILE, "source": {"client_ids": [client_id]}})
    filtered = urlencode({"q": HOSTILE, "f": "first_name", "o": "eq", "v": HOSTILE})
    pages = {
        "/app/clients": (HOSTILE[:100], hostile_tag),
        f"/app/clients?{urlencode({'f': 'first_name', 'o': 'eq', 'v': HOSTILE[:100]})}": (HOSTILE[:100],),
        f"/app/clients?{filtered}": (HOSTILE,),
        f"/app/clients?{urlencode({'f': HOSTILE, 'o': HOSTILE, 'v': HOSTILE})}": (HOSTILE,),
        f"/app/clients?{urlencode({'field': 'tags', 'op': 'starts_with', 'value': HOSTILE})}": (HOSTILE,),
        f"/app/clients/{client_id}": (HOSTILE[:100], hostile_tag, HOSTILE),
        f"/app/clients/{client_id}/erase": (HOSTILE[:100],),
        f"/app/clients/selection?{urlencode({'action': 'add_tag', 'client_id': client_id, 'q': HOSTILE})}": (),
        f"/app/clients/selection?{urlencode({'action': 'create_list', 'select': 'all', 'f': 'tags', 'o': 'contains', 'v': hostile_tag})}": (),
        "/app/lists": (HOSTILE,),
        f"/app/lists/{lst['list_id']}": (HOSTILE, HOSTILE[:100]),
        f"/app/lists/{lst['list_id']}/delete": (HOSTILE,),
        f"/app/clients?{urlencode({'done': 'tag_added', 'tag': HOSTILE, 'n': '1'})}": (HOSTILE[:64],),
    }
    for path, shows in pages.items():
        answer = browser.get(path)
        assert answer.status in (200, 400), (path, answer.status)
        assert_inert(answer.text, shows=shows, where=path)
    # the job page's link back is a console path or nothing else
    http.post("/v1/clients/bulk-tags", {"selection": {"client_ids": [client_id]}, "add": ["x"]})
    from chalicelib.bootstrap import get_deps
    from chalicelib.domain.jobs import Job

    now = get_deps().clock()
    get_deps().jobs.create(
        Job(
            account_id=created["account_id"],
            job_id="job_hostile",
            kind="bulk_tags",
            params={},
            created_at=now,
            updated_at=now,
        )
    )
    for back in ("javascript:alert(1)", "//evil.example/x", "https://evil.example", "/app\\..\\x", HOSTILE):
        answer = browser.get("/app/jobs/job_hostile?back=" + quote(back, safe=""))
        assert answer.status == 200
        assert_inert(answer.text, where=back)
        assert re.search(r'<a href="/app/clients">Back</a>', answer.text), back
    # a CSV's hostile header and cells in the preview and the report
    browser.get("/app/clients/import")
    csv = f'email,"{HOSTILE.replace(chr(34), chr(34) * 2)}",first_name\nnew@example.com,"{HOSTILE.replace(chr(34), chr(34) * 2)}","{HOSTILE[:90].replace(chr(34), chr(34) * 2)}"\nbad,,\n'
    preview = browser.upload("/app/clients/import", [("step", "preview")], {"file": ("x.csv", csv.encode())})
    assert preview.status in (200, 400)
    assert_inert(preview.text, where="import preview")
    browser.get("/app/clients/import")
    report = browser.upload("/app/clients/import", [("step", "import"), ("file", csv)], {})
    assert_inert(report.text, where="import report")


# The console's own elements a campaign page carries on purpose: the sandboxed preview frame of
# a draft and the report's chart. Each is checked for its exact shape, then set aside, so
# assert_inert still refuses any other frame or SVG (an injected one).
OWN_FRAME = re.compile(
    r'<iframe class="mail-preview" sandbox="" src="/app/campaigns/cmp_[A-Za-z0-9]+/preview(?:\?client_id=cl_[A-Za-z0-9]+)?" '
    r'title="[^"<>]*" loading="lazy"></iframe>'
)
OWN_CHART = re.compile(
    r'<svg class="chart" role="img" aria-label="[^"<>]+" viewBox="0 0 \d+ \d+" width="100%" preserveAspectRatio="xMinYMin meet">|</svg>'
)


def test_hostile_text_is_escaped_on_every_campaign_and_settings_page(api: Any) -> None:
    from tests.integration.sending_support import after_real_time, drain, simulated
    from tests.integration.test_html_injection import HOSTILE_INTEREST_URL, HOSTILE_NAME, HOSTILE_URL

    browser, created = signed_in_owner(api)
    http = Http(api, created["api_key"])
    assert (
        http.patch(
            "/v1/account/settings",
            {
                "terms_url": HOSTILE_URL,
                "legitimate_interest_url": HOSTILE_INTEREST_URL,
                "sender_name": HOSTILE_NAME,
            },
        )[0]
        == 200
    )
    _, client = http.post(
        "/v1/clients", {"email": "h@example.com", "first_name": HOSTILE[:100], "tags": [HOSTILE[:64]]}
    )
    _, lst = http.post("/v1/lists", {"name": HOSTILE, "source": {"client_ids": [client["client_id"]]}})
    ids = []
    for audience in ({"tag": HOSTILE[:64]}, {"list_id": lst["list_id"]}):
        status, campaign = http.post(
            "/v1/campaigns",
            {
                "name": HOSTILE[:200],
                "subject": HOSTILE,
                "html": f"<p>{{{{ first_name }}}}</p>{HOSTILE}",
                "audience": audience,
            },
        )
        assert status == 201, campaign
        ids.append(campaign["campaign_id"])
    status, reactivation = http.post(
        "/v1/campaigns", {"name": HOSTILE[:200], "kind": "reactivation", "audience": {"tag": HOSTILE[:64]}}
    )
    assert status == 201, reactivation
    pages = [
        "/app/campaigns",
        "/app/campaigns/new",
        "/app/campaigns/new?kind=reactivation",
        f"/app/campaigns/new?{urlencode({'f': 'first_name', 'o': 'eq', 'v': HOSTILE})}",
        "/app/settings",
    ]
    for campaign_id in [*ids, reactivation["campaign_id"]]:
        pages += [
            f"/app/campaigns/{campaign_id}",
            f"/app/campaigns/{campaign_id}?count=1",
            f"/app/campaigns/{campaign_id}?{urlencode({'client_id': HOSTILE})}",
            f"/app/campaigns/{campaign_id}/send",
            f"/app/campaigns/{campaign_id}/cancel",
            f"/app/campaigns/{campaign_id}/segment",
        ]
    for path in pages:
        answer = browser.get(path)
        assert answer.status in (200, 400), (path, answer.status)
        shown = OWN_CHART.sub("", OWN_FRAME.sub("", answer.text))
        assert_inert(shown, where=path)
    assert HOSTILE[:64] in browser.get(f"/app/campaigns/{ids[0]}").text.replace("&lt;", "<").replace(
        "&gt;", ">"
    ).replace("&#34;", '"').replace("&#39;", "'")
    # The preview document is the business's own e-mail: never the console's origin to script.
    document = browser.get(f"/app/campaigns/{ids[0]}/preview?client_id={client['client_id']}")
    assert "script-src" not in document.headers["Content-Security-Policy"]
    assert "default-src 'none'" in document.headers["Content-Security-Policy"]
    # A sent campaign's report page: the chart and the table of figures, nothing of the payload live.
    with simulated(start=after_real_time()) as (_, queue):  # the invitation went out on the real clock
        browser.get(f"/app/campaigns/{ids[0]}/send")
        assert browser.post(f"/app/campaigns/{ids[0]}/send", {"acknowledge": "1"}).status == 303
        drain(api, queue)
    report = browser.get(f"/app/campaigns/{ids[0]}")
    assert OWN_CHART.search(report.text)
    assert_inert(OWN_CHART.sub("", report.text), where="report")
