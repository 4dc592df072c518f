from __future__ import annotations

import pytest
from pydantic import ValidationError

from chalicelib.domain.account_settings import AccountSettings, AccountSettingsPatch


def base() -> AccountSettings:
    return AccountSettings(sender_email="hello@salon.example")


def test_defaults_follow_the_spec() -> None:
    s = base()
    assert (s.consent_only_campaigns, s.reactivation_wait_days, s.non_responder_action) == (False, 7, "none")
    assert (s.auto_status.new_days, s.auto_status.active_days, s.auto_status.lapsing_days) == (30, 90, 180)


def test_patch_applies_only_sent_fields_and_null_clears_optional() -> None:
    s = AccountSettingsPatch.model_validate({"terms_url": "https://x.example/t"}).apply(base())
    assert s.terms_url == "https://x.example/t" and s.language == "en"
    s = AccountSettingsPatch.model_validate({"terms_url": None}).apply(s)
    assert s.terms_url is None


@pytest.mark.parametrize(
    "patch",
    [
        {"terms_url": "http://x.example"},
        {"terms_url": "https://"},
        {"terms_url": "ftp://x.example"},
        {"reactivation_wait_days": 31},
        {"reactivation_wait_days": True},
        {"daily_send_cap": 1.5},
        {"language": None},
        {"auto_status": {"new_days": 0}},
        {"auto_status": {"active_days": 90, "lapsing_days": 90}},
        {"sender_email": "no"},
    ],
)
def test_invalid_patches(patch: dict) -> None:
    with pytest.raises(ValidationError):
        AccountSettingsPatch.model_validate(patch)
