"""Browser test of staff identity on the real local stack (``python -m local.run`` on free
ports), in Chromium driven by Playwright: the owner invited by ``POST /v1/accounts`` opens the
invitation from the outbox, sets a password, signs in, signs out — and the session cookie held
before signing out no longer opens anything. Every page is checked with axe-core and
screenshotted at 390 px and 1280 px under ``test-artifacts/``; controls are found by role and
accessible name, as CONSOLE.md names them."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
import requests

from tests.smoke.test_local_stack import OPERATOR_KEY
from tests.smoke.test_reactivation_browser import (  # noqa: F401 — pytest fixtures
    ARTIFACTS,
    TIMEOUT,
    api,
    browser,
    check_accessibility,
)

pytestmark = [pytest.mark.smoke, pytest.mark.browser]

OWNER = "owner@console-browser.example"
PASSWORD = "a long and private passphrase"
WIDTHS = (390, 1280)


def _invitation(api: str) -> str:  # noqa: F811 — the URL, not the fixture
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        outbox = requests.get(f"{api}/dev/outbox", timeout=TIMEOUT).json()["items"]
        for mail in outbox:
            if OWNER in mail["to"]:
                [href] = {link["href"] for link in mail["links"] if link["cta"] == "invitation_mail"}
                return str(href)
        time.sleep(0.3)
    raise AssertionError("no invitation in the outbox")


def _look(page: Any, name: str) -> None:
    """axe-core finds nothing; a screenshot at each width; no horizontal scrolling."""
    check_accessibility(page, "en")
    ARTIFACTS.mkdir(exist_ok=True)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        assert page.evaluate("document.documentElement.scrollWidth") <= width, (name, width)
        page.screenshot(path=str(ARTIFACTS / f"console-{name}-{width}.png"), full_page=True)


def test_accept_the_invitation_sign_in_sign_out(api: str, browser: Any) -> None:  # noqa: F811
    created = requests.post(
        f"{api}/v1/accounts",
        json={"name": "Console Salon", "sender_email": "hello@console-browser.example", "owner_email": OWNER},
        headers={"Authorization": f"Bearer {OPERATOR_KEY}"},
        timeout=TIMEOUT,
    )
    assert created.status_code == 201, created.text
    link = _invitation(api)
    assert link.startswith(f"{api}/app/invitation/")

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        # The invitation: a form, nothing done by opening it.
        response = page.goto(link)
        assert response is not None and response.status == 200
        assert response.headers["cache-control"] == "no-store"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        _look(page, "invitation")
        page.get_by_label("New password").fill("too short")
        page.get_by_label("Confirm password").fill("too short")
        page.get_by_role("button", name="Set password").click()
        assert page.locator(".error-summary").is_visible()
        _look(page, "invitation-error")
        page.get_by_label("New password").fill(PASSWORD)
        page.get_by_label("Confirm password").fill(PASSWORD)
        page.get_by_role("button", name="Set password").click()
        page.wait_for_url(re.compile(r"/app/sign-in"))
        assert "Your password is set" in page.content()

        # Sign in.
        _look(page, "sign-in")
        assert page.get_by_role("link", name="Forgot password?").count() == 1
        page.get_by_label("Email").fill(OWNER)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(re.compile(r"/app$"))
        for name in ("Clients", "Lists", "Campaigns", "Settings"):
            assert page.get_by_role("link", name=name, exact=True).count() == 1, name
        assert page.get_by_role("button", name="Sign out", exact=True).count() == 1
        _look(page, "home")
        [cookie] = [c for c in context.cookies() if c["name"] == "permesso_session"]
        assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and cookie["path"] == "/app"
        assert not cookie["secure"]  # the local stack is plain HTTP; every other stage sets Secure
        held = dict(cookie)

        page.get_by_role("link", name="Settings", exact=True).click()
        page.wait_for_url(re.compile(r"/app/settings$"))
        _look(page, "settings")
        page.get_by_role("link", name="Users").click()
        page.wait_for_url(re.compile(r"/app/settings/users$"))
        _look(page, "users")
        page.get_by_role("link", name="Settings", exact=True).click()
        page.get_by_role("link", name="API keys").click()
        page.wait_for_url(re.compile(r"/app/settings/api-keys$"))
        _look(page, "api-keys")

        # Sign out: back to the sign-in page, the cookie gone.
        page.get_by_role("button", name="Sign out", exact=True).click()
        page.wait_for_url(re.compile(r"/app/sign-in"))
        assert "You are signed out" in page.content()
        assert not [c for c in context.cookies() if c["name"] == "permesso_session"]
    finally:
        context.close()

    # The cookie held before signing out opens nothing any more, in a browser or not.
    replay = browser.new_context()
    try:
        replay.add_cookies([held])
        page = replay.new_page()
        page.goto(f"{api}/app")
        assert page.url.endswith("/app/sign-in")
    finally:
        replay.close()
    answer = requests.get(
        f"{api}/app", cookies={"permesso_session": held["value"]}, allow_redirects=False, timeout=TIMEOUT
    )
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/app/sign-in")
