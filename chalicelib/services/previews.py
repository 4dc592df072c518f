"""Seeing a campaign before it goes out: the rendered e-mail, and a test send.

- ``render_campaign`` (``POST /v1/campaigns/{id}/render``): subject, HTML and text
  exactly as the send worker builds them (``sending.compose``), for one client of the
  account or for a sample client — but with test links (``domain.test_links``), so a
  click in a preview records nothing for anybody.
- ``send_test`` (``POST /v1/campaigns/{id}/test``): one e-mail to one address (the
  account's sender by default), subject prefixed ``[TEST]``, with the same test links
  and a ``List-Unsubscribe`` header that records nothing either. Rendered for the
  client who owns the address if there is one, else for the sample client. At most
  ``TEST_SENDS_PER_HOUR`` per account (a key must not become a way to mail anyone at
  will); it goes out through the one door of the product's single e-mails
  (``outbound.send_transactional``: the sender on a verified domain, the account's
  caps, its pace and a platform slot), tagged ``kind=campaign_test`` with the account
  and no campaign, so SES events about it count in the account's reputation and never
  touch a delivery.
- ``open_test_link``: what a test link's public page needs (account and campaign).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints

from chalicelib.bootstrap import Deps
from chalicelib.domain.campaign_content import TemplateProblem
from chalicelib.domain.campaign_status import CampaignKind
from chalicelib.domain.campaigns import Campaign
from chalicelib.domain.client_profile import Email
from chalicelib.domain.records import Account, Client
from chalicelib.domain.test_links import LinkForTest, mint_test_link, read_test_link
from chalicelib.errors import AccountSuspended, Conflict, InvalidInput, NotFound, RateLimited
from chalicelib.observability import logger, metrics

TEST_SUBJECT_PREFIX = "[TEST] "
TEST_SENDS_PER_HOUR = 30
_PATHS = {"confirm": "/p/reactivation/", "decline": "/p/reactivation/", "unsubscribe": "/p/unsubscribe/"}


class RenderInput(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)

    client_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")] | None = None


class CampaignTestInput(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)

    email: Email | None = None


def sample_client(account: Account, language: str | None) -> Client:
    """Who a preview is rendered for when no client is named."""
    now = account.created_at
    return Client(
        account_id=account.account_id,
        client_id="cl_sample",
        email="alex.sample@example.com",
        first_name="Alex",
        last_name="Sample",
        language=language,
        status="regular",
        auto_status="active",
        created_at=now,
        updated_at=now,
    )


def links_for_test(deps: Deps, campaign: Campaign) -> dict[str, str]:
    """The links a test e-mail or a preview carries instead of a recipient's."""
    actions = ["unsubscribe"]
    if campaign.kind is CampaignKind.REACTIVATION:
        actions += ["confirm", "decline"]
    base = deps.settings.public_base_url
    return {
        f"{action}_url": base
        + _PATHS[action]
        + mint_test_link(deps.key_ring, action, campaign.account_id, campaign.campaign_id)
        for action in actions
    }


def _compose(deps: Deps, account: Account, campaign: Campaign, client: Client) -> Any:
    from chalicelib.services.sending import compose

    try:
        return compose(deps, account, campaign, client, links=links_for_test(deps, campaign))
    except TemplateProblem as exc:
        raise InvalidInput(
            "the campaign cannot be rendered", details=[{"field": "campaign", "message": str(exc)}]
        ) from None


def render_campaign(deps: Deps, account: Account, campaign_id: str, client_id: str | None) -> dict[str, str]:
    campaign = deps.campaigns.get(account.account_id, campaign_id, consistent=True)
    if client_id is None:
        client = sample_client(account, campaign.language)
    else:
        client = deps.clients.get(account.account_id, client_id)  # another account's client → 404
    mail = _compose(deps, account, campaign, client)
    return {"subject": mail.subject, "html": mail.html, "text": mail.text}


def _hour_window(deps: Deps, account_id: str) -> tuple[str, Any]:
    now = deps.clock()
    start = now.replace(minute=0, second=0, microsecond=0)
    return f"campaign-test#{account_id}#{start:%Y%m%d%H}", start + timedelta(hours=2)


def send_test(deps: Deps, account: Account, campaign_id: str, email: str | None) -> dict[str, Any]:
    from chalicelib.services import outbound
    from chalicelib.services.sender_domains import require_verified_sender

    campaign = deps.campaigns.get(account.account_id, campaign_id, consistent=True)
    if account.suspended:
        raise AccountSuspended(
            "this account is suspended and cannot send", details={"reason": account.suspension_reason}
        )
    to = email or account.settings.sender_email
    owner = deps.clients.id_for_email(account.account_id, to)
    client = (
        deps.clients.get(account.account_id, owner) if owner else sample_client(account, campaign.language)
    )
    mail = _compose(deps, account, campaign, replace(client, email=to))
    mail = replace(mail, subject=TEST_SUBJECT_PREFIX + mail.subject)
    require_verified_sender(deps, account, mail.sender_email)  # 400 sender_not_verified, as a send
    bucket, expires = _hour_window(deps, account.account_id)
    if not deps.throttle.hit_window(bucket, TEST_SENDS_PER_HOUR, expires):
        raise RateLimited(
            f"at most {TEST_SENDS_PER_HOUR} test e-mails an hour per account",
            details={"retry_after": 3600 - deps.clock().minute * 60},
        )
    ids = {"account_id": account.account_id, "campaign_id": campaign.campaign_id}
    # The one door: the account's caps, its pace, a platform slot, tagged with the account (no
    # campaign, no client) so a bounce or complaint counts in its reputation, never a delivery.
    outcome = outbound.send_transactional(deps, account, mail, kind="campaign_test")
    if outcome.refused == outbound.SUSPENDED:
        raise AccountSuspended(
            "this account is suspended and cannot send", details={"reason": account.suspension_reason}
        )
    if outcome.refused == outbound.PLATFORM_BUSY:
        raise RateLimited("the mail service is busy; try again in a minute", details={"retry_after": 60})
    if outcome.refused is not None:
        raise Conflict(
            f"the test e-mail could not be sent ({outcome.refused})",
            code="test_send_failed",
            details={"reason": outcome.refused},
        )
    # ``message_id`` is None when SES's answer was lost (it may have gone out; never sent again).
    logger.info("campaign test sent", extra={**ids, "ses_message_id": outcome.message_id})
    metrics.add_metric(name="CampaignTestsSent", unit="Count", value=1)
    return {
        "campaign_id": campaign.campaign_id,
        "to": to,
        "subject": mail.subject,
        "message_id": outcome.message_id,
    }


@dataclass(frozen=True)
class LinkForTestTarget:
    account: Account
    campaign: Campaign
    link: LinkForTest


def open_test_link(deps: Deps, token: str, actions: tuple[str, ...]) -> LinkForTestTarget | None:
    """A test link's account and campaign, or ``None`` when ``token`` is not a test link of one
    of ``actions`` (then it may be a real one). ``NotFound`` when its campaign is gone."""
    link = read_test_link(deps.key_ring, token)
    if link is None or link.action not in actions:
        return None
    account = deps.accounts.get(link.account_id)
    try:
        campaign = deps.campaigns.get(link.account_id, link.campaign_id)
    except NotFound:
        raise NotFound("link not valid") from None
    return LinkForTestTarget(account=account, campaign=campaign, link=link)
