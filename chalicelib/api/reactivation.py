"""Public confirm/decline pages of reactivation e-mails, ``/p/reactivation/{token}``
(registered on the public blueprint).

- ``GET`` → a page restating the choice, with the terms and legitimate-interest
  links and a ``<form method="post">`` button; it records only ``opened``;
- ``POST`` → the choice is recorded → a thank-you page with a second form to
  change one's mind (it posts to the other choice's link).
A forged, tampered or foreign token gets the uniform 404 page. The links of a test
e-mail or preview (``domain.test_links``) show the same pages, marked as a test,
and record nothing.
"""

from __future__ import annotations

from chalice import Response

from chalicelib.api.public import LINK_POST_TYPES, Visit, page, public_page
from chalicelib.lazy import lazy_module

service = lazy_module("chalicelib.services.reactivation")
previews = lazy_module("chalicelib.services.previews")
CTA_ACTIONS = ("confirm", "decline")


def _language(found: service.CtaTarget) -> str:
    from chalicelib.mail.rendering import pick_language

    return pick_language(found.client.language, found.account.settings.language)


def _links(found: service.CtaTarget) -> dict[str, str | None]:
    return {
        "terms_url": found.campaign.terms_url,
        "legitimate_interest_url": found.campaign.legitimate_interest_url,
    }


def _test_language(visit: Visit, test: previews.LinkForTestTarget) -> str:
    from chalicelib.mail.rendering import pick_language

    return pick_language(visit.query("lang"), test.campaign.language, test.account.settings.language)


def _test_links(test: previews.LinkForTestTarget) -> dict[str, str | None]:
    return {
        "terms_url": test.campaign.terms_url,
        "legitimate_interest_url": test.campaign.legitimate_interest_url,
    }


@public_page("/p/reactivation/{token}", ["GET"])
def choice_page(visit: Visit, token: str) -> Response:
    test = previews.open_test_link(visit.deps, token, CTA_ACTIONS)
    if test is not None:  # a test e-mail's link: the same page, nothing recorded
        return page(
            "pages/reactivation.html",
            _test_language(visit, test),
            account=test.account,
            action=test.link.action,
            test=True,
            **_test_links(test),
        )
    found = service.open_link(visit.deps, token, source_ip=visit.source_ip, user_agent=visit.user_agent)
    return page(
        "pages/reactivation.html",
        _language(found),
        account=found.account,
        action=found.claim.action.value,
        **_links(found),
    )


@public_page("/p/reactivation/{token}", ["POST"], content_types=LINK_POST_TYPES)
def choose(visit: Visit, token: str) -> Response:
    visit.form()  # enforces the size limit; the choice is the token's, not the form's
    test = previews.open_test_link(visit.deps, token, CTA_ACTIONS)
    if test is not None:
        from chalicelib.domain.reactivation import Action
        from chalicelib.domain.test_links import mint_test_link

        action = Action(test.link.action)
        return page(
            "pages/reactivation_done.html",
            _test_language(visit, test),
            account=test.account,
            done=action.response,
            other=action.other.value,
            other_token=mint_test_link(
                visit.deps.key_ring, action.other.value, test.account.account_id, test.campaign.campaign_id
            ),
            test=True,
            **_test_links(test),
        )
    found = service.choose(visit.deps, token, source_ip=visit.source_ip, user_agent=visit.user_agent)
    other_url = found.other_url(visit.deps)
    return page(
        "pages/reactivation_done.html",
        _language(found),
        account=found.account,
        done=found.claim.action.response,
        other=found.claim.action.other.value,
        other_token=other_url.rsplit("/", 1)[-1],
        **_links(found),
    )
