"""Browser test of seed 003: a real reactivation e-mail from the local stack's outbox,
its confirm and decline links followed in Chromium (Playwright), at a 360 px wide
mobile viewport.

The real local stack runs as ``make run`` starts it (``python -m local.run`` on free
ports). For each of confirm and decline: the link's page is opened (nothing but an
``opened`` event may be recorded), its button is clicked, the thank-you page and the
consent ledger are checked. Each page is screenshotted under ``test-artifacts/`` and
checked with axe-core (shipped inside the ``axe-playwright-python`` package, so the
check runs offline), plus explicit checks: the ``lang`` attribute, the buttons'
accessible names, and the contrast of the green and red buttons computed from the
rendered colours.
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

pytestmark = [pytest.mark.smoke, pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PROJECT_DIR = Path(__file__).resolve().parents[2]
ARTIFACTS = PROJECT_DIR / "test-artifacts"
TERMS = "https://salon.example/terms"
INTEREST = "https://salon.example/legitimate-interest"
TIMEOUT = 10.0


def _chromium_missing() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is not installed (make test installs it with apt-get install chromium)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (requirements-dev.txt)"
    return None


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    reason = _chromium_missing()
    if reason:
        pytest.skip(reason)
    workdir = tmp_path_factory.mktemp("browser-stack")
    api_port, moto_port = free_ports(2)
    log = workdir / "run.log"
    process = start_stack(api_port, moto_port, workdir / "state", log, stack_environment())
    seen: set[int] = set()
    try:
        deadline = time.monotonic() + 120
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


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def story(api: str) -> dict[str, Any]:
    """An account, two clients and a sent reactivation campaign; their e-mails' links."""
    created = requests.post(
        f"{api}/v1/accounts",
        json={"name": "Salone Bella", "sender_email": "ciao@bella.example"},
        headers={"Authorization": f"Bearer {OPERATOR_KEY}"},
        timeout=TIMEOUT,
    )
    assert created.status_code == 201, created.text
    auth = {"Authorization": f"Bearer {created.json()['api_key']}"}
    patched = requests.patch(
        f"{api}/v1/account/settings",
        json={"terms_url": TERMS, "legitimate_interest_url": INTEREST},
        headers=auth,
        timeout=TIMEOUT,
    )
    assert patched.status_code == 200, patched.text
    clients = {}
    for name, language in (("anna", "en"), ("bea", "it")):
        body = {"email": f"{name}@browser.example", "first_name": name.capitalize(), "tags": ["browser"]}
        body["language"] = language
        response = requests.post(f"{api}/v1/clients", json=body, headers=auth, timeout=TIMEOUT)
        assert response.status_code == 201, response.text
        clients[name] = response.json()["client_id"]
    campaign = requests.post(
        f"{api}/v1/campaigns",
        json={"name": "Still with us?", "kind": "reactivation", "audience": {"tag": "browser"}},
        headers=auth,
        timeout=TIMEOUT,
    )
    assert campaign.status_code == 201, campaign.text
    campaign_id = campaign.json()["campaign_id"]
    sent = requests.post(f"{api}/v1/campaigns/{campaign_id}/send", json={}, headers=auth, timeout=TIMEOUT)
    assert sent.status_code == 202, sent.text

    mails: dict[str, Any] = {}
    deadline = time.monotonic() + 90
    while len(mails) < 2 and time.monotonic() < deadline:
        outbox = requests.get(f"{api}/dev/outbox", timeout=TIMEOUT).json()["items"]
        mails = {
            to: mail
            for mail in outbox
            for to in mail["to"]
            if to.endswith("@browser.example") and any(link["cta"] == "confirm" for link in mail["links"])
        }
        time.sleep(0.5)
    assert len(mails) == 2, f"the worker did not send both e-mails: {list(mails)}"
    return {"api": api, "auth": auth, "clients": clients, "campaign_id": campaign_id, "mails": mails}


def _link(mail: dict[str, Any], cta: str) -> str:
    [href] = {link["href"] for link in mail["links"] if link["cta"] == cta}
    return str(href)


def _consent(story: dict[str, Any], name: str) -> dict[str, Any]:
    response = requests.get(
        f"{story['api']}/v1/clients/{story['clients'][name]}/consent", headers=story["auth"], timeout=TIMEOUT
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def _luminance(rgb: tuple[int, int, int]) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _rgb(css: str) -> tuple[int, int, int]:
    parts = css[css.index("(") + 1 : css.index(")")].replace(",", " ").split()
    return int(float(parts[0])), int(float(parts[1])), int(float(parts[2]))


def contrast(foreground: str, background: str) -> float:
    lighter, darker = sorted((_luminance(_rgb(foreground)), _luminance(_rgb(background))), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def check_accessibility(page: Any, language: str) -> None:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    violations = [(v["id"], v["impact"]) for v in results.response["violations"]]
    assert violations == [], results.generate_report()
    assert page.evaluate("document.documentElement.lang") == language
    for button in page.get_by_role("button").all():
        # The accessible name as the accessibility tree computes it: a <button>'s text, or an
        # <input type="file"> (a button too) named by its <label> — inner_text() of an input
        # is always empty, so only the name tells a named control from an unnamed one.
        snapshot = button.aria_snapshot()
        assert re.match(r'- button "\S', snapshot), f"every button has an accessible name: {snapshot!r}"
        colour, background = button.evaluate(
            "b => [getComputedStyle(b).color, getComputedStyle(b).backgroundColor]"
        )
        assert contrast(colour, background) >= 4.5, (colour, background)


def _screenshot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.mark.parametrize(
    ("name", "cta", "language", "thanks", "state"),
    [
        ("anna", "confirm", "en", "Thank you for confirming", "granted"),
        ("bea", "decline", "it", "La tua scelta è stata registrata", "denied"),
    ],
)
def test_follow_the_link_and_press_the_button(
    story: dict[str, Any], browser: Any, name: str, cta: str, language: str, thanks: str, state: str
) -> None:
    mail = story["mails"][f"{name}@browser.example"]
    context = browser.new_context(
        viewport={"width": 360, "height": 740}, device_scale_factor=2, is_mobile=True, bypass_csp=True
    )
    try:
        page = context.new_page()
        # The e-mail itself, as a phone shows it.
        page.set_content(mail["html"])
        _screenshot(page, f"reactivation-mail-{name}")
        buttons = {a.get_attribute("data-cta"): a for a in page.locator("a[data-cta]").all()}
        assert set(buttons) == {"confirm", "decline", "unsubscribe"}
        greeting = {"en": "Hello Anna,", "it": "Ciao Bea,"}[language]
        assert greeting in page.locator("p").first.inner_text()  # the default speaks the client's language
        for key in ("confirm", "decline"):
            colour, background = buttons[key].evaluate(
                "a => [getComputedStyle(a).color, getComputedStyle(a).backgroundColor]"
            )
            assert contrast(colour, background) >= 4.5

        # Following the link shows the choice; it records only "opened".
        response = page.goto(_link(mail, cta))
        assert response is not None and response.status == 200
        assert page.locator("form[method=post] button").count() == 1
        assert page.locator(f'a[href="{TERMS}"]').count() == 1
        assert page.locator(f'a[href="{INTEREST}"]').count() == 1
        assert page.locator("script").count() == 0
        page_width = page.evaluate("document.documentElement.scrollWidth")
        assert page_width <= 360, "no horizontal scrolling on a phone"
        _screenshot(page, f"reactivation-{cta}-page")
        check_accessibility(page, language)
        before = _consent(story, name)
        assert before["state"] == "unknown"
        assert [e["type"] for e in before["events"]] == ["opened"]

        # Pressing the button records the choice and thanks.
        page.locator("form[method=post] button").click()
        page.wait_for_load_state()
        assert thanks in page.locator("h1").inner_text()
        _screenshot(page, f"reactivation-{cta}-thanks")
        check_accessibility(page, language)
        assert (
            page.locator(
                f"form[method=post] button[data-cta={'decline' if cta == 'confirm' else 'confirm'}]"
            ).count()
            == 1
        )

        after = _consent(story, name)
        assert after["state"] == state
        event = after["events"][-1]
        assert event["type"] == state and event["source"] == "reactivation_campaign"
        assert event["campaign_id"] == story["campaign_id"]
        assert event["ip"] == "127.0.0.1" and "Chrome" in (event["user_agent"] or "")
        assert (event["terms_url"], event["legitimate_interest_url"]) == (TERMS, INTEREST)

        if cta == "confirm":
            # Changing one's mind from the thank-you page (its form posts to the other link).
            page.locator("form.change button").click()
            page.wait_for_load_state()
            assert "Your choice has been recorded" in page.locator("h1").inner_text()
            _screenshot(page, "reactivation-changed-mind")
            changed = _consent(story, name)
            assert changed["state"] == "denied"
            assert [e["type"] for e in changed["events"]] == ["opened", "granted", "denied"]
    finally:
        context.close()


def test_the_report_counts_both_choices(story: dict[str, Any]) -> None:
    report = requests.get(
        f"{story['api']}/v1/campaigns/{story['campaign_id']}/report", headers=story["auth"], timeout=TIMEOUT
    ).json()
    # Anna confirmed, then changed her mind; Bea declined.
    assert (report["confirmed"], report["declined"], report["no_response"]) == (0, 2, 0)
