"""The business's identity on its clients' pages and e-mails, never the product's name;
thank-you pages lead back to the business; a visible focus ring; footers inside <body>."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import pytest

from chalicelib.domain.business import contrast_ratio
from chalicelib.mail.rendering import TEMPLATES_DIR
from tests.integration.conftest import Http
from tests.integration.sending_support import drain, parsed, sent_messages, simulated

IDENTITY = {
    "logo_url": "https://salon.example/logo.png",
    "brand_color": "#7A1F5C",
    "business_address": "Via Roma 12\n20121 Milano",
    "website_url": "https://salon.example/",
    "contact_email": "ciao@salon.example",
    "contact_phone": "+39 02 1234 5678",
}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def branded(http: Http) -> Http:
    status, body = http.patch("/v1/account/settings", IDENTITY)
    assert status == 200, body
    return http


def test_identity_settings_are_validated(http: Http) -> None:
    status, body = http.patch("/v1/account/settings", IDENTITY)
    assert status == 200
    settings = body["settings"]
    assert (
        settings["brand_color"] == "#7a1f5c" and settings["business_address"] == "Via Roma 12\n20121 Milano"
    )
    for bad, field in [
        ({"brand_color": "#ffd700"}, "brand_color"),  # gold: white on it is unreadable
        ({"brand_color": "purple"}, "brand_color"),
        ({"logo_url": "http://salon.example/logo.png"}, "logo_url"),
        ({"website_url": "javascript:alert(1)"}, "website_url"),
        ({"contact_email": "nope"}, "contact_email"),
        ({"business_address": "a\x07b"}, "business_address"),
    ]:
        status, answer = http.patch("/v1/account/settings", bad)
        assert status == 400, bad
        assert answer["error"]["details"][0]["field"].startswith(field), answer
    status, answer = http.patch("/v1/account/settings", {"brand_color": "#ffd700"})
    assert "contrast" in answer["error"]["details"][0]["message"]
    status, cleared = http.patch("/v1/account/settings", {"logo_url": None})
    assert status == 200 and cleared["settings"]["logo_url"] is None


def test_public_pages_carry_the_business_identity_and_lead_back_to_it(
    api: Any, branded: Http, account: dict[str, Any]
) -> None:
    page = api.http.get(f"/p/forms/{account['public_slug']}")
    html = page.body.decode()
    assert page.status_code == 200
    assert '<img src="https://salon.example/logo.png" alt="Salon Bella">' in html
    assert "Via Roma 12, 20121 Milano" in html and "ciao@salon.example · +39 02 1234 5678" in html
    assert "#7a1f5c" in html and "Permesso" not in html
    assert "img-src 'self' data: https:" in page.headers["Content-Security-Policy"]
    done = api.http.post(
        f"/p/forms/{account['public_slug']}", headers=FORM, body=b"email=ann%40example.com&form_language=en"
    )
    body = done.body.decode()
    assert (
        done.status_code == 200 and 'href="https://salon.example/"' in body and "Back to Salon Bella" in body
    )


def test_the_404_page_names_no_product(api: Any) -> None:
    for path in ("/p/forms/none-such-slug-123", "/p/unsubscribe/garbage", "/p/reactivation/x.y.z"):
        page = api.http.get(path)
        assert page.status_code == 404
        assert "Permesso" not in page.body.decode(), path


def _colour(css: str, selector_start: str) -> str:
    block = css[css.index(selector_start) :]
    return re.search(r"outline:\s*\d+px solid (#[0-9a-fA-F]{6})", block).group(1)  # type: ignore[union-attr]


def test_the_focus_ring_has_at_least_3_to_1_contrast_on_every_background() -> None:
    css = (TEMPLATES_DIR / "pages" / "base.html").read_text()
    ring = _colour(css, "a:focus-visible")
    for background in ("#ffffff", "#f4f4f2"):  # the card and the page
        assert contrast_ratio(ring, background) >= 3, (ring, background)


def test_campaign_mails_keep_the_footer_inside_the_body_with_the_identity(
    branded: Http, account: dict[str, Any]
) -> None:
    from tests.integration.conftest import verify_sender

    verify_sender("hello@salon.example")
    http = branded
    http.post("/v1/clients", {"email": "a@example.com", "tags": ["vip"]})
    document = "<!DOCTYPE html><html><head><title>x</title></head><body><p>Offer</p></body></html>"
    status, campaign = http.post(
        "/v1/campaigns", {"name": "x", "subject": "Offer", "html": document, "selection": {"tag": "vip"}}
    )
    assert status == 201
    with simulated() as (_, queue):
        assert (
            http.post(f"/v1/campaigns/{campaign['campaign_id']}/send", {"acknowledge_non_consented": True})[0]
            == 202
        )
        drain(http.client, queue)
    [message] = [parsed(m) for m in sent_messages()]
    html = message.get_body(preferencelist=("html",)).get_content()
    footer = html.index('data-cta="unsubscribe"')
    assert footer < html.lower().index("</body>") < html.lower().index("</html>")
    assert "Via Roma 12, 20121 Milano" in html and "https://salon.example/" in html
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert "Via Roma 12, 20121 Milano" in text and "ciao@salon.example" in text
    # the rendered preview is built the same way
    rendered = http.post(f"/v1/campaigns/{campaign['campaign_id']}/render", {})[1]["html"]
    assert rendered.lower().index('data-cta="unsubscribe"') < rendered.lower().index("</body>")


def test_reactivation_pages_and_default_mail_show_the_logo(branded: Http, account: dict[str, Any]) -> None:
    http = branded
    status, campaign = http.post(
        "/v1/campaigns",
        {
            "name": "Still with us?",
            "kind": "reactivation",
            "selection": {"tag": "old"},
            "terms_url": "https://salon.example/terms",
            "legitimate_interest_url": "https://salon.example/li",
        },
    )
    assert status == 201
    rendered = http.post(f"/v1/campaigns/{campaign['campaign_id']}/render", {})[1]["html"]
    assert 'src="https://salon.example/logo.png"' in rendered and "Via Roma 12" in rendered
    confirm = re.search(r'href="([^"]+)" data-cta="confirm"', rendered).group(1)  # type: ignore[union-attr]
    page = http.client.http.get(urlsplit(confirm).path).body.decode()
    assert 'src="https://salon.example/logo.png"' in page and "Permesso" not in page
    done = http.client.http.post(urlsplit(confirm).path, headers=FORM, body=b"choice=x").body.decode()
    assert "Back to Salon Bella" in done
