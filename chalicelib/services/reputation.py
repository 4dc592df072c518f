"""The reputation block of the account view."""

from __future__ import annotations

from typing import Any

from chalicelib.bootstrap import Deps
from chalicelib.domain.records import Account
from chalicelib.domain.reputation import summarise, window


def reputation_summary(deps: Deps, account: Account) -> dict[str, Any]:
    first, last = window(deps.clock(), account.reinstated_at)
    days = deps.stats.days(account.account_id, first, last)
    rep = summarise([(d.sent, d.hard_bounces, d.complaints) for d in days])
    return {
        "sent_7d": rep.sent,
        "bounce_rate_7d": round(rep.bounce_rate, 6),
        "complaint_rate_7d": round(rep.complaint_rate, 6),
    }
