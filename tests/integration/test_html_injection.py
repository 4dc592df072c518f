"""Security: hostile text in every field that reaches HTML is shown, never run.

Hostile strings go into every user-controlled value that a page or an e-mail shows: the
business name, sender name, address and website, the terms and legitimate-interest URLs,
client names, phone and custom fields, campaign names and templates' variables, and the intake form's
own fields (echoed back on a validation error). Then every public page and every e-mail
is rendered and parsed with ``html.parser``: no element or attribute the payload would
create exists (no ``script``/``img``/``svg``, no ``on*`` attribute, no ``javascript:``
link), the payload appears as text where the field is shown (so it was escaped, not
dropped or evaluated: ``{{ 7*7 }}`` stays literal), text parts carry it verbatim, and
headers hold one line each. Campaign templates run in a sandbox: reaching ``__class__``
and friends is a 400 when the campaign is saved, never a 500.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote, urlencode

import pytest

from tests.integration.conftest import OPERATOR, Http, verify_sender
from tests.integration.sending_support import drain, parsed, sent_messages, simulated

# One payload breaking out of text, attributes (both quotes), <title>, and template syntax.
HOSTILE = "<script>alert(1)</script>\"><img src=x onerror=alert(1)>'{{ 7*7 }}</title>"
HOSTILE_NAME = f"Bella {HOSTILE}"[:100]
# URLs must be https, but may still carry quotes and markup in their query.
HOSTILE_URL = "https://salon.example/terms?a=\"><svg/onload=alert(1)>&b='onmouseover=alert(1)//"
HOSTILE_INTEREST_URL = 'https://salon.example/li#"><script>alert(2)</script>'
SENDER = "hello@salon.example"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
INJECTED_ELEMENTS = {"script", "img", "svg", "iframe", "object", "embed", "math", "base", "meta-refresh"}
BAD_SCHEMES = ("javascript:", "data:", "vbscript:")


@dataclass
class Parsed(HTMLParser):
    elements: list[tuple[str, dict[str, str | None]]] = field(default_factory=list)
    text: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(convert_charrefs=True)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


# The one script a page may hold: the console's own file, by its content-hashed name, with no
# inline code (console pages link it from their layout).
CONSOLE_SCRIPT = re.compile(
    r'<script src="(?:/[a-z]+)?/app/static/console\.[0-9a-f]{12}\.js" defer></script>'
)


def assert_inert(html: str, *, shows: tuple[str, ...] = (), where: str = "") -> Parsed:
    """No element, attribute or link the payloads could create; ``shows`` appear as text."""
    assert len(CONSOLE_SCRIPT.findall(html)) <= 1, where
    html = CONSOLE_SCRIPT.sub("", html)
    page = Parsed()
    page.feed(html)
    page.close()
    titles = 0
    for tag, attrs in page.elements:
        assert tag not in INJECTED_ELEMENTS, (where, tag, attrs)
        titles += tag == "title"
        for name, value in attrs.items():
            assert not name.startswith("on"), (where, tag, name)
            assert name not in ("src", "srcdoc", "formaction"), (where, tag, name)
            if name in ("href", "action") and value:
                compact = re.sub(r"[\x00-\x20]", "", value).lower()
                assert not compact.startswith(BAD_SCHEMES), (where, value)
    assert titles <= 1, where
    text = "".join(page.text)
    for shown in shows:
        assert shown in text, (where, shown)
    assert "<script" not in html.lower(), where
    return page


def assert_one_line_headers(message: EmailMessage, where: str) -> None:
    for name, value in message.items():
        assert "\r" not in str(value) and "\n" not in str(value), (where, name)
    assert not {"bcc", "cc", "reply-to", "x-injected"} & {k.lower() for k in message.keys()}, where


def mail_parts(message: Any) -> tuple[EmailMessage, str, str]:
    mail = parsed(message)
    html = mail.get_body(preferencelist=("html",)).get_content()
    text = mail.get_body(preferencelist=("plain",)).get_content()
    return mail, html, text


@pytest.fixture
def hostile(api: Any) -> dict[str, Any]:
    """An account whose name, sender name and URLs are hostile (all of them accepted)."""
    status, account = Http(api, None).post(
        "/v1/accounts", {"name": HOSTILE_NAME, "sender_email": SENDER}, headers=OPERATOR
    )
    assert status == 201, account
    http = Http(api, account["api_key"])
    status, body = http.patch(
        "/v1/account/settings",
        {
            "sender_name": HOSTILE_NAME,
            "terms_url": HOSTILE_URL,
            "legitimate_interest_url": HOSTILE_INTEREST_URL,
            # the business's identity, shown on every page and in e-mail footers
            "business_address": HOSTILE,
            "website_url": HOSTILE_URL,
        },
    )
    assert status == 200, body
    verify_sender(SENDER)
    return {**account, "http": http}


def visit(api: Any, method: str, path: str) -> tuple[int, str]:
    """A GET of a link, or the POST of its page's button."""
    if method == "get":
        response = api.http.get(path)
    else:
        response = api.http.post(path, headers=FORM, body=b"choice=yes")
    return response.status_code, response.body.decode()


def links_in(html: str) -> dict[str, str]:
    return {
        cta: href.removeprefix("https://permesso.test")
        for href, cta in re.findall(r'href="([^"]+)" data-cta="([a-z]+)"', html)
    }


# --- the intake form and its double opt-in ----------------------------------------------------


def test_intake_pages_and_double_opt_in_mail(api: Any, hostile: dict[str, Any]) -> None:
    form = f"/p/forms/{hostile['public_slug']}"
    for query in ("", "?lang=" + quote(HOSTILE), "?lang=cs", "?lang=it"):
        response = api.http.get(form + query, headers={"Accept-Language": HOSTILE})
        assert response.status_code == 200
        page = assert_inert(response.body.decode(), shows=(HOSTILE_NAME,), where=f"form {query}")
        assert (
            ("a", {"href": HOSTILE_URL, "rel": "noopener noreferrer", "target": "_blank"})
        ) in page.elements

    # Every field echoed back on a validation error, each one hostile.
    values = {
        "email": f"{HOSTILE}@",
        "first_name": HOSTILE,
        "last_name": HOSTILE,
        "phone": HOSTILE,
        "language": HOSTILE,
        "consent": HOSTILE,
        "form_language": HOSTILE,
    }
    response = api.http.post(form, headers=FORM, body=urlencode(values).encode())
    assert response.status_code == 400
    page = assert_inert(response.body.decode(), where="form error")
    echoed = [attrs.get("value") for tag, attrs in page.elements if tag == "input"]
    assert echoed.count(HOSTILE) >= 3 and f"{HOSTILE}@" in echoed  # shown back, as attribute values

    # A valid submission with hostile names: the thank-you page, then the e-mail.
    values = {"email": "ann@example.com", "first_name": HOSTILE_NAME, "last_name": HOSTILE, "consent": "yes"}
    response = api.http.post(form, headers=FORM, body=urlencode(values).encode())
    assert response.status_code == 200
    assert_inert(response.body.decode(), shows=(HOSTILE_NAME,), where="thanks")

    [message] = sent_messages()
    mail, html, text = mail_parts(message)
    assert_inert(html, shows=(HOSTILE_NAME,), where="double opt-in html")
    # plain text: verbatim, never evaluated (links left out: their signed tokens are random)
    assert HOSTILE_NAME in text and "49" not in _without_links(text)
    assert_one_line_headers(mail, "double opt-in")
    assert HOSTILE_NAME in str(mail["Subject"]) and mail["From"].addresses[0].addr_spec == SENDER
    assert mail["From"].addresses[0].display_name == HOSTILE_NAME

    link = links_in(html)["confirm"]
    for method in ("get", "post"):
        status, body = visit(api, method, link)
        assert status == 200
        assert_inert(body, shows=(HOSTILE_NAME,), where=f"confirm {method}")


# --- reactivation (default template in every language), unsubscribe --------------------------


@pytest.fixture
def reactivation_mails(api: Any, hostile: dict[str, Any]) -> Iterator[list[Any]]:
    http: Http = hostile["http"]
    for language in ("en", "cs", "it"):
        body = {
            "email": f"{language}@example.com",
            "first_name": HOSTILE_NAME,
            "last_name": HOSTILE,
            "phone": "+420 601 000 000",
            "language": language,
            "tags": ["old"],
            "fields": {"note": HOSTILE},
        }
        status, created = http.post("/v1/clients", body)
        assert status == 201, created
    with simulated() as (_time, queue):
        status, campaign = http.post(
            "/v1/campaigns", {"name": HOSTILE, "kind": "reactivation", "audience": {"tag": "old"}}
        )
        assert status == 201, campaign
        assert campaign["terms_url"] == HOSTILE_URL and campaign["name"] == HOSTILE
        assert http.post(f"/v1/campaigns/{campaign['campaign_id']}/send", {})[0] == 202
        drain(api, queue)
        yield sent_messages()


def test_reactivation_mails_and_pages(api: Any, reactivation_mails: list[Any]) -> None:
    assert len(reactivation_mails) == 3
    languages = set()
    for message in reactivation_mails:
        mail, html, text = mail_parts(message)
        languages.add(str(mail["Content-Language"]))
        where = f"reactivation mail {mail['Content-Language']}"
        page = assert_inert(html, shows=(HOSTILE_NAME,), where=where)
        hrefs = [attrs.get("href") for tag, attrs in page.elements if tag == "a"]
        assert HOSTILE_URL in hrefs and HOSTILE_INTEREST_URL in hrefs, where
        assert HOSTILE_NAME in text, where
        assert_one_line_headers(mail, where)

        links = links_in(html)
        assert set(links) == {"confirm", "decline", "unsubscribe"}
        for cta in ("confirm", "decline", "unsubscribe"):
            for method in ("get", "post"):
                status, body = visit(api, method, links[cta])
                assert status == 200, (where, cta, method)
                page = assert_inert(body, shows=(HOSTILE_NAME,), where=f"{where} {cta} {method}")
                if cta != "unsubscribe":
                    hrefs = [attrs.get("href") for tag, attrs in page.elements if tag == "a"]
                    assert HOSTILE_URL in hrefs, (where, cta, method)
    assert languages == {"en", "cs", "it"}


# --- a business's own campaign template -------------------------------------------------------

CAMPAIGN_HTML = (
    "<h1>Hello {{ first_name }} {{ last_name }}</h1>"
    "<p title=\"{{ first_name }}\" data-x='{{ last_name }}'>{{ fields.note }} / {{ phone }} / {{ business_name }}</p>"
    '<a href="https://salon.example/?who={{ first_name|urlencode }}">offer</a>'
    '<a href="{{ terms_url }}">terms</a> <a href="{{ unsubscribe_url }}" data-cta="unsubscribe">unsubscribe</a>'
)


def test_campaign_mail_escapes_every_variable(api: Any, hostile: dict[str, Any]) -> None:
    http: Http = hostile["http"]
    status, _ = http.post(
        "/v1/clients",
        {
            "email": "cy@example.com",
            "first_name": HOSTILE_NAME,
            "last_name": HOSTILE,
            "fields": {"note": HOSTILE},
        },
    )
    assert status == 201
    with simulated() as (_time, queue):
        status, campaign = http.post(
            "/v1/campaigns",
            {
                "name": HOSTILE,
                "subject": "{{ first_name }} {{ business_name }} {{ fields.note }}",
                "html": CAMPAIGN_HTML,
                "audience": {"filter": {"field": "email", "op": "eq", "value": "cy@example.com"}},
            },
        )
        assert status == 201, campaign
        status, preview = http.post(f"/v1/campaigns/{campaign['campaign_id']}/preview")
        assert status == 200 and preview["recipients"] == 1
        status, _ = http.post(
            f"/v1/campaigns/{campaign['campaign_id']}/send", {"acknowledge_non_consented": True}
        )
        assert status == 202
        drain(api, queue)
    [message] = sent_messages()
    mail, html, text = mail_parts(message)
    page = assert_inert(html, shows=(HOSTILE_NAME, HOSTILE), where="campaign html")
    paragraph = next(attrs for tag, attrs in page.elements if tag == "p")
    assert (
        paragraph["title"] == HOSTILE_NAME and paragraph["data-x"] == HOSTILE
    )  # stayed inside the attribute
    assert f"https://salon.example/?who={quote(HOSTILE_NAME, safe='/')}" in [
        attrs.get("href") for tag, attrs in page.elements if tag == "a"
    ]
    assert HOSTILE in text and "49" not in _without_links(text)
    assert_one_line_headers(mail, "campaign")
    assert str(mail["Subject"]) == f"{HOSTILE_NAME} {HOSTILE_NAME} {HOSTILE}"


@pytest.mark.parametrize(
    ("field_name", "source"),
    [
        ("html", "{{ first_name.__class__ }}"),
        ("html", "{{ fields.__class__.__mro__[1].__subclasses__() }}"),
        ("html", "{{ first_name.__class__.__base__.__subclasses__() }}"),
        ("html", "{% for c in fields.__class__.__bases__ %}{{ c }}{% endfor %}"),
        ("html", "{{ fields.update({'x': 1}) }}"),
        ("html", "{{ first_name|attr('__class__') }}"),
        ("html", "{{ config }}"),
        ("html", "{{ request }}"),
        ("html", "{{ self._TemplateReference__context }}"),
        ("html", "{{ cycler.__init__.__globals__ }}"),
        ("html", "{{ first_name|safe }}"),
        ("html", "{{ 1/0 }}"),
        ("html", "{{ 'x' * 10**9 }}"),
        ("html", "{{ 'x'|center(10**9) }}"),
        ("subject", "{{ first_name.__class__.__name__ }}"),
        ("text", "{{ fields.__class__ }}"),
        # memory bombs that print little (the security review's payload, answered 201 after
        # building 50 MB): refused before anything huge is built (tests/unit/test_template_memory_bounds.py)
        ("html", "{% set a = 'x' * 1000 %}{% set b = ([a] * 500)|join %}{% set c = ([b] * 100)|join %}"),
        ("text", "{% set a = 'x' * 1000 %}" + "{% set a = a ~ a %}" * 14 + "{{ a|length }}"),
        ("subject", "{% set a = 'x' * 1000 %}{{ a.replace('x', a)|length }}"),
    ],
)
def test_sandbox_escapes_are_refused_when_saved(
    hostile: dict[str, Any], field_name: str, source: str
) -> None:
    body = {"name": "c", "subject": "s", "html": "<p>x</p>", "audience": {"tag": "x"}, field_name: source}
    status, response = hostile["http"].post("/v1/campaigns", body)
    assert status == 400, response
    assert [d["field"] for d in response["error"]["details"]] == [field_name]


def test_other_pages_reflect_nothing(api: Any, hostile: dict[str, Any]) -> None:
    payload = quote(HOSTILE, safe="")
    # The Swagger UI page (/docs) loads its own scripts: it must be the same bytes whatever is sent.
    plain = api.http.get("/docs").body
    assert api.http.get(f"/docs?x={payload}", headers={"Accept-Language": HOSTILE}).body == plain
    for path in (
        f"/docs/reference?x={payload}",
        f"/p/confirm/{payload}",
        f"/p/reactivation/{payload}",
        f"/p/unsubscribe/{payload}",
        f"/p/forms/{payload}",
        f"/p/forms/nope?lang={payload}",
        f"/p/{payload}/nowhere",
        f"/p/nowhere/{payload}?lang={payload}",
    ):
        response = api.http.get(path, headers={"Accept-Language": HOSTILE})
        body = response.body.decode()
        assert response.status_code in (200, 404), path
        assert "alert(" not in body, path
        assert_inert(body, where=path)


def test_names_shown_only_as_json_stay_json(hostile: dict[str, Any]) -> None:
    """List and tag names reach no page or e-mail: the API returns them as JSON strings."""
    http: Http = hostile["http"]
    status, created = http.post("/v1/clients", {"email": "t@example.com", "tags": [HOSTILE[:64]]})
    assert status == 201 and created["tags"] == [HOSTILE[:64]]
    status, listed = http.post("/v1/lists", {"name": HOSTILE, "source": {"tag": HOSTILE[:64]}})
    assert status == 201 and listed["name"] == HOSTILE and listed["size"] == 1
    response = http.client.http.get(f"/v1/lists/{listed['list_id']}", headers=http.headers)
    assert response.headers["Content-Type"].startswith("application/json")


# --- the console and its e-mails ----------------------------------------------------------------


def test_console_pages_and_identity_mails_escape_hostile_text(api: Any, hostile: dict[str, Any]) -> None:
    """The business name (header, title, invitation page and e-mail) and an API key's name
    (settings) are shown as text on every console page that shows them."""
    from tests.integration.console_support import Browser, accept_invitation, link_in_mail

    http = hostile["http"]
    assert http.post("/v1/users", {"email": "owner@salon.example", "role": "owner"})[0] == 201
    assert http.post("/v1/api-keys", {"name": HOSTILE_NAME})[0] == 201
    invitation = [m for m in sent_messages() if "owner@salon.example" in str(parsed(m)["To"])][-1]
    mail, html, text = mail_parts(invitation)
    assert_one_line_headers(mail, "invitation")
    assert_inert(html, shows=(HOSTILE_NAME,), where="invitation mail")
    assert HOSTILE_NAME in text
    link = link_in_mail("owner@salon.example", "/app/invitation/")
    page = Browser(api).get(link)
    assert page.status == 200
    assert_inert(page.text, shows=(HOSTILE_NAME,), where="invitation page")
    browser = accept_invitation(api, "owner@salon.example")
    assert browser.sign_in("owner@salon.example").status == 303
    for path in ("/app", "/app/settings", "/app/settings/users", "/app/settings/api-keys"):
        answer = browser.get(path)
        assert answer.status == 200, path
        assert_inert(answer.text, shows=(HOSTILE_NAME,), where=path)
    # What a visitor types is echoed back escaped.
    browser.get("/app/sign-in?lang=" + quote(HOSTILE))
    anonymous = Browser(api)
    anonymous.get("/app/sign-in")
    echoed = anonymous.post("/app/sign-in", {"email": HOSTILE, "password": HOSTILE})
    assert echoed.status == 401
    assert_inert(echoed.text, where="sign-in echo")
    assert (
        'value="&lt;script&gt;alert(1)&lt;/script&gt;&#34;&gt;' in echoed.text
    )  # kept, as an attribute's text
    for path in ("/app/invitation/" + quote(HOSTILE, safe=""), "/app/reset/" + quote(HOSTILE, safe="")):
        answer = Browser(api).get(path)
        assert answer.status == 404 and "alert(" not in answer.text, path


# --- the local outbox (local stage only) -------------------------------------------------------


@pytest.fixture(scope="module")
def outbox_emulator() -> Iterator[str]:
    """The local stack's emulator server (moto, its patches and the outbox feed)."""
    from local.emulator import EmulatorServer

    server = EmulatorServer(port=0)
    server.start()
    yield server.url
    server.stop()


def test_outbox_pages_show_hostile_mail_as_text_and_its_html_only_in_a_sandbox(outbox_emulator: str) -> None:
    """Subject, sender name, recipient and both parts hostile: the list (searched for the
    payload), the opened e-mail and the e-mail's own HTML route."""
    from datetime import UTC, datetime

    import boto3
    from chalice import Chalice
    from chalice.test import Client

    from chalicelib.api import dev
    from chalicelib.bootstrap import get_deps
    from chalicelib.mail.mime import OutgoingMail
    from chalicelib.mail.ses import SesMailer

    boto3.client("sesv2", region_name="eu-central-1", endpoint_url=outbox_emulator).create_email_identity(
        EmailIdentity=SENDER
    )
    hostile_mail = OutgoingMail(
        sender_email=SENDER,
        sender_name=HOSTILE_NAME,
        to="victim@example.com",
        subject=HOSTILE,
        text=HOSTILE,
        html=f"<p>{HOSTILE}</p><script>alert(3)</script><a href='javascript:alert(4)'>x</a>",
        list_unsubscribe_url="https://permesso.test/p/unsubscribe/" + quote(HOSTILE),
    )
    message_id = SesMailer(get_deps().settings, endpoint_url=outbox_emulator).send(
        hostile_mail, now=datetime.now(UTC)
    )
    deps = get_deps()
    saved = deps.settings
    deps.settings = saved.model_copy(update={"stage": "local", "aws_endpoint_url": outbox_emulator})
    app = Chalice(app_name="permesso-outbox-injection")
    app.register_blueprint(dev.api)
    try:
        with Client(app) as client:
            html = {"Accept": "text/html"}
            listing = client.http.get("/dev/outbox?" + urlencode({"q": HOSTILE}), headers=html)
            assert listing.status_code == 200
            assert_inert(listing.body.decode(), shows=(HOSTILE,), where="outbox list")  # the subject

            opened = client.http.get(f"/dev/outbox/{message_id}", headers=html)
            assert opened.status_code == 200
            page = opened.body.decode()
            frames = re.findall(r"<iframe[^>]*>", page)
            assert frames == [
                f'<iframe sandbox src="/dev/outbox/{message_id}/html" title="HTML part of the e-mail" '
                'referrerpolicy="no-referrer">'
            ]
            assert_inert(page.replace(frames[0], ""), shows=(HOSTILE,), where="outbox e-mail")
            for response in (listing, opened):
                policy = response.headers["Content-Security-Policy"]
                assert "script-src" not in policy and "default-src 'none'" in policy

            part = client.http.get(f"/dev/outbox/{message_id}/html")
            policy = part.headers["Content-Security-Policy"]
            assert policy.split(";")[0] == "sandbox" and "default-src 'none'" in policy
            assert "allow-scripts" not in policy and "script-src" not in policy
            assert part.headers["Content-Type"].startswith("text/html")
    finally:
        deps.settings = saved


def _without_links(text: str) -> str:
    """A plain-text part without its URLs (their signed tokens are random and may hold "49")."""
    import re

    return re.sub(r"https?://\S+", "", text)
