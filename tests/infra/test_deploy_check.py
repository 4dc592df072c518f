"""``make deploy-check``: the default config is refused item by item, the example passes, and the
account's quota and SES state refuse what the account cannot do (facts as the SDK returns them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.config import CONFIG_FILE, load_stage
from infra.deploy_check import AccountFacts, check, main

EXAMPLE = CONFIG_FILE.with_name("config.example.json")
HEALTHY = AccountFacts(concurrency_limit=1000, unreserved=1000, ses_production=True, ses_max_send_rate=14.0)


def test_the_default_config_is_refused_naming_each_missing_item(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prod", "--offline"]) == 1
    err = capsys.readouterr().err
    assert "REFUSED, 2 problem(s)" in err
    assert "still an example value: public_base_url" in err
    assert "nobody hears the alarms: set alarm_email, alarm_https_endpoints or alarm_slack" in err


def test_the_filled_example_passes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prod", "--config", str(EXAMPLE), "--offline"]) == 0
    out = capsys.readouterr().out
    assert "OK; alarms reach e-mail ops@studio-nova.it" in out
    # Offline, the account's parts are explained, not skipped silently.
    assert "aws lambda get-account-settings" in out and "aws sesv2 get-account" in out


def test_ci_mode_reports_what_a_deploy_would_refuse_without_failing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["prod", "--ci"]) == 0
    out = capsys.readouterr().out
    assert "a deploy would refuse: still an example value: public_base_url" in out
    assert "a deploy would refuse: nobody hears the alarms" in out


def test_example_domains_anywhere_are_placeholders() -> None:
    config = load_stage(
        "prod",
        EXAMPLE,
        alarm_email="ops@example.com",
        sender_domains=("mail.example.org", "studio-nova.it"),
        alarm_https_endpoints=("https://hooks.example.net/x",),
    )
    assert config.placeholders() == [
        "alarm_email",
        "sender_domains (mail.example.org)",
        "alarm_https_endpoints (https://hooks.example.net/x)",
    ]


def test_a_reservation_the_new_accounts_quota_cannot_give_is_refused() -> None:
    config = load_stage("prod", EXAMPLE, reserved_concurrency={"handle_send": 5})
    new_account = AccountFacts(
        concurrency_limit=10, unreserved=10, ses_production=True, ses_max_send_rate=14.0
    )
    failures = check(config, new_account).failures
    assert any("can reserve only 0" in f and "request a quota increase" in f for f in failures)
    assert any("quota is 10" in f and "L-B99A9384" in f for f in failures)  # pollers leave the API nothing
    assert check(config, HEALTHY).ok
    # Reservations this stage already holds are counted in the unreserved figure: no false refusal.
    redeploy = AccountFacts(concurrency_limit=105, unreserved=100, own_reserved=5, ses_production=True)
    assert not [f for f in check(config, redeploy).failures if "reserve" in f]


def test_ses_sandbox_refuses_a_production_stage_only() -> None:
    sandbox = AccountFacts(
        concurrency_limit=1000, unreserved=1000, ses_production=False, ses_max_send_rate=1.0
    )
    config = load_stage("prod", EXAMPLE)
    failures = check(config, sandbox).failures
    assert any("SES is still in the sandbox" in f for f in failures)
    assert any("SES allows 1 e-mails/s" in f for f in failures)  # the platform rate is 14
    test_stage = load_stage("prod", EXAMPLE, production=False)
    assert not [f for f in check(test_stage, sandbox).failures if "sandbox" in f]


def test_cdk_synthesis_without_allow_placeholders_refuses_the_same_items(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from infra.main import main as synth_main

    assert synth_main(["-c", "stage=prod"]) == 1
    err = capsys.readouterr().err
    assert "cannot be deployed" in err and "public_base_url" in err and "nobody hears the alarms" in err


def test_the_example_config_differs_from_the_default_only_in_what_the_operator_fills(tmp_path: Path) -> None:
    import json

    default = json.loads(CONFIG_FILE.read_text())["stages"]["prod"]
    example = json.loads(EXAMPLE.read_text())["stages"]["prod"]
    assert set(default) == set(example)
    changed = {key for key in default if default[key] != example[key]}
    assert changed <= {"account", "public_base_url", "alarm_email", "sender_domains", "edge"}
