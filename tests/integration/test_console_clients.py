"""The console's client pages through the Chalice test client, like a browser without
JavaScript: the clients page (search, the filter builder, the count, selection, bulk tags as a
job with progress, lists from a filter or a selection), the client card (profile, consent and its
history, the GDPR download, erasure), lists, the job page, and every refusal."""

from __future__ import annotations

import json
import re
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from tests.integration.conftest import Http, drain_jobs
from tests.integration.console_support import Browser, signed_in_owner, signed_in_staff

OWNER = "owner@salon.example"


@pytest.fixture
def owner(api: Any) -> tuple[Browser, dict[str, Any]]:
    return signed_in_owner(api, OWNER)


@pytest.fixture
def salon(api: Any, owner: tuple[Browser, dict[str, Any]]) -> dict[str, Any]:
    """Five clients: two VIPs, one who confirmed consent, one Czech, one Italian."""
    browser, created = owner
    http = Http(api, created["api_key"])
    people = [
        {"email": "anna@example.com", "first_name": "Anna", "last_name": "Nováková", "tags": ["vip"]},
        {"email": "bea@example.com", "first_name": "Bea", "tags": ["vip", "nails"], "language": "it"},
        {"email": "cyril@example.com", "first_name": "Cyril", "status": "regular"},
        {"email": "dana@example.com", "first_name": "Dana", "phone": "+420 601 111 222"},
        {"email": "emil@example.com", "first_name": "Emil", "fields": {"visits": 12}},
    ]
    ids = {}
    for person in people:
        status, body = http.post("/v1/clients", person)
        assert status == 201, body
        ids[person["first_name"].lower()] = body["client_id"]
    status, _ = http.put(f"/v1/clients/{ids['cyril']}/consent", {"granted": True})
    assert status == 200
    return {"browser": browser, "http": http, "ids": ids, **created}


def emails(html: str) -> list[str]:
    return re.findall(r'<td class="cell-email"><a href="/app/clients/cl_[^"]+">([^<]+)</a>', html)


def query_of(location: str | None) -> dict[str, list[str]]:
    assert location is not None
    return parse_qs(urlsplit(location).query, keep_blank_values=True)


# --- the clients page ------------------------------------------------------------------------


def test_the_clients_page_lists_clients_with_their_columns(salon: dict[str, Any]) -> None:
    page = salon["browser"].get("/app/clients")
    assert page.status == 200
    assert sorted(emails(page.text)) == [f"{n}@example.com" for n in ("anna", "bea", "cyril", "dana", "emil")]
    html = page.text
    assert html.count("<h1") == 1 and "<title>Clients – Salon Bella</title>" in html  # noqa: RUF001 (the page title's dash)
    for header in ("Email", "Name", "Tags", "Status", "Automatic status", "Consent"):
        assert f'<th scope="col">{header}</th>' in html, header
    assert "5 clients match" in html
    assert '<span class="tag">vip</span>' in html and "Anna Nováková" in html
    assert 'aria-current="page">Clients</a>' in html
    # the names the acceptance tests drive
    for label in ("Search", "Field", "Operator", "Value", "Select all on this page"):
        assert re.search(rf'<label class="[^"]*" for="[^"]+">{label}</label>', html), label
    for button in ("Add condition", "Apply", "Add tag", "Remove tag", "Create list"):
        assert re.search(rf"<button [^>]*>{button}</button>", html), button
    assert re.search(r"<button [^>]*>Select all 5 matching clients</button>", html)
    assert html.count('data-row-select=""') == 5


def test_every_field_and_operator_of_the_filter_language_is_offered(salon: dict[str, Any]) -> None:
    from chalicelib.domain.filters import ALL_OPS, FIELDS

    html = salon["browser"].get("/app/clients").text
    field_select = html[html.index('id="f-field"') : html.index("</select>", html.index('id="f-field"'))]
    op_select = html[html.index('id="f-op"') : html.index("</select>", html.index('id="f-op"'))]
    offered_fields = set(re.findall(r'<option value="([^"]*)"', field_select)) - {""}
    offered_ops = set(re.findall(r'<option value="([^"]*)"', op_select)) - {""}
    assert offered_fields == set(FIELDS) | {"fields."}
    assert offered_ops == set(ALL_OPS)
    assert '<option value="consent.confirmed_at">Confirmation date</option>' in field_select
    assert '<option value="is_set">is filled</option>' in op_select


def test_a_condition_goes_into_the_url_and_filters(salon: dict[str, Any]) -> None:
    browser = salon["browser"]
    answer = browser.get(
        "/app/clients?" + urlencode({"field": "tags", "op": "contains", "value": "vip", "apply": "1"})
    )
    assert answer.status == 303
    assert query_of(answer.location) == {"f": ["tags"], "o": ["contains"], "v": ["vip"]}
    assert answer.location.endswith("#results")
    page = browser.get(answer.location.split("#")[0])
    assert sorted(emails(page.text)) == ["anna@example.com", "bea@example.com"]
    assert "2 clients match" in page.text
    assert "Tags has <strong>vip</strong>" in page.text
    # a second condition: "Add condition" keeps the first and returns to the builder
    second = browser.get(
        answer.location.split("#")[0]
        + "&"
        + urlencode({"field": "language", "op": "eq", "value": "it", "add": "1"})
    )
    assert second.status == 303 and second.location.endswith("#filter")
    assert query_of(second.location)["f"] == ["tags", "language"]
    page = browser.get(second.location.split("#")[0])
    assert emails(page.text) == ["bea@example.com"]
    # "any" of them
    both = query_of(second.location)
    page = browser.get("/app/clients?" + urlencode({**both, "match": "any"}, doseq=True))
    assert sorted(emails(page.text)) == ["anna@example.com", "bea@example.com"]
    # removing a condition is a link without it
    remove = re.search(r'<a href="(/app/clients\?[^"]+)">Remove condition 1</a>', page.text).group(1)  # type: ignore[union-attr]
    assert query_of(unescape(remove))["f"] == ["language"]


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ({"field": "consent.confirmed_at", "op": "is_set"}, ["cyril"]),
        ({"field": "consent.state", "op": "eq", "value": "granted"}, ["cyril"]),
        ({"field": "consent.state", "op": "in", "value": "unknown, denied"}, ["anna", "bea", "dana", "emil"]),
        ({"field": "status", "op": "eq", "value": "regular"}, ["cyril"]),
        ({"field": "auto_status", "op": "eq", "value": "new"}, ["anna", "bea", "cyril", "dana", "emil"]),
        ({"field": "tags", "op": "not_contains", "value": "vip"}, ["cyril", "dana", "emil"]),
        ({"field": "tags", "op": "in", "value": "nails,missing"}, ["bea"]),
        ({"field": "phone", "op": "is_set"}, ["dana"]),
        ({"field": "first_name", "op": "starts_with", "value": "c"}, ["cyril"]),
        ({"field": "suppressed", "op": "eq", "value": "no"}, ["anna", "bea", "cyril", "dana", "emil"]),
        (
            {"field": "created_at", "op": "after", "value": "2000-01-01"},
            ["anna", "bea", "cyril", "dana", "emil"],
        ),
        ({"field": "created_at", "op": "before", "value": "2000-01-01"}, []),
        ({"field": "fields.", "custom_field": "visits", "op": "gt", "value": "10"}, ["emil"]),
        ({"field": "email", "op": "eq", "value": "DANA@example.com"}, ["dana"]),
        ({"field": "last_visit_at", "op": "is_not_set"}, ["anna", "bea", "cyril", "dana", "emil"]),
    ],
)
def test_the_builder_covers_the_filter_language(
    salon: dict[str, Any], row: dict[str, str], expected: list[str]
) -> None:
    browser = salon["browser"]
    answer = browser.get("/app/clients?" + urlencode({**row, "apply": "1"}))
    assert answer.status == 303, answer.text
    page = browser.get(answer.location.split("#")[0])
    assert page.status == 200
    assert sorted(emails(page.text)) == [f"{name}@example.com" for name in expected]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"field": "tags", "op": "starts_with", "value": "v"}, "“starts with” does not apply to “Tags”"),
        ({"field": "created_at", "op": "after", "value": "soon"}, "Enter a date like 2026-03-31"),
        ({"field": "suppressed", "op": "eq", "value": "maybe"}, "Enter yes or no"),
        ({"field": "auto_status", "op": "eq", "value": "asleep"}, "Enter new, active, lapsing or lost"),
        ({"field": "first_name", "op": "eq", "value": ""}, "Enter a value"),
        ({"field": "first_name", "op": ""}, "Choose an operator"),
        ({"field": "fields.", "op": "eq", "value": "x"}, "Enter the name of the custom field"),
        ({"field": "nonsense", "op": "eq", "value": "x"}, "Choose a field"),
    ],
)
def test_a_wrong_condition_is_explained_beside_its_input(
    salon: dict[str, Any], row: dict[str, str], message: str
) -> None:
    page = salon["browser"].get("/app/clients?" + urlencode({**row, "apply": "1"}))
    assert page.status == 400
    assert "There is a problem" in page.text and message in unescape(page.text)
    assert len(emails(page.text)) == 5  # the results of the filter as it was


def test_free_text_search(salon: dict[str, Any]) -> None:
    browser = salon["browser"]
    for q, expected in (
        ("nov", ["anna"]),
        ("bea@example.com", ["bea"]),
        ("+420", ["dana"]),
        ("nails", ["bea"]),
    ):
        page = browser.get("/app/clients?" + urlencode({"q": q}))
        assert sorted(emails(page.text)) == [f"{name}@example.com" for name in expected], q


def test_pages_follow_the_cursor(salon: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.api.console import clients

    monkeypatch.setattr(clients, "PAGE_SIZE", 2)
    browser = salon["browser"]
    seen: list[str] = []
    page = browser.get("/app/clients")
    for _ in range(5):
        seen += emails(page.text)
        found = re.search(r'<a href="([^"]+)" rel="next">Next page</a>', page.text)
        if not found:
            break
        page = browser.get(unescape(found.group(1)))
        assert "First page" in page.text
    assert sorted(seen) == [f"{n}@example.com" for n in ("anna", "bea", "cyril", "dana", "emil")]
    tampered = browser.get("/app/clients?cursor=forged")
    assert tampered.status == 400 and "out of date" in tampered.text


# --- selection and bulk tags -----------------------------------------------------------------


def test_add_a_tag_to_ticked_clients(salon: dict[str, Any]) -> None:
    browser, http, ids = salon["browser"], salon["http"], salon["ids"]
    browser.get("/app/clients")
    confirm = browser.get(
        "/app/clients/selection?"
        + urlencode([("action", "add_tag"), ("client_id", ids["dana"]), ("client_id", ids["emil"])])
    )
    assert confirm.status == 200
    assert (
        "data-dialog-content" in confirm.text
        and "The tag is added to the 2 selected clients." in confirm.text
    )
    assert re.search(r'<label class="label" for="f-tag">Tag</label>', confirm.text)
    assert re.search(r"<button [^>]*>Add tag</button>", confirm.text)
    fields = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">', confirm.text))
    assert fields["action"] == "add_tag"
    answer = browser.post(
        "/app/clients/tags",
        [
            *[(k, v) for k, v in fields.items() if k != "csrf_token"],
            ("client_id", ids["dana"]),
            ("client_id", ids["emil"]),
            ("tag", "spring"),
        ],  # type: ignore[arg-type]
    )
    assert answer.status == 303, answer.text
    assert query_of(answer.location)["done"] == ["tag_added"]
    assert "The tag “spring” was added to 2 clients." in browser.get(answer.location).text
    assert http.get(f"/v1/clients/{ids['dana']}")[1]["tags"] == ["spring"]
    assert http.get(f"/v1/clients/{ids['anna']}")[1]["tags"] == ["vip"]
    # and removed again, actor recorded nowhere but the change itself
    browser.get("/app/clients")
    removed = browser.post(
        "/app/clients/tags", [("action", "remove_tag"), ("client_id", ids["dana"]), ("tag", "spring")]
    )  # type: ignore[arg-type]
    assert removed.status == 303
    assert http.get(f"/v1/clients/{ids['dana']}")[1]["tags"] == []


def test_select_every_match_and_tag_them_with_a_job_and_its_progress(
    salon: dict[str, Any], api: Any, tune: Any
) -> None:
    browser, http = salon["browser"], salon["http"]
    tune(bulk_sync_limit=1, job_chunk_items=1)  # a "large" selection: handled by a job
    filtered = urlencode({"f": "first_name", "o": "is_set", "v": ""})
    answer = browser.get(f"/app/clients/selection?{filtered}&action=select_all")
    assert answer.status == 303 and query_of(answer.location)["select"] == ["all"]
    page = browser.get(answer.location.split("#")[0])
    assert "All 5 matching clients are selected." in page.text
    assert page.text.count(" checked data-row-select") == 5
    confirm = browser.get(f"/app/clients/selection?{filtered}&select=all&action=add_tag")
    assert "The tag is added to all 5 clients that match the filter." in confirm.text
    started = browser.post(
        "/app/clients/tags",
        {"action": "add_tag", "select": "all", "f": "first_name", "o": "is_set", "v": "", "tag": "promo"},
    )
    assert started.status == 303 and started.location.startswith("/app/jobs/job_"), started.text
    job_page = browser.get(started.location)
    assert job_page.status == 200
    assert 'role="progressbar"' in job_page.text and "data-poll=" in job_page.text
    drain_jobs(api)
    done = browser.get(started.location)
    assert "data-poll=" not in done.text and "Done" in done.text and "Changed: 5" in done.text
    back = re.search(r'<a href="([^"]+)">Back</a>', done.text).group(1)  # type: ignore[union-attr]
    assert unescape(back).startswith("/app/clients?f=first_name")
    for client_id in salon["ids"].values():
        assert "promo" in http.get(f"/v1/clients/{client_id}")[1]["tags"]


def test_nothing_selected_asks_to_select(salon: dict[str, Any]) -> None:
    browser = salon["browser"]
    page = browser.get("/app/clients/selection?action=add_tag")
    assert page.status == 200 and "No client is selected" in page.text
    browser.get("/app/clients")
    assert browser.post("/app/clients/tags", {"action": "add_tag", "tag": "x"}).status == 400
    # a list, though, is made from the current filter when nothing is ticked
    page = browser.get(
        "/app/clients/selection?"
        + urlencode({"action": "create_list", "f": "tags", "o": "contains", "v": "vip"})
    )
    assert "all 2 clients that match the filter" in page.text
    answer = browser.post("/app/clients/lists", {"f": "tags", "o": "contains", "v": "vip", "name": "VIPs"})
    assert answer.status == 303
    lst = salon["http"].get("/v1/lists/" + answer.location.split("/")[-1].split("?")[0])[1]
    assert lst["size"] == 2 and lst["source"] == {
        "filter": {"field": "tags", "op": "contains", "value": "vip"}
    }


def test_a_tag_is_required_and_checked(salon: dict[str, Any]) -> None:
    browser, ids = salon["browser"], salon["ids"]
    browser.get("/app/clients")
    empty = browser.post("/app/clients/tags", {"action": "add_tag", "client_id": ids["anna"], "tag": ""})
    assert empty.status == 400 and "Enter a tag" in empty.text
    long = browser.post("/app/clients/tags", {"action": "add_tag", "client_id": ids["anna"], "tag": "x" * 65})
    assert long.status == 400 and "at most 64 characters" in long.text


def test_select_all_on_this_page_works_without_javascript(salon: dict[str, Any]) -> None:
    browser, http, ids = salon["browser"], salon["http"], salon["ids"]
    page = browser.get("/app/clients?" + urlencode({"f": "tags", "o": "contains", "v": "vip"}))
    page_ids = re.findall(r'<input type="hidden" name="page_id" value="([^"]+)">', page.text)
    assert sorted(page_ids) == sorted([ids["anna"], ids["bea"]])
    confirm = browser.get(
        "/app/clients/selection?"
        + urlencode([("action", "add_tag"), ("page", "1")] + [("page_id", i) for i in page_ids])
    )
    assert "the 2 selected clients" in confirm.text
    answer = browser.post(
        "/app/clients/tags",
        [("action", "add_tag"), ("page", "1"), *[("page_id", i) for i in page_ids], ("tag", "gold")],
    )  # type: ignore[arg-type]
    assert answer.status == 303
    assert "gold" in http.get(f"/v1/clients/{ids['bea']}")[1]["tags"]
    assert "gold" not in http.get(f"/v1/clients/{ids['cyril']}")[1]["tags"]


def test_create_a_list_from_the_filter_and_from_a_selection(salon: dict[str, Any]) -> None:
    browser, http, ids = salon["browser"], salon["http"], salon["ids"]
    confirm = browser.get(
        "/app/clients/selection?"
        + urlencode(
            {"f": "consent.confirmed_at", "o": "is_set", "v": "", "select": "all", "action": "create_list"}
        )
    )
    assert re.search(r'<label class="label" for="f-name">List name</label>', confirm.text)
    assert re.search(r"<button [^>]*>Create list</button>", confirm.text)
    answer = browser.post(
        "/app/clients/lists",
        {"f": "consent.confirmed_at", "o": "is_set", "v": "", "select": "all", "name": "Confirmed"},
    )
    assert answer.status == 303 and answer.location.startswith("/app/lists/lst_"), answer.text
    list_id = answer.location.split("/")[-1].split("?")[0]
    listed = http.get(f"/v1/lists/{list_id}")[1]
    assert listed["size"] == 1 and listed["name"] == "Confirmed"
    assert listed["source"] == {"filter": {"field": "consent.confirmed_at", "op": "is_set"}}
    page = browser.get(answer.location)
    assert "The list has been created." in page.text and "cyril@example.com" in page.text
    browser.get("/app/clients")
    answer = browser.post(
        "/app/clients/lists", [("client_id", ids["anna"]), ("client_id", ids["emil"]), ("name", "Two")]
    )  # type: ignore[arg-type]
    list_id = answer.location.split("/")[-1].split("?")[0]
    assert http.get(f"/v1/lists/{list_id}")[1]["size"] == 2
    browser.get("/app/clients")
    nameless = browser.post("/app/clients/lists", {"client_id": ids["anna"], "name": ""})
    assert nameless.status == 400 and "Enter a name for the list" in nameless.text


# --- lists ------------------------------------------------------------------------------------


def test_lists_pages_and_deletion(salon: dict[str, Any]) -> None:
    browser, http = salon["browser"], salon["http"]
    status, lst = http.post("/v1/lists", {"name": "VIP", "source": {"tag": "vip"}})
    assert status == 201
    page = browser.get("/app/lists")
    assert page.status == 200 and "VIP" in page.text and "Tag “vip”" in page.text
    assert re.search(r'<td class="num">2</td>', page.text)
    detail = browser.get(f"/app/lists/{lst['list_id']}")
    assert sorted(emails(detail.text)) == ["anna@example.com", "bea@example.com"]
    confirm = browser.get(f"/app/lists/{lst['list_id']}/delete")
    assert "Delete the list “VIP”?" in confirm.text and "data-dialog-content" in confirm.text
    answer = browser.post(f"/app/lists/{lst['list_id']}/delete")
    assert answer.status == 303 and answer.location == "/app/lists?done=deleted"
    assert http.get(f"/v1/lists/{lst['list_id']}")[0] == 404


def test_a_list_links_to_its_clients_in_the_filter_builder(salon: dict[str, Any]) -> None:
    """The filter language's ``lists`` field in the console: a list's page links to the clients
    page filtered on its members, which the other conditions can then narrow."""
    browser, http = salon["browser"], salon["http"]
    _, lst = http.post("/v1/lists", {"name": "VIP", "selection": {"tag": "vip"}})
    http.post("/v1/clients", {"email": "zoe@example.com", "tags": ["vip"]})  # after the snapshot
    detail = browser.get(f"/app/lists/{lst['list_id']}")
    link = re.search(r'<a href="(/app/clients\?f=lists&amp;o=contains&amp;v=lst_[^"]+)">', detail.text)
    assert link, detail.text
    page = browser.get(unescape(link.group(1)))
    assert page.status == 200, page.text
    assert sorted(emails(page.text)) == ["anna@example.com", "bea@example.com"]
    narrowed = browser.get(unescape(link.group(1)) + "&f=tags&o=contains&v=nails")
    assert emails(narrowed.text) == ["bea@example.com"]
    missing = browser.get("/app/clients?f=lists&o=contains&v=lst_00000000000000000000000000")
    assert missing.status == 400 and "There is no such list" in missing.text


# --- the client card ------------------------------------------------------------------------------


def test_tick_consent_on_the_card_records_a_staff_event_by_the_user(salon: dict[str, Any]) -> None:
    browser, http, ids = salon["browser"], salon["http"], salon["ids"]
    card = browser.get(f"/app/clients/{ids['anna']}")
    assert card.status == 200 and '<h1 class="card-title">Anna Nováková</h1>' in card.text
    assert re.search(
        r'<label class="checkbox__label" for="f-consent">Consent to campaigns</label>', card.text
    )
    assert len(re.findall(r"<button [^>]*>Save</button>", card.text)) == 1
    answer = browser.post(
        f"/app/clients/{ids['anna']}/consent", {"consent": "granted", "note": "Signed at the desk"}
    )
    assert answer.status == 303
    consent = http.get(f"/v1/clients/{ids['anna']}/consent")[1]
    assert consent["state"] == "granted"
    [event] = consent["events"]
    assert (
        event["source"] == "staff"
        and event["actor"].startswith("usr_")
        and event["note"] == "Signed at the desk"
    )
    card = browser.get(answer.location)
    assert "The consent has been saved." in card.text
    history = card.text[card.text.index('id="history-table"') :]
    for header in ("Date", "Change", "Source", "IP address", "By whom", "Terms shown"):
        assert f'<th scope="col">{header}</th>' in history, header
    assert "Consent granted" in history and "Staff" in history and OWNER in history
    # saving the same state changes nothing; unticking a granted consent denies it
    assert (
        "Nothing changed"
        in browser.get(
            browser.post(f"/app/clients/{ids['anna']}/consent", {"consent": "granted"}).location
        ).text
    )
    browser.get(f"/app/clients/{ids['anna']}")
    browser.post(f"/app/clients/{ids['anna']}/consent", {})
    assert http.get(f"/v1/clients/{ids['anna']}")[1]["consent"]["state"] == "denied"
    # unticked on an unknown consent records nothing
    browser.get(f"/app/clients/{ids['dana']}")
    browser.post(f"/app/clients/{ids['dana']}/consent", {})
    assert http.get(f"/v1/clients/{ids['dana']}/consent")[1]["events"] == []


def test_the_profile_is_edited_on_the_card(salon: dict[str, Any]) -> None:
    browser, http, ids = salon["browser"], salon["http"], salon["ids"]
    card = browser.get(f"/app/clients/{ids['bea']}")
    assert 'value="vip, nails"' in card.text
    fields = {
        "email": "bea@example.com",
        "first_name": "Beatrice",
        "last_name": "Rossi",
        "phone": "",
        "language": "it",
        "status": "regular",
        "last_visit_at": "2026-03-01",
        "tags": "vip, hair",
    }
    answer = browser.post(f"/app/clients/{ids['bea']}", fields)
    assert answer.status == 303, answer.text
    client = http.get(f"/v1/clients/{ids['bea']}")[1]
    assert client["first_name"] == "Beatrice" and client["last_name"] == "Rossi"
    assert client["tags"] == ["vip", "hair"] and client["last_visit_at"] == "2026-03-01T00:00:00Z"
    browser.get(f"/app/clients/{ids['bea']}")
    bad = browser.post(
        f"/app/clients/{ids['bea']}", {**fields, "email": "not an address", "phone": "call me"}
    )
    assert bad.status == 400 and "There is a problem" in bad.text
    assert 'href="#f-email"' in bad.text and 'href="#f-phone"' in bad.text
    browser.get(f"/app/clients/{ids['bea']}")
    taken = browser.post(f"/app/clients/{ids['bea']}", {**fields, "email": "anna@example.com"})
    assert taken.status == 409 and "Another client already has this email address" in taken.text


def test_a_new_client_is_added_from_the_console(salon: dict[str, Any]) -> None:
    browser, http = salon["browser"], salon["http"]
    assert browser.get("/app/clients/new").status == 200
    answer = browser.post(
        "/app/clients/new",
        {
            "email": "filip@example.com",
            "first_name": "Filip",
            "tags": "new, desk",
            "last_name": "",
            "phone": "",
            "language": "",
            "status": "",
            "last_visit_at": "",
        },
    )
    assert answer.status == 303 and answer.location.startswith("/app/clients/cl_")
    client = http.get("/v1/clients/" + answer.location.split("/")[-1].split("?")[0])[1]
    assert client["tags"] == ["new", "desk"] and client["first_name"] == "Filip"
    browser.get("/app/clients/new")
    assert browser.post("/app/clients/new", {"email": ""}).status == 400


def test_download_data_is_the_gdpr_export(salon: dict[str, Any]) -> None:
    browser, http, ids = salon["browser"], salon["http"], salon["ids"]
    answer = browser.get(f"/app/clients/{ids['cyril']}/export")
    assert answer.status == 200
    assert answer.headers["Content-Disposition"] == f'attachment; filename="client-{ids["cyril"]}.json"'
    assert answer.headers["Cache-Control"] == "no-store"
    document = json.loads(answer.text)
    api_export = http.get(f"/v1/clients/{ids['cyril']}/export")[1]
    assert (
        document["client"] == api_export["client"]
        and document["consent_events"] == api_export["consent_events"]
    )


def test_an_owner_erases_a_client_after_a_confirmation_naming_them(salon: dict[str, Any]) -> None:
    browser, http, ids = salon["browser"], salon["http"], salon["ids"]
    confirm = browser.get(f"/app/clients/{ids['anna']}/erase")
    assert confirm.status == 200 and "Erase Anna Nováková?" in confirm.text
    assert "anna@example.com" in confirm.text and re.search(
        r"<button [^>]*>Erase client</button>", confirm.text
    )
    answer = browser.post(f"/app/clients/{ids['anna']}/erase")
    assert answer.status == 303 and answer.location == "/app/clients?done=erased"
    assert http.get(f"/v1/clients/{ids['anna']}")[0] == 404
    assert browser.get(f"/app/clients/{ids['anna']}").status == 404


def test_staff_work_with_clients_but_cannot_erase(api: Any, salon: dict[str, Any]) -> None:
    staff = signed_in_staff(api, salon["api_key"])
    ids = salon["ids"]
    card = staff.get(f"/app/clients/{ids['bea']}")
    assert card.status == 200 and "Erase client" not in card.text and "Download data" in card.text
    assert staff.get(f"/app/clients/{ids['bea']}/erase").status == 403
    staff.get("/app/clients")
    assert staff.post(f"/app/clients/{ids['bea']}/erase").status == 403
    assert salon["http"].get(f"/v1/clients/{ids['bea']}")[0] == 200
    staff.get(f"/app/clients/{ids['bea']}")
    assert staff.post(f"/app/clients/{ids['bea']}/consent", {"consent": "granted"}).status == 303
    [event] = salon["http"].get(f"/v1/clients/{ids['bea']}/consent")[1]["events"]
    assert (
        event["actor"].startswith("usr_")
        and "staff@salon.example" in staff.get(f"/app/clients/{ids['bea']}").text
    )


# --- language ---------------------------------------------------------------------------------


def test_a_czech_account_reads_czech_with_czech_numbers_and_dates(api: Any) -> None:
    from tests.integration.conftest import OPERATOR, verify_sender
    from tests.integration.console_support import accept_invitation

    verify_sender("ahoj@krasa.example")
    status, created = Http(api, None).post(
        "/v1/accounts",
        {
            "name": "Salon Krása",
            "sender_email": "ahoj@krasa.example",
            "owner_email": "majitel@salon.example",
            "language": "cs",
        },
        headers=OPERATOR,
    )
    assert status == 201, created
    browser = accept_invitation(api, "majitel@salon.example")
    assert browser.sign_in("majitel@salon.example").status == 303
    http = Http(api, created["api_key"])
    status, client = http.post("/v1/clients", {"email": "jana@example.com", "first_name": "Jana"})
    http.put(f"/v1/clients/{client['client_id']}/consent", {"granted": True})
    page = browser.get("/app/clients")
    assert '<html lang="cs">' in page.text
    assert "Odpovídajících klientů: 1" in page.text and "Přidat štítek" in page.text
    for english in ("Add tag", "Select all", "Clients match", "Search", "Operator</label>"):
        assert english not in page.text, english
    card = browser.get(f"/app/clients/{client['client_id']}")
    assert "Souhlas s kampaněmi" in card.text and "Historie souhlasu" in card.text
    assert re.search(r"\d{1,2}\. \d{1,2}\. \d{4}|\d{1,2}\. [a-zúěščřžýáíé]+ \d{4}", card.text), "a Czech date"


def test_formats_follow_the_locale() -> None:
    from datetime import UTC, datetime

    from chalicelib.api.console.formatting import Formats

    moment = datetime(2026, 1, 31, 10, 5, tzinfo=UTC)
    assert Formats("en").number(12345) == "12,345"
    assert Formats("cs").number(12345) == "12\xa0345"
    assert Formats("it").number(12345) == "12.345"
    assert "Jan" in Formats("en").datetime(moment) and "10:05" in Formats("en").datetime(moment)
    assert Formats("cs").datetime(moment).startswith("31. 1. 2026")
    assert "gen" in Formats("it").datetime(moment)


# --- import -------------------------------------------------------------------------------------

CSV = (
    "First name;Last name;E-mail;Tags;Note\n"
    "Jana;Nováková;jana@example.com;vip|nails;likes tea\n"
    "Petr;Svoboda;not-an-address;;\n"
    "Anna;Dup;anna@example.com;;\n"
).encode()


def test_import_previews_the_mapping_then_imports_with_a_report(salon: dict[str, Any]) -> None:
    browser, http = salon["browser"], salon["http"]
    form = browser.get("/app/clients/import")
    assert form.status == 200 and 'enctype="multipart/form-data"' in form.text
    assert re.search(r'<label class="label" for="f-file">CSV file</label>', form.text)
    preview = browser.upload("/app/clients/import", [("step", "preview")], {"file": ("clients.csv", CSV)})
    assert preview.status == 200, preview.text
    mapping = preview.text[
        preview.text.index('id="mapping-table"') : preview.text.index(
            "</table>", preview.text.index('id="mapping-table"')
        )
    ]
    for header, target in (
        ("First name", "First name"),
        ("Last name", "Last name"),
        ("E-mail", "Email"),
        ("Tags", "Tags"),
    ):
        assert re.search(rf"<td>{header}</td><td>{target}</td>", mapping), (header, target)
    assert "The file has 3 rows" in preview.text and "<td>Jana</td>" in preview.text
    assert http.get("/v1/clients")[1]["items"] and "jana@example.com" not in json.dumps(
        http.get("/v1/clients")[1]
    )
    file_text = unescape(
        re.search(
            r'<textarea name="file" hidden aria-hidden="true">(.*?)</textarea>', preview.text, re.S
        ).group(1)
    )  # type: ignore[union-attr]
    report = browser.upload("/app/clients/import", [("step", "import"), ("file", file_text)], {})
    assert report.status == 200, report.text
    assert re.search(r"<dt>Clients added</dt><dd>1</dd>", report.text)
    assert re.search(r"<dt>Rows with errors</dt><dd>1</dd>", report.text)
    assert re.search(r"<dt>Rows skipped</dt><dd>1</dd>", report.text)
    assert "Not imported: error" in report.text and "Skipped" in report.text
    found = http.post(
        "/v1/clients/search", {"filter": {"field": "email", "op": "eq", "value": "jana@example.com"}}
    )[1]
    [jana] = found["items"]
    assert jana["tags"] == ["vip", "nails"] and jana["last_name"] == "Nováková"
    # "Note" is no column the import knows: shown as left out, reported, not a custom field
    assert re.search(
        r"<td>Note</td><td><span class=\"muted\">Not imported: not a column we recognise</span></td>", mapping
    )
    assert "Columns not recognised, not imported: Note" in report.text
    assert jana["fields"] == {}


def test_a_large_import_continues_in_the_background_with_its_progress_and_report(
    salon: dict[str, Any], api: Any, tune: Any
) -> None:
    browser, http = salon["browser"], salon["http"]
    tune(import_inline_rows=1)  # a "large" file: imported by a job
    browser.get("/app/clients/import")
    started = browser.upload("/app/clients/import", [("step", "import"), ("file", CSV.decode())], {})
    assert started.status == 303 and started.location.startswith("/app/jobs/job_"), started.text
    running = browser.get(started.location)
    assert running.status == 200 and "<h1>Importing clients</h1>" in running.text
    assert "the import continues in the background" in running.text and "data-poll=" in running.text
    assert 'role="progressbar"' in running.text
    drain_jobs(api)
    done = browser.get(started.location)
    assert "data-poll=" not in done.text and "Done" in done.text
    assert re.search(r"<dt>Clients added</dt><dd>1</dd>", done.text)
    assert re.search(r"<dt>Rows skipped</dt><dd>1</dd>", done.text)
    assert re.search(r"<dt>Rows with errors</dt><dd>1</dd>", done.text)
    assert re.search(r'<td class="num">2</td><td>Not imported: error</td>', done.text)
    back = re.search(r'<a href="([^"]+)">Back</a>', done.text).group(1)  # type: ignore[union-attr]
    assert unescape(back).endswith("/app/clients/import")
    found = http.post(
        "/v1/clients/search", {"filter": {"field": "email", "op": "eq", "value": "jana@example.com"}}
    )[1]
    assert [c["last_name"] for c in found["items"]] == ["Nováková"]


def test_import_keeps_other_columns_as_custom_fields_only_when_asked(salon: dict[str, Any]) -> None:
    browser, http = salon["browser"], salon["http"]
    browser.get("/app/clients/import")
    csv = "Nome;Cognome;E-mail;Ultima visita;Note\nMarta;Bianchi;marta@example.com;2026-01-10;likes tea\n"
    preview = browser.upload(
        "/app/clients/import",
        [("step", "preview"), ("custom_fields", "1")],
        {"file": ("c.csv", csv.encode())},
    )
    assert preview.status == 200, preview.text
    for header, target in (("Nome", "First name"), ("Cognome", "Last name"), ("Ultima visita", "Last visit")):
        assert re.search(rf"<td>{header}</td><td>{target}</td>", preview.text), header
    assert "<td>Note</td><td>Custom field “note”</td>" in preview.text
    assert '<input type="hidden" name="custom_fields" value="1">' in preview.text
    assert "Other columns are imported as custom fields." in preview.text
    report = browser.upload(
        "/app/clients/import", [("step", "import"), ("custom_fields", "1"), ("file", csv)], {}
    )
    assert report.status == 200 and re.search(r"<dt>Clients added</dt><dd>1</dd>", report.text)
    [marta] = http.post(
        "/v1/clients/search", {"filter": {"field": "email", "op": "eq", "value": "marta@example.com"}}
    )[1]["items"]
    assert marta["first_name"] == "Marta" and marta["fields"] == {"note": "likes tea"}
    assert marta["last_visit_at"].startswith("2026-01-10")


def test_import_refuses_what_it_cannot_read(salon: dict[str, Any]) -> None:
    browser = salon["browser"]
    browser.get("/app/clients/import")
    empty = browser.upload("/app/clients/import", [("step", "preview")], {"file": ("x.csv", b"")})
    assert empty.status == 400 and "Choose a CSV file" in empty.text
    browser.get("/app/clients/import")
    latin = browser.upload(
        "/app/clients/import",
        [("step", "preview")],
        {"file": ("x.csv", "email;Name\na@b.cz;Jürgen Müller\n".encode("latin-1"))},
    )
    assert latin.status == 400 and "CSV UTF-8" in unescape(latin.text)
    browser.get("/app/clients/import")
    no_email = browser.upload(
        "/app/clients/import", [("step", "preview")], {"file": ("x.csv", b"name\nJana\n")}
    )
    assert no_email.status == 400 and "email column" in no_email.text
