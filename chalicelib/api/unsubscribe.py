"""Public unsubscribe pages under ``/p/unsubscribe/{token}`` (registered on the public blueprint).

- ``POST`` with the body ``List-Unsubscribe=One-Click`` (RFC 8058, sent by
  the mail provider from the ``List-Unsubscribe`` header) → 200, done, no page
  needed (a short one is returned anyway);
- ``GET`` (the visible link in the e-mail) → a page with a POST button; it
  changes nothing, so a mail scanner opening the link unsubscribes nobody;
- ``POST`` from that button → unsubscribed, thank-you page.
A tampered or foreign token gets the uniform 404 page. A test e-mail's link
(``domain.test_links``) shows the same pages, marked as a test, and records nothing.
"""

from __future__ import annotations

from chalice import Response

from chalicelib.api.public import LINK_POST_TYPES, Visit, message_page, page, public_page
from chalicelib.errors import PayloadTooLarge
from chalicelib.lazy import lazy_module

service = lazy_module("chalicelib.services.unsubscribe")
previews = lazy_module("chalicelib.services.previews")


def _language(found: service.UnsubscribeTarget) -> str:
    from chalicelib.mail.rendering import pick_language

    return pick_language(found.client.language, found.account.settings.language)


def _test_language(visit: Visit, test: previews.LinkForTestTarget) -> str:
    from chalicelib.mail.rendering import pick_language

    return pick_language(visit.query("lang"), test.campaign.language, test.account.settings.language)


@public_page("/p/unsubscribe/{token}", ["GET"])
def unsubscribe_page(visit: Visit, token: str) -> Response:
    test = previews.open_test_link(visit.deps, token, ("unsubscribe",))
    if test is not None:
        return page("pages/unsubscribe.html", _test_language(visit, test), account=test.account, test=True)
    found = service.open_unsubscribe(visit.deps, token)
    return page("pages/unsubscribe.html", _language(found), account=found.account)


@public_page("/p/unsubscribe/{token}", ["POST"], content_types=LINK_POST_TYPES)
def unsubscribe(visit: Visit, token: str) -> Response:
    from chalicelib.domain.intake import MAX_FORM_BYTES

    raw = visit.request.raw_body or b""
    if len(raw) > MAX_FORM_BYTES:
        raise PayloadTooLarge("form too large", details={"limit_bytes": MAX_FORM_BYTES})
    test = previews.open_test_link(visit.deps, token, ("unsubscribe",))
    if test is not None:  # a test e-mail's link (or its one-click header): nothing is recorded
        return message_page(
            "unsubscribed", _test_language(visit, test), status=200, account=test.account, test=True
        )
    found = service.unsubscribe(visit.deps, token, source_ip=visit.source_ip, user_agent=visit.user_agent)
    return message_page("unsubscribed", _language(found), status=200, account=found.account)
