"""Security: every URL a business can store (account settings, campaigns) is an absolute
``https://`` URL — no ``http:``, ``javascript:``, ``data:``, protocol-relative ``//`` or
scheme-less value, whatever the case, spaces, tabs or invisible characters around it.

The fields are found, not listed: every pydantic model of the request layer is inspected
and each field whose name mentions a URL must refuse every hostile value, so a new URL
field without the rule fails here. The HTTP routes that take them answer 400 naming the
field.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from tests.integration.conftest import Http

HOSTILE_URLS = [
    "http://salon.example/terms",
    "HTTP://salon.example/terms",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    " javascript:alert(1)",
    "java\tscript:alert(1)",
    "javascript://salon.example/%0aalert(1)",
    "javascript:https://salon.example/",
    "data:text/html,<script>alert(1)</script>",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "vbscript:msgbox(1)",
    "file:///etc/passwd",
    "ftp://salon.example/terms",
    "mailto:hello@salon.example",
    "//salon.example/terms",
    "///salon.example/terms",
    "\\\\salon.example\\terms",
    "https:salon.example/terms",
    "https:/salon.example/terms",
    "https:///terms",
    "https://",
    "https:// salon.example/terms",
    "ht\ttps://salon.example/terms",
    "https\n://salon.example/terms",
    "https://salon.example/te\nrms",
    "https://salon.example/te\trms",
    "https://salon.example/te rms",
    "https://salon.example/\u200bterms",  # zero-width space
    "\u202ehttps://salon.example/terms",  # right-to-left override
    "https://salon.example/\x00terms",
    "salon.example/terms",
    "/terms",
    "",
    "   ",
    "https://" + "a" * 2048 + ".example/",
]
GOOD_URLS = {
    "https://salon.example/terms": "https://salon.example/terms",
    "  https://salon.example/terms?lang=cs#top  ": "https://salon.example/terms?lang=cs#top",
    "HTTPS://salon.example/terms": "HTTPS://salon.example/terms",
}
REQUEST_PACKAGES = ("chalicelib.domain", "chalicelib.services", "chalicelib.api")
# Where each URL field is set through the API, and how.
ROUTES = {
    ("AccountSettingsPatch", "terms_url"),
    ("AccountSettingsPatch", "legitimate_interest_url"),
    ("NewCampaign", "terms_url"),
    ("NewCampaign", "legitimate_interest_url"),
    ("AccountSettingsPatch", "logo_url"),
    ("AccountSettingsPatch", "website_url"),
    ("CampaignPatch", "terms_url"),
    ("CampaignPatch", "legitimate_interest_url"),
}


def request_models() -> set[type[BaseModel]]:
    models: set[type[BaseModel]] = set()
    for package_name in REQUEST_PACKAGES:
        package = importlib.import_module(package_name)
        for info in pkgutil.iter_modules(package.__path__):
            module = importlib.import_module(f"{package_name}.{info.name}")
            for value in vars(module).values():
                if (
                    isinstance(value, type)
                    and issubclass(value, BaseModel)
                    and value.__module__ == module.__name__
                ):
                    models.add(value)
    return models


def url_fields() -> list[tuple[type[BaseModel], str, TypeAdapter[Any]]]:
    found = []
    for model in sorted(request_models(), key=lambda m: m.__name__):
        for name, info in model.model_fields.items():
            if re.search(r"(^|_)(url|uri|link|href)s?($|_)", name.lower()):
                annotation = (
                    Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
                )
                found.append((model, name, TypeAdapter(annotation)))
    return found


def test_the_url_fields_are_found() -> None:
    names = {(model.__name__, name) for model, name, _ in url_fields()}
    assert {
        ("AccountSettings", "terms_url"),
        ("AccountSettings", "legitimate_interest_url"),
        ("AccountSettingsPatch", "terms_url"),
        ("AccountSettingsPatch", "legitimate_interest_url"),
        ("NewCampaign", "terms_url"),
        ("NewCampaign", "legitimate_interest_url"),
    } <= names
    # Every field a request can set is exercised through HTTP below (a private base model's
    # fields through the request models that inherit them).
    settable = {n for n in names if not n[0].startswith(("AccountSettings", "_")) or n[0].endswith("Patch")}
    assert settable == ROUTES


@pytest.mark.parametrize("url", HOSTILE_URLS, ids=repr)
def test_every_url_field_refuses(url: str) -> None:
    for model, name, adapter in url_fields():
        with pytest.raises(ValidationError):
            adapter.validate_python(url)
            pytest.fail(f"{model.__name__}.{name} accepted {url!r}")


def test_every_url_field_keeps_https_urls() -> None:
    for _model, _name, adapter in url_fields():
        for given, stored in GOOD_URLS.items():
            assert adapter.validate_python(given) == stored


def _error_fields(body: dict[str, Any]) -> set[str]:
    return {detail["field"] for detail in body["error"]["details"]}


@pytest.mark.parametrize("field", ["terms_url", "legitimate_interest_url", "logo_url", "website_url"])
def test_settings_refuse_with_the_field_named(http: Http, field: str) -> None:
    for url in HOSTILE_URLS:
        status, body = http.patch("/v1/account/settings", {field: url})
        assert status == 400 and _error_fields(body) == {field}, (url, body)
    status, account = http.get("/v1/account")
    assert account["settings"][field] is None  # nothing hostile was stored
    status, account = http.patch("/v1/account/settings", {field: "  https://salon.example/terms  "})
    assert status == 200 and account["settings"][field] == "https://salon.example/terms"


@pytest.mark.parametrize("field", ["terms_url", "legitimate_interest_url"])
@pytest.mark.parametrize("kind", ["standard", "reactivation"])
def test_campaigns_refuse_with_the_field_named(http: Http, field: str, kind: str) -> None:
    good = {"terms_url": "https://salon.example/terms", "legitimate_interest_url": "https://salon.example/li"}
    base = {"name": "c", "kind": kind, "audience": {"tag": "x"}, **good}
    if kind == "standard":  # a reactivation campaign gets the default subject and body
        base.update(subject="s", html="<p>x</p>")
    for url in HOSTILE_URLS:
        status, body = http.post("/v1/campaigns", {**base, field: url})
        assert status == 400 and _error_fields(body) == {field}, (url, body)
    status, listed = http.get("/v1/campaigns")
    assert status == 200 and listed["items"] == []
    status, created = http.post("/v1/campaigns", base)
    assert status == 201 and created[field] == good[field]


@pytest.mark.parametrize("field", ["terms_url", "legitimate_interest_url"])
def test_a_draft_edit_refuses_with_the_field_named(http: Http, field: str) -> None:
    status, draft = http.post(
        "/v1/campaigns", {"name": "c", "subject": "s", "html": "<p>x</p>", "selection": {"tag": "x"}}
    )
    assert status == 201
    path = f"/v1/campaigns/{draft['campaign_id']}"
    for url in HOSTILE_URLS:
        status, body = http.patch(path, {field: url})
        assert status == 400 and _error_fields(body) == {field}, (url, body)
    assert http.get(path)[1][field] is None
    status, edited = http.patch(path, {field: " https://salon.example/terms "})
    assert status == 200 and edited[field] == "https://salon.example/terms"


def test_sender_and_business_names_refuse_line_breaks(api: Any, http: Http) -> None:
    """Names that go into From and Subject headers: a line break would make every e-mail
    unbuildable (the MIME layer refuses it), so it is refused when it is stored."""
    from tests.integration.conftest import OPERATOR

    for name in ("Salon\r\nBcc: victim@example.com", "Salon\nBella", "Salon\x00", "Salon\u2028Bella"):
        status, body = http.patch("/v1/account/settings", {"sender_name": name})
        assert status == 400 and _error_fields(body) == {"sender_name"}, (name, body)
        status, body = Http(api, None).post(
            "/v1/accounts", {"name": name, "sender_email": "x@salon.example"}, headers=OPERATOR
        )
        assert status == 400 and _error_fields(body) == {"name"}, (name, body)
