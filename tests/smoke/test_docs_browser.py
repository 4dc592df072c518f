"""Browser test of the API docs: ``GET /docs`` in Chromium (Playwright), from the real
local stack as ``make run`` starts it (the stack and browser fixtures of
``test_reactivation_browser``).

Swagger UI must render every operation of the served document from files of this
origin only (no request to any other host), under the page's strict
Content-Security-Policy without a single violation or script error; without
JavaScript, the page links to the plain reference, whose own links resolve.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import yaml

from tests.smoke import test_reactivation_browser as browser_stack
from tests.smoke.test_reactivation_browser import ARTIFACTS, TIMEOUT

# The local stack and the Chromium of the reactivation browser test, as fixtures of this module.
api = browser_stack.api
browser = browser_stack.browser

pytestmark = [pytest.mark.smoke, pytest.mark.browser]

METHODS = ("get", "post", "put", "patch", "delete")
RENDER_TIMEOUT_MS = 30_000


def _operations(api: str) -> set[tuple[str, str, str]]:
    served = requests.get(f"{api}/openapi.yaml", timeout=TIMEOUT)
    assert served.status_code == 200
    doc = yaml.safe_load(served.text)
    return {
        (method.upper(), path, operation["summary"])
        for path, item in doc["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    }


def test_swagger_ui_renders_every_operation_from_this_origin_only(api: str, browser: Any) -> None:
    expected = _operations(api)
    origin = urlsplit(api).netloc
    seen: list[str] = []
    problems: list[str] = []
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        context.on("request", lambda request: seen.append(request.url))
        page = context.new_page()
        page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda error: problems.append(str(error)))
        response = page.goto(f"{api}/docs")
        assert response is not None and response.status == 200
        assert "script-src 'self';" in response.headers["content-security-policy"]
        blocks = page.locator(".opblock")
        blocks.first.wait_for(timeout=RENDER_TIMEOUT_MS)
        page.wait_for_function(f"document.querySelectorAll('.opblock').length >= {len(expected)}")
        rendered = {
            (
                block.locator(".opblock-summary-method").inner_text().strip(),
                block.locator(".opblock-summary-path").get_attribute("data-path"),
                block.locator(".opblock-summary-description").inner_text().strip(),
            )
            for block in blocks.all()
        }
        assert rendered == expected
        summary = "The calling account"
        assert page.get_by_text(summary, exact=True).is_visible()
        # Opening an operation shows its responses, still from nothing but this origin.
        page.locator(".opblock-summary", has_text=summary).click()
        page.locator(".opblock.is-open .responses-table").first.wait_for(timeout=RENDER_TIMEOUT_MS)
        assert page.locator(".try-out").count() == 0  # a reference, not a console
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "docs-swagger-ui.png"))
    finally:
        context.close()
    assert problems == []
    assert seen, "the browser made no request"
    elsewhere = [url for url in seen if urlsplit(url).netloc != origin and not url.startswith("data:")]
    assert elsewhere == []
    assert f"{api}/openapi.yaml" in seen


def test_without_javascript_the_page_leads_to_the_plain_reference(api: str, browser: Any) -> None:
    expected = _operations(api)
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(f"{api}/docs")
        page.get_by_role("link", name="plain reference").click()
        page.wait_for_load_state()
        assert urlsplit(page.url).path == "/docs/reference"
        for _, _, summary in expected:
            assert page.get_by_text(summary).count() >= 1, summary
        for name, path in (("openapi.yaml", "/openapi.yaml"), ("Swagger UI", "/docs")):
            href = page.get_by_role("link", name=name, exact=True).get_attribute("href")
            target = requests.get(requests.compat.urljoin(page.url, href), timeout=TIMEOUT)
            assert target.status_code == 200 and urlsplit(target.url).path == path
    finally:
        context.close()
