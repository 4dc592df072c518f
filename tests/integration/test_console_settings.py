"""The settings page (owners only): every account setting through the API's own update, the
consent-only switch, erasure of non-responders only after a confirmation, the intake form's
link, the links to users and API keys; staff get 403 and change nothing; the suspension banner
with its reason on every page."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.conftest import Http
from tests.integration.console_support import Browser, signed_in_owner, signed_in_staff


@pytest.fixture
def owner(api: Any) -> tuple[Browser, dict[str, Any]]:
    return signed_in_owner(api, "owner@salon.example")


def form_of(page: str) -> dict[str, str]:
    """The settings form's current values, as a browser would send them back."""
    import re
    from html import unescape

    values = {}
    for name, value in re.findall(
        r'<input class="input[^"]*" id="f-[a-z_]+" name="([a-z_]+)" type="[a-z]+" value="([^"]*)"', page
    ):
        values[name] = unescape(value)
    for name, value in re.findall(
        r'<select class="select" id="f-[a-z_]+" name="([a-z_]+)"[^>]*>.*?<option value="([^"]*)" selected>',
        page,
        re.S,
    ):
        values[name] = value
    if re.search(r'name="consent_only_campaigns" value="1" checked', page):
        values["consent_only_campaigns"] = "1"
    return values


def test_the_settings_page_shows_every_setting_and_the_intake_link(
    api: Any, owner: tuple[Browser, dict[str, Any]]
) -> None:
    browser, created = owner
    page = browser.get("/app/settings")
    assert page.status == 200
    for label in (
        "Business name",
        "Sender address",
        "Language",
        "Send campaigns only to clients who consented",
        "Terms and privacy page",
        "Legitimate-interest page",
        "Days to wait for answers to a reactivation campaign",
        "Clients who do not answer",
        "E-mails per second",
        "E-mails per hour at most",
        "E-mails per day at most",
    ):
        assert f">{label}</label>" in page.text, label
    account = Http(api, created["api_key"]).get("/v1/account")[1]
    assert f'/p/forms/{account["public_slug"]}"' in page.text
    assert 'href="/app/settings/users"' in page.text and 'href="/app/settings/api-keys"' in page.text
    assert ">Save</button>" in page.text
    assert set(form_of(page.text)) >= {
        "sender_name",
        "sender_email",
        "language",
        "reactivation_wait_days",
        "new_days",
    }


def test_save_changes_only_what_was_changed(api: Any, owner: tuple[Browser, dict[str, Any]]) -> None:
    browser, created = owner
    http = Http(api, created["api_key"])
    values = form_of(browser.get("/app/settings").text)
    values.update(
        consent_only_campaigns="1",
        terms_url="https://salon.example/terms",
        legitimate_interest_url="https://salon.example/li",
        reactivation_wait_days="10",
        non_responder_action="tag",
        language="cs",
        new_days="20",
        sender_name="Salon Bella & Co",
    )
    answer = browser.post("/app/settings", values)
    assert answer.status == 303 and answer.location == "/app/settings?done=saved", answer.text
    settings = http.get("/v1/account")[1]["settings"]
    assert settings["consent_only_campaigns"] is True
    assert settings["terms_url"] == "https://salon.example/terms"
    assert settings["reactivation_wait_days"] == 10 and settings["non_responder_action"] == "tag"
    assert settings["language"] == "cs" and settings["auto_status"]["new_days"] == 20
    assert settings["sender_name"] == "Salon Bella & Co"
    page = browser.get("/app/settings?done=saved")
    assert "The settings have been saved." in page.text  # the owner's own language stays English
    # Unticking the box turns consent-only off again; clearing a URL clears it.
    values = form_of(page.text)
    values.pop("consent_only_campaigns", None)
    values["terms_url"] = ""
    assert browser.post("/app/settings", values).status == 303
    settings = http.get("/v1/account")[1]["settings"]
    assert settings["consent_only_campaigns"] is False and settings["terms_url"] is None


def test_wrong_values_are_explained_and_nothing_is_saved(
    api: Any, owner: tuple[Browser, dict[str, Any]]
) -> None:
    browser, created = owner
    http = Http(api, created["api_key"])
    before = http.get("/v1/account")[1]["settings"]
    values = form_of(browser.get("/app/settings").text)
    values.update(
        terms_url="http://insecure.example",
        reactivation_wait_days="99",
        active_days="200",
        lapsing_days="100",
    )
    answer = browser.post("/app/settings", values)
    assert answer.status == 400
    for message in (
        "Enter an address that starts with https://",
        "Enter a number of days from 0 to 30",
        "Enter more days than for active",
    ):
        assert message in answer.text, message
    assert 'value="http://insecure.example"' in answer.text  # what was typed is kept
    assert http.get("/v1/account")[1]["settings"] == before


def test_limits_and_the_sender_domain_hold_on_the_settings_page(
    api: Any, owner: tuple[Browser, dict[str, Any]]
) -> None:
    """The page saves through the API's update: a business lowers its sending settings but
    never raises them above the limits the operator set, and its sender address must be on
    one of its verified sender domains."""
    browser, created = owner
    http = Http(api, created["api_key"])
    before = http.get("/v1/account")[1]
    limits = before["limits"]
    values = form_of(browser.get("/app/settings").text)
    answer = browser.post("/app/settings", {**values, "hourly_send_cap": str(limits["hourly_send_cap"] + 1)})
    assert answer.status == 400 and "Enter a whole number within your account&#39;s limit" in answer.text
    answer = browser.post("/app/settings", {**values, "sender_email": "hello@not-verified.example"})
    assert answer.status == 400 and "Enter a sender address on your own verified domain" in answer.text
    assert http.get("/v1/account")[1]["settings"] == before["settings"]
    lower = max(1, limits["hourly_send_cap"] // 2)
    assert browser.post("/app/settings", {**values, "hourly_send_cap": str(lower)}).status == 303
    assert http.get("/v1/account")[1]["settings"]["hourly_send_cap"] == lower


def test_erasing_non_responders_needs_the_confirmation(
    api: Any, owner: tuple[Browser, dict[str, Any]]
) -> None:
    browser, created = owner
    http = Http(api, created["api_key"])
    values = form_of(browser.get("/app/settings").text)
    values["non_responder_action"] = "erase"
    answer = browser.post("/app/settings", values)
    assert answer.status == 400 and "Tick the box to confirm" in answer.text
    assert http.get("/v1/account")[1]["settings"]["non_responder_action"] == "none"
    answer = browser.post("/app/settings", {**values, "confirm_erase": "1"})
    assert answer.status == 303
    assert http.get("/v1/account")[1]["settings"]["non_responder_action"] == "erase"


def test_staff_cannot_open_or_change_settings(api: Any, owner: tuple[Browser, dict[str, Any]]) -> None:
    _, created = owner
    staff = signed_in_staff(api, created["api_key"])
    home = staff.get("/app")
    assert 'href="/app/settings"' not in home.text
    for path in ("/app/settings", "/app/settings/users", "/app/settings/api-keys"):
        assert staff.get(path).status == 403, path
    staff.get("/app")
    answer = staff.post("/app/settings", {"consent_only_campaigns": "1", "sender_name": "Hacked"})
    assert answer.status == 403
    assert Http(api, created["api_key"]).get("/v1/account")[1]["settings"]["consent_only_campaigns"] is False


def test_a_suspended_account_shows_its_reason_on_every_page(
    api: Any, owner: tuple[Browser, dict[str, Any]]
) -> None:
    from dataclasses import replace

    from chalicelib.bootstrap import get_deps

    browser, created = owner
    deps = get_deps()
    account = deps.accounts.get(created["account_id"])
    deps.accounts.save(replace(account, status="suspended", suspension_reason="bounce rate 9.1% over 5%"))
    for path in (
        "/app",
        "/app/clients",
        "/app/lists",
        "/app/campaigns",
        "/app/campaigns/new",
        "/app/settings",
    ):
        page = browser.get(path)
        assert page.status == 200, path
        assert 'aria-label="Account suspended"' in page.text, path
        assert "bounce rate 9.1% over 5%" in page.text, path
