"""The console's campaign pages through the Chalice test client, like a browser without
JavaScript: the list, a new campaign and a new reactivation campaign (prefilled), the
campaign's page with its sandboxed preview and counts, sending with the pre-send warning and
"Send anyway", pause/resume/cancel, the report and its SVG chart, and the reactivation flow up
to the list of confirmed (early, after a confirmation)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import unescape
from typing import Any

import pytest

from tests.integration.conftest import Http, drain_jobs
from tests.integration.console_support import Browser, signed_in_owner, signed_in_staff

OWNER = "owner@salon.example"


@pytest.fixture
def salon(api: Any) -> dict[str, Any]:
    browser, created = signed_in_owner(api, OWNER)
    http = Http(api, created["api_key"])
    ids = {}
    for person in (
        {"email": "anna@example.com", "first_name": "Anna", "tags": ["vip"]},
        {"email": "bea@example.com", "first_name": "Bea", "tags": ["vip"]},
        {"email": "cyril@example.com", "first_name": "Cyril", "tags": ["vip"]},
    ):
        status, body = http.post("/v1/clients", person)
        assert status == 201, body
        ids[person["first_name"].lower()] = body["client_id"]
    assert http.put(f"/v1/clients/{ids['cyril']}/consent", {"granted": True})[0] == 200
    return {"browser": browser, "http": http, "ids": ids, **created}


def campaign_id_of(location: str | None) -> str:
    assert location is not None
    found = re.search(r"/app/campaigns/(cmp_[A-Za-z0-9]+)", location)
    assert found, location
    return found.group(1)


def new_campaign(browser: Browser, **fields: str) -> str:
    browser.get("/app/campaigns/new")
    form = {
        "kind": "standard",
        "name": "Spring offer",
        "subject": "Hello {{ first_name }}",
        "html": "<p>Spring is here, {{ first_name }}!</p>",
        "audience": "tag",
        "tag": "vip",
        **fields,
    }
    answer = browser.post("/app/campaigns", form)
    assert answer.status == 303, answer.text
    return campaign_id_of(answer.location)


def test_the_campaigns_page_lists_campaigns_and_offers_both_kinds(salon: dict[str, Any]) -> None:
    browser = salon["browser"]
    page = browser.get("/app/campaigns")
    assert page.status == 200
    assert "New campaign</a>" in page.text and "New reactivation campaign</a>" in page.text
    assert "No campaign yet." in page.text
    campaign_id = new_campaign(browser)
    page = browser.get("/app/campaigns")
    assert f'href="/app/campaigns/{campaign_id}">Spring offer</a>' in page.text
    assert "Draft" in page.text


def test_a_new_campaign_is_saved_as_a_draft_with_its_audience(salon: dict[str, Any]) -> None:
    browser = salon["browser"]
    form = browser.get("/app/campaigns/new")
    for label in ("Name", "Subject", "Content", "Audience", "Tag", "Automatic status"):
        assert f">{label}</label>" in form.text, label
    assert ">Save</button>" in form.text
    campaign_id = new_campaign(browser)
    status, campaign = salon["http"].get(f"/v1/campaigns/{campaign_id}")
    assert status == 200 and campaign["audience"] == {"tag": "vip"} and campaign["status"] == "draft"
    page = browser.get(f"/app/campaigns/{campaign_id}?done=created")
    assert "The campaign has been saved as a draft." in page.text
    assert "Clients tagged “vip”" in unescape(page.text)


def test_a_wrong_campaign_form_is_explained_and_nothing_is_created(salon: dict[str, Any]) -> None:
    browser = salon["browser"]
    browser.get("/app/campaigns/new")
    answer = browser.post(
        "/app/campaigns",
        {"kind": "standard", "name": "", "subject": "", "html": "{{ broken", "audience": "tag", "tag": ""},
    )
    assert answer.status == 400
    for message in ("Enter a name for the campaign", "Enter a tag"):
        assert message in answer.text, message
    browser.get("/app/campaigns/new")
    answer = browser.post(
        "/app/campaigns",
        {
            "kind": "standard",
            "name": "X",
            "subject": "S",
            "html": "{{ broken",
            "audience": "tag",
            "tag": "vip",
        },
    )
    assert answer.status == 400 and "check the {{ }} placeholders" in unescape(answer.text)
    assert salon["http"].get("/v1/campaigns")[1]["items"] == []


def test_a_draft_is_edited_on_its_page_through_the_apis_own_update(salon: dict[str, Any]) -> None:
    browser, http = salon["browser"], salon["http"]
    campaign_id = new_campaign(browser)
    page = browser.get(f"/app/campaigns/{campaign_id}")
    for label in ("Name", "Subject", "Content", "Audience"):
        assert f">{label}</label>" in page.text, label
    assert 'value="Spring offer"' in page.text and ">Save</button>" in page.text
    assert "Keep the current audience: Clients tagged “vip”" in unescape(page.text)
    # the audience kept, the content changed
    answer = browser.post(
        f"/app/campaigns/{campaign_id}",
        {
            "kind": "standard",
            "name": "Summer offer",
            "subject": "Summer, {{ first_name }}",
            "html": "<p>Summer is here!</p>",
            "text": "",
            "audience": "keep",
        },
    )
    assert answer.status == 303 and answer.location.endswith(f"/app/campaigns/{campaign_id}?done=saved")
    stored = http.get(f"/v1/campaigns/{campaign_id}")[1]
    assert (stored["name"], stored["subject"], stored["audience"]) == (
        "Summer offer",
        "Summer, {{ first_name }}",
        {"tag": "vip"},
    )
    assert "The draft has been saved." in browser.get(f"/app/campaigns/{campaign_id}?done=saved").text
    # another audience
    answer = browser.post(
        f"/app/campaigns/{campaign_id}",
        {
            "kind": "standard",
            "name": "Summer offer",
            "subject": "S",
            "html": "<p>x</p>",
            "audience": "auto_status",
            "auto_status": "lapsing",
        },
    )
    assert answer.status == 303
    assert http.get(f"/v1/campaigns/{campaign_id}")[1]["audience"] == {"auto_status": "lapsing"}


def test_a_wrong_edit_is_explained_and_changes_nothing(salon: dict[str, Any]) -> None:
    browser, http = salon["browser"], salon["http"]
    campaign_id = new_campaign(browser)
    before = http.get(f"/v1/campaigns/{campaign_id}")[1]
    browser.get(f"/app/campaigns/{campaign_id}")
    answer = browser.post(
        f"/app/campaigns/{campaign_id}",
        {"kind": "standard", "name": "", "subject": "S", "html": "{{ broken", "audience": "keep"},
    )
    assert answer.status == 400 and "Enter a name for the campaign" in answer.text
    browser.get(f"/app/campaigns/{campaign_id}")
    answer = browser.post(
        f"/app/campaigns/{campaign_id}",
        {"kind": "standard", "name": "X", "subject": "S", "html": "{{ broken", "audience": "keep"},
    )
    assert answer.status == 400 and "check the {{ }} placeholders" in unescape(answer.text)
    assert http.get(f"/v1/campaigns/{campaign_id}")[1] == before


def test_a_campaign_that_is_sending_is_not_edited(salon: dict[str, Any]) -> None:
    browser, http = salon["browser"], salon["http"]
    campaign_id = new_campaign(browser)
    assert http.post(f"/v1/campaigns/{campaign_id}/send", {"acknowledge_non_consented": True})[0] == 202
    page = browser.get(f"/app/campaigns/{campaign_id}")
    assert 'name="subject"' not in page.text
    answer = browser.post(
        f"/app/campaigns/{campaign_id}",
        {"kind": "standard", "name": "Hijack", "subject": "S", "html": "<p>x</p>", "audience": "keep"},
    )
    assert answer.status == 409
    assert http.get(f"/v1/campaigns/{campaign_id}")[1]["name"] == "Spring offer"


def test_the_preview_is_a_sandboxed_frame_of_the_recipients_email(salon: dict[str, Any]) -> None:
    browser = salon["browser"]
    campaign_id = new_campaign(browser)
    page = browser.get(f"/app/campaigns/{campaign_id}?client_id={salon['ids']['bea']}")
    frame = re.search(r'<iframe class="mail-preview" sandbox="" src="([^"]+)"', page.text)
    assert frame, page.text
    assert unescape(frame.group(1)) == f"/app/campaigns/{campaign_id}/preview?client_id={salon['ids']['bea']}"
    document = browser.get(unescape(frame.group(1)))
    assert document.status == 200
    assert "Spring is here, Bea!" in document.text
    csp = document.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "sandbox" in csp and "frame-ancestors 'self'" in csp
    assert "script-src" not in csp
    assert document.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert '<base target="_blank">' in document.text  # a click in the sandbox goes nowhere
    assert page.headers["Content-Security-Policy"].startswith("default-src 'self'")


def test_counts_then_send_with_the_warning_and_send_anyway(salon: dict[str, Any], api: Any) -> None:
    browser, http = salon["browser"], salon["http"]
    campaign_id = new_campaign(browser)
    page = browser.get(f"/app/campaigns/{campaign_id}?count=1")
    assert re.search(r"<dt>In the audience</dt><dd>3</dd>", page.text)
    assert re.search(r"<dt>Without consent</dt><dd>2</dd>", page.text)
    confirmation = browser.get(f"/app/campaigns/{campaign_id}/send")
    assert "Some clients have not consented" in confirmation.text
    assert "2 of the 3 recipients have not given their consent" in confirmation.text
    assert ">Send anyway</button>" in confirmation.text and ">Cancel</a>" in confirmation.text
    # Without the acknowledgement (a stale form), the same warning comes back; nothing is sent.
    answer = browser.post(f"/app/campaigns/{campaign_id}/send", {})
    assert answer.status == 200 and "Send anyway" in answer.text
    assert http.get(f"/v1/campaigns/{campaign_id}")[1]["status"] == "draft"
    answer = browser.post(f"/app/campaigns/{campaign_id}/send", {"acknowledge": "1"})
    assert answer.status == 303 and answer.location == f"/app/campaigns/{campaign_id}?done=sending"
    assert http.get(f"/v1/campaigns/{campaign_id}")[1]["status"] == "sending"
    live = browser.get(f"/app/campaigns/{campaign_id}")
    assert 'role="progressbar"' in live.text and "data-poll=" in live.text
    assert ">Pause</button>" in live.text and ">Cancel campaign</button>" in live.text
    answer = browser.post(f"/app/campaigns/{campaign_id}/pause", {})
    assert answer.status == 303 and http.get(f"/v1/campaigns/{campaign_id}")[1]["status"] == "paused"
    paused = browser.get(f"/app/campaigns/{campaign_id}?done=paused")
    assert ">Resume</button>" in paused.text and "Sending is paused." in paused.text
    browser.post(f"/app/campaigns/{campaign_id}/resume", {})
    assert http.get(f"/v1/campaigns/{campaign_id}")[1]["status"] == "sending"


def test_with_consent_only_there_is_no_warning(salon: dict[str, Any]) -> None:
    browser, http = salon["browser"], salon["http"]
    assert http.patch("/v1/account/settings", {"consent_only_campaigns": True})[0] == 200
    campaign_id = new_campaign(browser)
    confirmation = browser.get(f"/app/campaigns/{campaign_id}/send")
    assert "Send anyway" not in confirmation.text and "It goes to 1 recipients now." in confirmation.text
    answer = browser.post(f"/app/campaigns/{campaign_id}/send", {})
    assert answer.status == 303


def test_cancel_asks_first_then_cancels(salon: dict[str, Any]) -> None:
    browser, http = salon["browser"], salon["http"]
    campaign_id = new_campaign(browser)
    confirmation = browser.get(f"/app/campaigns/{campaign_id}/cancel")
    assert "Cancel “Spring offer”?" in unescape(confirmation.text)
    assert browser.post(f"/app/campaigns/{campaign_id}/cancel", {}).status == 303
    assert http.get(f"/v1/campaigns/{campaign_id}")[1]["status"] == "cancelled"
    assert "Cancel campaign</button>" not in browser.get(f"/app/campaigns/{campaign_id}").text
    again = browser.post(f"/app/campaigns/{campaign_id}/pause", {})
    assert again.status == 409 and "This cannot be done now" in again.text


@pytest.fixture
def sim(salon: dict[str, Any]) -> Iterator[Any]:
    from tests.integration.sending_support import after_real_time, simulated

    with simulated(start=after_real_time()) as pair:  # the invitation went out on the real clock
        yield pair


def test_the_report_and_its_svg_chart_after_sending(salon: dict[str, Any], api: Any, sim: Any) -> None:
    from tests.integration.sending_support import drain

    browser, http = salon["browser"], salon["http"]
    campaign_id = new_campaign(browser)
    browser.get(f"/app/campaigns/{campaign_id}/send")
    browser.post(f"/app/campaigns/{campaign_id}/send", {"acknowledge": "1"})
    drain(api, sim[1])
    assert http.get(f"/v1/campaigns/{campaign_id}")[1]["status"] == "sent"
    page = browser.get(f"/app/campaigns/{campaign_id}")
    assert '<svg class="chart" role="img" aria-label="The campaign&#39;s figures as bars"' in page.text
    assert "<script" not in page.text.split("</head>")[1]
    report = http.get(f"/v1/campaigns/{campaign_id}/report")[1]
    assert re.search(rf"<td>Sent</td><td class=\"num\">{report['sent']}</td>", page.text)
    assert report["sent"] == 3


def test_a_reactivation_campaign_starts_from_the_template_and_the_settings_links(
    salon: dict[str, Any],
) -> None:
    browser, http = salon["browser"], salon["http"]
    http.patch(
        "/v1/account/settings",
        {
            "terms_url": "https://salon.example/terms",
            "legitimate_interest_url": "https://salon.example/li",
            "reactivation_wait_days": 5,
        },
    )
    form = browser.get("/app/campaigns/new?kind=reactivation")
    assert form.status == 200
    assert "confirm_url" in unescape(form.text) and "decline_url" in unescape(form.text)
    assert 'value="https://salon.example/terms"' in form.text and 'value="5"' in form.text
    html = unescape(
        re.search(
            r'<textarea class="textarea" id="f-html" name="html"[^>]*>(.*?)</textarea>', form.text, re.S
        ).group(1)
    )
    subject = unescape(
        re.search(r'id="f-subject" name="subject" type="text" value="([^"]*)"', form.text).group(1)
    )
    browser.get("/app/campaigns/new?kind=reactivation")
    answer = browser.post(
        "/app/campaigns",
        {
            "kind": "reactivation",
            "name": "Are you still with us?",
            "subject": subject,
            "html": html,
            "terms_url": "https://salon.example/terms",
            "legitimate_interest_url": "https://salon.example/li",
            "wait_days": "5",
            "audience": "tag",
            "tag": "vip",
        },
    )
    assert answer.status == 303, answer.text
    campaign = http.get(f"/v1/campaigns/{campaign_id_of(answer.location)}")[1]
    assert campaign["kind"] == "reactivation" and campaign["wait_days"] == 5


def test_staff_work_with_campaigns(api: Any, salon: dict[str, Any]) -> None:
    staff = signed_in_staff(api, salon["api_key"])
    assert staff.get("/app/campaigns").status == 200
    campaign_id = new_campaign(staff)
    assert staff.get(f"/app/campaigns/{campaign_id}").status == 200


def test_the_reactivation_story_up_to_the_list_of_confirmed(
    salon: dict[str, Any], api: Any, sim: Any
) -> None:
    """Send a reactivation campaign from the console, a client confirms from the e-mail, the
    owner creates the list of confirmed before the wait ends (asked first) and follows the link."""
    from tests.integration.sending_support import drain
    from tests.integration.test_reactivation import _respond, links_by_recipient

    browser, http = salon["browser"], salon["http"]
    http.patch(
        "/v1/account/settings",
        {"terms_url": "https://salon.example/terms", "legitimate_interest_url": "https://salon.example/li"},
    )
    browser.get("/app/campaigns/new?kind=reactivation")
    answer = browser.post(
        "/app/campaigns",
        {
            "kind": "reactivation",
            "name": "Still with us?",
            "wait_days": "7",
            "audience": "tag",
            "tag": "vip",
            "terms_url": "https://salon.example/terms",
            "legitimate_interest_url": "https://salon.example/li",
        },
    )
    assert answer.status == 303, answer.text
    campaign_id = campaign_id_of(answer.location)
    confirmation = browser.get(f"/app/campaigns/{campaign_id}/send")
    assert "Send anyway" not in confirmation.text  # a reactivation campaign asks for consent
    assert browser.post(f"/app/campaigns/{campaign_id}/send", {}).status == 303
    drain(api, sim[1])
    assert http.get(f"/v1/campaigns/{campaign_id}")[1]["status"] == "awaiting_responses"
    _respond(http, links_by_recipient(), "anna", "confirm")
    _respond(http, links_by_recipient(), "bea", "decline")
    page = browser.get(f"/app/campaigns/{campaign_id}")
    assert re.search(r"<td>Confirmed</td><td class=\"num\">1</td>", page.text)
    assert re.search(r"<td>Declined</td><td class=\"num\">1</td>", page.text)
    assert "The wait for answers ends on" in page.text
    assert re.search(
        r'<form method="get" action="/app/campaigns/[^"]+/segment"><button type="submit" class="button" data-dialog>Create list of confirmed</button>',
        page.text,
    )
    early = browser.get(f"/app/campaigns/{campaign_id}/segment")
    assert "Create the list before the wait ends?" in early.text and 'name="early" value="1"' in early.text
    # Without the early confirmation, nothing happens but the question again.
    answer = browser.post(f"/app/campaigns/{campaign_id}/segment", {})
    assert answer.status == 200 and "Create the list before the wait ends?" in answer.text
    assert http.get(f"/v1/campaigns/{campaign_id}")[1]["status"] == "awaiting_responses"
    answer = browser.post(f"/app/campaigns/{campaign_id}/segment", {"early": "1"})
    assert answer.status == 303, answer.text
    drain_jobs(api)
    page = browser.get(f"/app/campaigns/{campaign_id}")
    list_link = re.search(r'<a href="(/app/lists/lst_[A-Za-z0-9]+)">([^<]+)</a>', page.text)
    assert list_link and "1 clients confirmed" in page.text, page.text
    members = browser.get(list_link.group(1))
    assert "anna@example.com" in members.text and "bea@example.com" not in members.text


def test_a_campaign_to_the_filter_of_the_clients_page(salon: dict[str, Any]) -> None:
    browser, http = salon["browser"], salon["http"]
    clients = browser.get("/app/clients?f=first_name&o=starts_with&v=B")
    link = re.search(r'<a href="(/app/campaigns/new\?[^"]+)">New campaign to these clients</a>', clients.text)
    assert link, clients.text
    form = browser.get(unescape(link.group(1)))
    assert '<option value="filter" selected>' in form.text
    assert re.search(r'<input type="hidden" name="v" value="B">', form.text)
    answer = browser.post(
        "/app/campaigns",
        [
            ("kind", "standard"),
            ("name", "B only"),
            ("subject", "Hi"),
            ("html", "<p>Hi</p>"),
            ("audience", "filter"),
            ("f", "first_name"),
            ("o", "starts_with"),
            ("v", "B"),
        ],
    )
    assert answer.status == 303, answer.text
    campaign = http.get(f"/v1/campaigns/{campaign_id_of(answer.location)}")[1]
    assert "filter" in campaign["audience"]
    page = browser.get(f"/app/campaigns/{campaign['campaign_id']}?count=1")
    assert re.search(r"<dt>In the audience</dt><dd>1</dd>", page.text)


def test_send_test_goes_to_the_signed_in_user(salon: dict[str, Any]) -> None:
    from tests.integration.console_support import sent_mails

    browser = salon["browser"]
    campaign_id = new_campaign(browser)
    page = browser.get(f"/app/campaigns/{campaign_id}")
    assert ">Send test</button>" in page.text and OWNER in page.text
    answer = browser.post(f"/app/campaigns/{campaign_id}/test", {})
    assert answer.status == 303 and answer.location == f"/app/campaigns/{campaign_id}?done=test_sent"
    tests = [
        mail
        for mail in sent_mails()
        if OWNER in str(mail["To"]) and str(mail["Subject"]).startswith("[TEST]")
    ]
    assert len(tests) == 1, [str(m["Subject"]) for m in sent_mails()]
    assert salon["http"].get(f"/v1/campaigns/{campaign_id}")[1]["status"] == "draft"


def test_resume_and_cancel_of_a_big_campaign_say_the_rest_goes_on_in_the_background(
    salon: dict[str, Any], api: Any, sim: Any, tune: Any
) -> None:
    """Beyond ``requeue_sync_limit`` deliveries the console's resume and cancel still work:
    the waiting recipients are re-enqueued by a job, and the notice says so."""
    from tests.integration.sending_support import deliver, drain

    browser, http = salon["browser"], salon["http"]
    queue = sim[1]
    campaign_id = new_campaign(browser)
    browser.get(f"/app/campaigns/{campaign_id}/send")
    assert browser.post(f"/app/campaigns/{campaign_id}/send", {"acknowledge": "1"}).status == 303
    while queue.pending("jobs"):  # the fan-out writes the three deliveries
        entry = queue.pop()
        assert entry is not None
        if entry.queue == "jobs":
            assert deliver(api, "jobs", entry.body)
        else:
            queue.send(entry.queue, entry.body)
    browser.get(f"/app/campaigns/{campaign_id}")
    assert browser.post(f"/app/campaigns/{campaign_id}/pause", {}).status == 303
    drain(api, queue)  # dropped while paused
    tune(requeue_sync_limit=1)
    assert ">Resume</button>" in browser.get(f"/app/campaigns/{campaign_id}").text
    answer = browser.post(f"/app/campaigns/{campaign_id}/resume", {})
    assert answer.status == 303
    assert answer.location == f"/app/campaigns/{campaign_id}?done=resumed_background"
    page = browser.get(answer.location)
    assert "queued again in the background" in page.text
    assert http.get(f"/v1/campaigns/{campaign_id}")[1]["status"] == "sending"
    browser.get(f"/app/campaigns/{campaign_id}/cancel")
    answer = browser.post(f"/app/campaigns/{campaign_id}/cancel", {})
    assert answer.location == f"/app/campaigns/{campaign_id}?done=cancelled_background"
    assert "settled in the background" in browser.get(answer.location).text
    drain(api, queue)
    report = http.get(f"/v1/campaigns/{campaign_id}/report")[1]
    assert http.get(f"/v1/campaigns/{campaign_id}")[1]["status"] == "cancelled"
    assert (report["failed"], report["sent"], report["recipients"]) == (3, 0, 3)


def test_an_audience_too_big_to_count_on_the_page_is_counted_in_the_background_then_sent(
    salon: dict[str, Any], api: Any, tune: Any
) -> None:
    """Beyond ``preview_max_clients`` the pages do not count (nor start a count on a GET): they
    offer the background count, whose page shows the numbers, and then "Send" decides on them
    with the seed's warning."""
    from chalicelib.bootstrap import get_deps

    browser, http = salon["browser"], salon["http"]
    campaign_id = new_campaign(browser)
    tune(preview_max_clients=2)
    page = browser.get(f"/app/campaigns/{campaign_id}?count=1")
    assert "The audience has more than 2 recipients" in page.text
    assert ">Count in the background</button>" in page.text
    confirmation = browser.get(f"/app/campaigns/{campaign_id}/send")
    assert ">Count in the background</button>" in confirmation.text
    assert "Send anyway" not in confirmation.text and ">Send</button>" not in confirmation.text
    account_id = http.get("/v1/account")[1]["account_id"]
    assert get_deps().campaigns.get(account_id, campaign_id).count_job_id is None  # a GET started nothing

    answer = browser.post(f"/app/campaigns/{campaign_id}/count", {"then": "send"})
    assert answer.status == 303, answer.text
    found = re.fullmatch(
        r"/app/jobs/(job_[A-Za-z0-9]+)\?back=%2Fapp%2Fcampaigns%2F(cmp_[A-Za-z0-9]+)%2Fsend",
        answer.location or "",
    )
    assert found and found.group(2) == campaign_id, answer.location
    counting = browser.get(answer.location)
    assert "<h1>Counting the audience</h1>" in counting.text
    assert "counted in the background" in counting.text
    drain_jobs(api)
    counted = browser.get(answer.location)
    assert re.search(r"<dt>In the audience</dt><dd>3</dd>", counted.text), counted.text
    assert re.search(r"<dt>Without consent</dt><dd>2</dd>", counted.text)

    confirmation = browser.get(f"/app/campaigns/{campaign_id}/send")
    assert "2 of the 3 recipients have not given their consent" in confirmation.text
    answer = browser.post(f"/app/campaigns/{campaign_id}/send", {"acknowledge": "1"})
    assert answer.status == 303 and http.get(f"/v1/campaigns/{campaign_id}")[1]["status"] == "sending"
