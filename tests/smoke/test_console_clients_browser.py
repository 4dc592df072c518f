"""Browser test of the seeds' client stories through the console only, on the real local stack
(``python -m local.run`` on free ports) in Chromium driven by Playwright, by the roles and
accessible names of CONSOLE.md.

- Seed 000 (a salon's front desk): sign in, filter the clients, "Select all" the matches, add
  a tag — a job whose progress bar the page polls — create a list, tick "Consent to campaigns"
  on a client card and save.
- Seed 003 (the manual segment): filter "Confirmation date" "is filled" and create a list.
- The CSV import with Czech and Italian headers, the new-client form, lists.

Every page is checked with axe-core and screenshotted at 390 px and 1280 px into
``test-artifacts/`` (``console-<page>-<lang>-<width>.png``), in English, Czech and Italian.
The stack runs with a bulk limit of 3 clients, so a tag on 4 or more is a background job, as
it is past 1,000 clients in production.
"""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.smoke.test_local_stack import (
    OPERATOR_KEY,
    READY_BANNER,
    alive,
    descendants,
    free_ports,
    stack_environment,
    start_stack,
)
from tests.smoke.test_reactivation_browser import (  # noqa: F401 — pytest fixtures
    ARTIFACTS,
    TIMEOUT,
    _chromium_missing,
    browser,
    check_accessibility,
)

pytestmark = [pytest.mark.smoke, pytest.mark.browser]
RUN_FIRST = 145  # its seconds in a parallel run, busy machine: the order (tests/conftest.py)

PASSWORD = "a long and private passphrase"
WIDTHS = (390, 1280)
DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    reason = _chromium_missing()
    if reason:
        pytest.skip(reason)
    workdir = tmp_path_factory.mktemp("console-stack")
    api_port, moto_port = free_ports(2)
    log = workdir / "run.log"
    # A tag on more than 3 clients is a job; a send may be up to half a second late for its
    # slot (the pacing's tolerance is 42 ms, which a shared, loaded test machine misses for
    # every slot, so a campaign would never finish here).
    env = {
        **stack_environment(),
        "PERMESSO_BULK_SYNC_LIMIT": "3",
        "PERMESSO_JOB_CHUNK_ITEMS": "2",
        "PERMESSO_PLATFORM_RATE_SAFETY": "0.5",
        "PERMESSO_SEND_LATE_TOLERANCE_SECONDS": "1",
    }
    process = start_stack(api_port, moto_port, workdir / "state", log, env)
    seen: set[int] = set()
    try:
        deadline = time.monotonic() + 180
        while READY_BANNER not in log.read_text(errors="replace"):
            seen |= descendants(process.pid)
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the local stack did not start:\n{log.read_text()}")
            time.sleep(0.2)
        seen |= descendants(process.pid)
        yield f"http://127.0.0.1:{api_port}"
    finally:
        seen |= descendants(process.pid)
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)
        for pid in seen:
            if alive(pid):
                import os

                os.kill(pid, signal.SIGKILL)


def _account(api: str, name: str, owner: str, language: str, clients: list[dict[str, Any]]) -> dict[str, Any]:
    """An account with its owner invited and clients added through the API (the data a salon
    already has); everything afterwards happens in the browser."""
    created = requests.post(
        f"{api}/v1/accounts",
        json={
            "name": name,
            "sender_email": f"hello@{owner.split('@')[1]}",
            "owner_email": owner,
            "language": language,
        },
        headers={"Authorization": f"Bearer {OPERATOR_KEY}"},
        timeout=TIMEOUT,
    )
    assert created.status_code == 201, created.text
    auth = {"Authorization": f"Bearer {created.json()['api_key']}"}
    ids = {}
    for client in clients:
        confirmed = client.pop("confirmed", False)
        answer = requests.post(f"{api}/v1/clients", json=client, headers=auth, timeout=TIMEOUT)
        assert answer.status_code == 201, answer.text
        ids[client["email"]] = answer.json()["client_id"]
        if confirmed:
            put = requests.put(
                f"{api}/v1/clients/{ids[client['email']]}/consent",
                json={"granted": True},
                headers=auth,
                timeout=TIMEOUT,
            )
            assert put.status_code == 200, put.text
    return {"auth": auth, "ids": ids, "owner": owner}


def _invitation(api: str, owner: str) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for mail in requests.get(f"{api}/dev/outbox", timeout=TIMEOUT).json()["items"]:
            if owner in mail["to"]:
                [href] = {link["href"] for link in mail["links"] if link["cta"] == "invitation_mail"}
                return str(href)
        time.sleep(0.3)
    raise AssertionError("no invitation in the outbox")


def _sign_in(page: Any, api: str, owner: str, set_password: str = "Set password") -> None:
    page.goto(_invitation(api, owner))
    page.locator("#f-password").fill(PASSWORD)
    page.locator("#f-confirmation").fill(PASSWORD)
    page.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(r"/app/sign-in"))
    page.locator("#f-email").fill(owner)
    page.locator("#f-password").fill(PASSWORD)
    page.locator("form button[type=submit]").last.click()
    page.wait_for_url(re.compile(r"/app$"))


def _look(
    page: Any, name: str, language: str = "en", *, docs: str | None = None, fits: tuple[str, ...] = ()
) -> None:
    """axe-core finds nothing at either width; a screenshot at each; no sideways scrolling —
    of the page, and of the tables named in ``fits`` within their scrollable region."""
    ARTIFACTS.mkdir(exist_ok=True)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        check_accessibility(page, language)
        assert page.evaluate("document.documentElement.scrollWidth") <= width, (name, width)
        for table in fits:
            wider = page.evaluate(
                "(id) => { const t = document.querySelector(id); return t.scrollWidth - t.parentElement.clientWidth; }",
                table,
            )
            assert wider <= 0, (name, width, table, wider)
        path = ARTIFACTS / f"console-{name}-{language}-{width}.png"
        page.screenshot(path=str(path), full_page=True)
        if docs and width == 1280:
            page.screenshot(path=str(DOCS / f"{docs}.png"), full_page=False)
    page.set_viewport_size({"width": 1280, "height": 900})


SALON = [
    {
        "email": "jana@salon.example",
        "first_name": "Jana",
        "last_name": "Nováková",
        "tags": ["vip"],
        "confirmed": True,
    },
    {"email": "petra@salon.example", "first_name": "Petra", "last_name": "Malá", "status": "regular"},
    {"email": "marie@salon.example", "first_name": "Marie", "last_name": "Dvořáková", "tags": ["nails"]},
    {"email": "eva@salon.example", "first_name": "Eva", "last_name": "Černá", "confirmed": True},
    {
        "email": "lucie@salon.example",
        "first_name": "Lucie",
        "last_name": "Veselá",
        "phone": "+420 601 222 333",
    },
    {
        "email": "tereza@salon.example",
        "first_name": "Tereza",
        "last_name": "Horáková",
        "tags": ["vip", "hair"],
    },
]


def test_seed_000_and_003_through_the_console(api: str, browser: Any) -> None:  # noqa: F811
    salon = _account(api, "Salon Bella", "owner@bella.example", "en", [dict(c) for c in SALON])
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        _sign_in(page, api, salon["owner"])

        # Seed 000: Clients menu, select the filters.
        page.get_by_role("link", name="Clients", exact=True).click()
        page.wait_for_url(re.compile(r"/app/clients$"))
        assert page.get_by_role("table").count() == 1
        _look(page, "clients", docs="console-clients")
        page.get_by_label("Field").select_option("consent.state")
        page.get_by_label("Operator").select_option("eq")
        page.get_by_label("Value").fill("unknown")
        page.get_by_role("button", name="Apply").click()
        page.wait_for_url(re.compile(r"f=consent.state"))
        assert "4 clients match" in page.content()
        _look(page, "clients-filtered")

        # Select > All, then Add tag: a dialog, then a job with a progress bar.
        page.get_by_role("button", name=re.compile(r"^Select all")).click()
        page.wait_for_url(re.compile(r"select=all"))
        assert "All 4 matching clients are selected." in page.content()
        page.get_by_role("button", name="Add tag").click()
        dialog = page.get_by_role("dialog")
        dialog.wait_for()
        assert "all 4 clients that match the filter" in dialog.inner_text()
        page.get_by_label("Tag").fill("reactivate")
        _look(page, "clients-add-tag-dialog")
        page.get_by_role("button", name="Add tag").click()
        page.wait_for_url(re.compile(r"/app/jobs/job_"))
        progress = page.get_by_role("progressbar")
        assert progress.count() == 1
        _look(page, "job-progress")
        page.get_by_text("Done", exact=True).wait_for(timeout=90_000)  # console.js polls the page
        assert "Changed: 4" in page.content()
        _look(page, "job-done")
        page.get_by_role("link", name="Back").click()
        page.wait_for_url(re.compile(r"/app/clients\?"))

        # Create list from the current filter.
        page.get_by_role("button", name="Create list").click()
        page.get_by_role("dialog").wait_for()
        page.get_by_label("List name").fill("To reactivate")
        page.get_by_role("button", name="Create list").click()
        page.wait_for_url(re.compile(r"/app/lists/lst_"))
        assert "The list has been created." in page.content()
        _look(page, "list")

        # A client card: tick consent, save; the history shows it with who did it.
        page.get_by_role("link", name="petra@salon.example").click()
        page.wait_for_url(re.compile(r"/app/clients/cl_"))
        assert "reactivate" in page.get_by_label("Tags").input_value()
        page.get_by_label("Consent to campaigns").check()
        page.get_by_role("button", name="Save").click()
        page.wait_for_url(re.compile(r"done=consent"))
        history = page.get_by_role("table", name=re.compile("consent change"))
        assert "Consent granted" in history.inner_text() and salon["owner"] in history.inner_text()
        _look(page, "client-card", docs="console-client-card")
        page.get_by_role("button", name="Erase client").click()
        page.get_by_role("dialog").wait_for()
        assert "Petra Malá" in page.get_by_role("dialog").inner_text()
        _look(page, "client-erase-dialog")
        page.keyboard.press("Escape")  # the dialog closes; nothing erased
        assert page.get_by_role("dialog").count() == 0

        # Seed 003: filter "confirmation date is filled" and create a list from it.
        page.get_by_role("link", name="Clients", exact=True).click()
        page.get_by_label("Field").select_option("consent.confirmed_at")
        page.get_by_label("Operator").select_option("is_set")
        page.get_by_role("button", name="Apply").click()
        page.wait_for_url(re.compile(r"f=consent.confirmed_at"))
        assert "3 clients match" in page.content()  # Jana, Eva, and Petra since the card
        page.get_by_role("button", name="Create list").click()
        page.get_by_label("List name").fill("Confirmed")
        page.get_by_role("button", name="Create list").click()
        page.wait_for_url(re.compile(r"/app/lists/lst_"))
        members = page.get_by_role("table").inner_text()
        assert all(f"{n}@salon.example" in members for n in ("jana", "eva", "petra"))
        page.get_by_role("link", name="Lists", exact=True).click()
        _look(page, "lists")

        # Import a CSV whose headers are Czech and Italian; a new client by hand.
        page.get_by_role("link", name="Clients", exact=True).click()
        page.get_by_role("link", name="Import from a CSV file").click()
        _look(page, "import")
        page.get_by_label("CSV file").set_input_files(
            files=[
                {
                    "name": "klienti.csv",
                    "mimeType": "text/csv",
                    "buffer": "E-mail;Jméno;Cognome\nkarel@salon.example;Karel;Rossi\nspatne;X;Y\n".encode(),
                }
            ]
        )
        page.get_by_role("button", name="Preview").click()
        _look(page, "import-preview")
        page.get_by_role("button", name=re.compile("^Import")).click()
        assert "Import report" in page.content()
        _look(page, "import-report")
        page.goto(f"{api}/app/clients/new")
        _look(page, "client-new")
    finally:
        context.close()


@pytest.mark.parametrize(
    ("language", "owner"), [("cs", "majitel@krasa.example"), ("it", "titolare@bellezza.example")]
)
def test_the_console_in_czech_and_italian(api: str, browser: Any, language: str, owner: str) -> None:  # noqa: F811
    business = {"cs": "Salon Krása", "it": "Salone Bellezza"}[language]
    account = _account(api, business, owner, language, [dict(c) for c in SALON[:4]])
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        _sign_in(page, api, owner)
        page.goto(f"{api}/app/clients")
        _look(page, "clients", language)
        english = (
            "Add tag",
            "Select all",
            "clients match",
            "Operator</label>",
            "Search</label>",
            "Consent</th>",
        )
        for word in english:
            assert word not in page.content(), word
        page.locator("#f-field").select_option("tags")
        page.locator("#f-op").select_option("contains")
        page.locator("#f-value").fill("vip")
        page.locator("button[name=apply]").click()
        page.wait_for_url(re.compile(r"f=tags"))
        page.locator("button[value=add_tag]").click()
        page.get_by_role("dialog").wait_for()
        _look(page, "clients-add-tag-dialog", language)
        page.keyboard.press("Escape")
        client_id = account["ids"]["jana@salon.example"]
        page.goto(f"{api}/app/clients/{client_id}")
        _look(page, "client-card", language)
        page.goto(f"{api}/app/lists")
        _look(page, "lists", language)
        page.goto(f"{api}/app/clients/import")
        _look(page, "import", language)
        # An import with a row in error: its report's table fits a phone's width (a long word
        # such as "Neimportováno:" breaks instead of pushing the table past the screen).
        page.locator("#f-file").set_input_files(
            files=[
                {"name": "k.csv", "mimeType": "text/csv", "buffer": b"E-mail\nnova@salon.example\nspatne\n"}
            ]
        )
        page.locator("form:has(input[name=step][value=preview]) button[type=submit]").click()
        page.locator("form:has(input[name=step][value=import]) button[type=submit]").first.click()
        page.locator("#report-table").wait_for()
        _look(page, "import-report", language, fits=("#report-table",))
        english = (
            "New campaign",
            "Audience",
            "Subject",
            "Send campaigns only",
            "Save</button>",
            "Business name",
        )
        for path, name in (
            ("/app/campaigns", "campaigns"),
            ("/app/campaigns/new?kind=reactivation", "campaign-new-reactivation"),
            ("/app/settings", "settings"),
        ):
            page.goto(f"{api}{path}")
            _look(page, name, language)
            for word in english:
                assert word not in page.content(), (path, word)
    finally:
        context.close()


def _confirm_link(api: str, to: str) -> str:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        for mail in requests.get(f"{api}/dev/outbox", timeout=TIMEOUT).json()["items"]:
            if to in mail["to"]:
                hrefs = [link["href"] for link in mail["links"] if link["cta"] == "confirm"]
                if hrefs:
                    return str(hrefs[0])
        time.sleep(0.5)
    raise AssertionError(f"no reactivation e-mail to {to}")


def test_a_campaign_with_the_warning_and_the_reactivation_story(api: str, browser: Any) -> None:  # noqa: F811
    """Seed 000 through the console: a campaign to the VIPs sent with the pre-send warning and
    "Send anyway", its live progress and report; consent-only turned on in Settings; then a
    reactivation campaign, a client confirms in the e-mail, and the list of confirmed is
    created early (after its confirmation) and opened."""
    salon = _account(api, "Salon Aurora", "owner@aurora.example", "en", [dict(c) for c in SALON])
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        _sign_in(page, api, salon["owner"])

        # Settings first: the terms and legitimate-interest pages a reactivation e-mail links to.
        page.get_by_role("link", name="Settings", exact=True).click()
        page.get_by_label("Terms and privacy page").fill("https://aurora.example/terms")
        page.get_by_label("Legitimate-interest page").fill("https://aurora.example/interest")
        page.get_by_role("button", name="Save").click()
        page.wait_for_url(re.compile(r"done=saved"))
        _look(page, "settings")

        # A campaign to the VIPs: one has consented, one has not → the warning, Send anyway.
        page.get_by_role("link", name="Campaigns", exact=True).click()
        _look(page, "campaigns-empty")
        page.get_by_role("link", name="New campaign", exact=True).click()
        page.get_by_label("Name").fill("Spring offer")
        page.get_by_label("Subject").fill("Spring at Aurora, {{ first_name }}")
        page.get_by_label("Content").fill("<p>Dear {{ first_name }}, spring treatments are 20% off.</p>")
        page.get_by_label("Audience").select_option("tag")
        page.get_by_label("Tag", exact=True).fill("vip")
        _look(page, "campaign-new")
        page.get_by_role("button", name="Save").click()
        page.wait_for_url(re.compile(r"/app/campaigns/cmp_\w+\?done=created"))
        frame = page.frame_locator("iframe.mail-preview")
        frame.get_by_text("spring treatments are 20% off").wait_for()
        assert page.locator("iframe.mail-preview").get_attribute("sandbox") == ""
        page.get_by_role("button", name="Count recipients").click()
        assert re.search(r"In the audience\s*2", page.locator("#counts").inner_text())
        _look(page, "campaign-draft")
        page.get_by_role("button", name="Send", exact=True).click()
        dialog = page.get_by_role("dialog")
        dialog.wait_for(timeout=90_000)  # the counts are read first
        assert "1 of the 2 recipients have not given their consent" in dialog.inner_text()
        _look(page, "campaign-send-warning")
        dialog.get_by_role("button", name="Send anyway").click()
        page.wait_for_url(re.compile(r"done=sending"))
        page.get_by_role("heading", name="Report").wait_for(timeout=90_000)  # console.js reloads when done
        assert page.locator("svg.chart").count() == 1
        assert re.search(r"Sent\s*2", page.get_by_role("table").inner_text())
        _look(page, "campaign-report")

        # Settings, then "Send campaigns only to clients who consented".
        page.get_by_role("link", name="Settings", exact=True).click()
        page.get_by_label("Send campaigns only to clients who consented").check()
        page.get_by_role("button", name="Save").click()
        page.wait_for_url(re.compile(r"done=saved"))
        assert page.get_by_label("Send campaigns only to clients who consented").is_checked()

        # Reactivation: the template is ready; send to the clients whose consent is unknown.
        page.get_by_role("link", name="Campaigns", exact=True).click()
        page.get_by_role("link", name="New reactivation campaign").click()
        assert "{{ confirm_url }}" in page.get_by_label("Content").input_value()
        assert page.get_by_label("Terms and privacy page").input_value() == "https://aurora.example/terms"
        page.get_by_label("Name").fill("Still with us?")
        page.get_by_label("Audience").select_option("tag")
        page.get_by_label("Tag", exact=True).fill("nails")
        _look(page, "campaign-new-reactivation")
        page.get_by_role("button", name="Save").click()
        page.wait_for_url(re.compile(r"/app/campaigns/cmp_\w+\?done=created"))
        campaign_url = page.url.split("?")[0]
        page.frame_locator("iframe.mail-preview").get_by_text("Marie").first.wait_for(timeout=60_000)
        page.get_by_role("button", name="Count recipients").click()
        page.wait_for_url(re.compile(r"count=1"), timeout=90_000)
        assert re.search(r"In the audience\s*1", page.locator("#counts").inner_text())
        page.get_by_role("button", name="Send", exact=True).click()
        dialog = page.get_by_role("dialog")
        dialog.wait_for(timeout=90_000)
        assert "Send anyway" not in dialog.inner_text()
        dialog.get_by_role("button", name="Send").click()
        page.wait_for_url(re.compile(r"done=sending"))
        page.get_by_role("button", name="Create list of confirmed").wait_for(timeout=90_000)

        # Marie confirms from her e-mail (in another tab: the public page, no console session needed).
        public = context.new_page()
        public.goto(_confirm_link(api, "marie@salon.example"))
        public.locator("form[method=post] button").click()
        public.wait_for_load_state()
        public.close()

        page.goto(campaign_url)
        assert re.search(r"Confirmed\s*1", page.locator("#report-table").inner_text())
        _look(page, "campaign-reactivation-report")
        page.get_by_role("button", name="Create list of confirmed").click()
        dialog = page.get_by_role("dialog")
        dialog.wait_for()
        assert "before the wait ends" in dialog.inner_text()
        _look(page, "campaign-segment-early")
        dialog.get_by_role("button", name="Create list of confirmed").click()
        page.wait_for_url(re.compile(r"/app/(campaigns/cmp_\w+\?done=segmented|jobs/)"))
        if "/app/jobs/" in page.url:
            page.get_by_text("Done", exact=True).wait_for(timeout=60_000)
            page.get_by_role("link", name="Back").click()
        page.get_by_role("link", name=re.compile("Still with us")).click()
        page.wait_for_url(re.compile(r"/app/lists/lst_"))
        assert "marie@salon.example" in page.get_by_role("table").inner_text()
        page.get_by_role("link", name="Campaigns", exact=True).click()
        _look(page, "campaigns")
    finally:
        context.close()
