"""Security review: every marketing e-mail shows a working unsubscribe link, whatever the
business's template does. The sent HTML is parsed: it must hold a visible anchor whose
``href`` is the recipient's own unsubscribe URL (the one in ``List-Unsubscribe``), inside
``<body>`` when the template has one. A template that only pretends to have one (the
``data-cta`` marker on a span, a link to elsewhere, a commented-out or hidden link) gets the
footer."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import pytest

from tests.integration.conftest import Http
from tests.integration.sending_support import drain, parsed, sent_messages, simulated


class Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.found: list[dict[str, Any]] = []
        self._current: dict[str, Any] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._current = {
                "href": dict(attrs).get("href"),
                "in": tuple(self.open),
                "text": "",
                **dict(attrs),
            }
            self.found.append(self._current)
        elif tag not in ("br", "img", "hr", "meta"):
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._current = None
        elif tag in self.open:
            while self.open.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        if self._current is not None:
            self._current["text"] += data


def anchors(html: str) -> list[dict[str, Any]]:
    parser = Anchors()
    parser.feed(html)
    parser.close()
    return parser.found


TEMPLATES = {
    "marker on a span": '<p>Hi {{ first_name }}</p><span data-cta="unsubscribe"></span>',
    "marker on a link elsewhere": '<p>Hi</p><a data-cta="unsubscribe" href="https://evil.example/">Unsubscribe</a>',
    "commented out": '<p>Hi</p><!-- <a href="{{ unsubscribe_url }}" data-cta="unsubscribe">Unsubscribe</a> -->',
    "hidden": '<p>Hi</p><a href="{{ unsubscribe_url }}" data-cta="unsubscribe" style="display:none">x</a>',
    "empty": '<p>Hi</p><a href="{{ unsubscribe_url }}" data-cta="unsubscribe"></a>',
    "full document": "<!doctype html><html><head><title>Sale</title></head><body><p>Hi</p></body></html>",
}


@pytest.mark.parametrize("name", list(TEMPLATES))
def test_a_template_without_a_real_visible_link_gets_the_footer(api: Any, http: Http, name: str) -> None:
    from tests.integration.conftest import verify_sender

    verify_sender("hello@salon.example")
    assert http.post("/v1/clients", {"email": "ana@example.com", "first_name": "Ana"})[0] == 201
    with simulated() as (_time, queue):
        status, campaign = http.post(
            "/v1/campaigns",
            {
                "name": "Sale",
                "subject": "Sale",
                "html": TEMPLATES[name],
                "text": "Hi {{ first_name }}",
                "audience": {"filter": {"field": "email", "op": "eq", "value": "ana@example.com"}},
            },
        )
        assert status == 201, campaign
        status, body = http.post(
            f"/v1/campaigns/{campaign['campaign_id']}/send", {"acknowledge_non_consented": True}
        )
        assert status == 202, body
        drain(api, queue)
    [message] = sent_messages()
    mail = parsed(message)
    url = str(mail["List-Unsubscribe"]).strip("<>")
    html = mail.get_body(preferencelist=("html",)).get_content()
    visible = [
        a
        for a in anchors(html)
        if a["href"] == url and a["text"].strip() and not {"style", "hidden"} & set(a)
    ]
    assert len(visible) == 1, (name, html)
    [link] = visible
    if "<body>" in TEMPLATES[name]:
        assert "body" in link["in"] and html.lower().rstrip().endswith("</html>")
    assert url in mail.get_body(preferencelist=("plain",)).get_content()
    # The link works: its page offers the one-click button.
    from urllib.parse import urlsplit

    assert api.http.get(urlsplit(url).path).status_code == 200


def test_a_template_with_a_real_link_gets_no_second_one(api: Any, http: Http) -> None:
    from tests.integration.conftest import verify_sender

    verify_sender("hello@salon.example")
    assert http.post("/v1/clients", {"email": "ana@example.com"})[0] == 201
    with simulated() as (_time, queue):
        status, campaign = http.post(
            "/v1/campaigns",
            {
                "name": "Sale",
                "subject": "Sale",
                "html": '<p>Hi</p><p><a href="{{ unsubscribe_url }}">Odhlásit odběr</a></p>',
                "audience": {"filter": {"field": "email", "op": "eq", "value": "ana@example.com"}},
            },
        )
        assert status == 201
        http.post(f"/v1/campaigns/{campaign['campaign_id']}/send", {"acknowledge_non_consented": True})
        drain(api, queue)
    [message] = sent_messages()
    mail = parsed(message)
    url = str(mail["List-Unsubscribe"]).strip("<>")
    html = mail.get_body(preferencelist=("html",)).get_content()
    assert [a["text"] for a in anchors(html) if a["href"] == url] == ["Odhlásit odběr"]
