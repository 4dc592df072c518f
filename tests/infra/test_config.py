"""infra/config.json and the synthesis entry point's refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra.config import CONFIG_FILE, InfraError, load_stage


def test_the_prod_stage_loads_and_still_needs_its_public_url() -> None:
    config = load_stage("prod")
    assert config.region == "eu-central-1"
    assert config.deletion_protection is True
    assert config.secrets_path == "/permesso/prod"
    assert config.placeholders() == ["public_base_url"]  # example.com until the operator sets it
    assert load_stage("prod", public_base_url="https://mail.studio-nova.it").placeholders() == []


def test_unknown_stage_and_bad_values_are_explained(tmp_path: Path) -> None:
    with pytest.raises(InfraError, match=r"stage 'staging' is not in config\.json"):
        load_stage("staging")
    data = json.loads(CONFIG_FILE.read_text())
    data["stages"]["prod"]["log_retention_days"] = 42
    data["stages"]["prod"]["surprise"] = True
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data))
    with pytest.raises(InfraError) as info:
        load_stage("prod", path)
    assert "log_retention_days" in str(info.value) and "surprise" in str(info.value)
    with pytest.raises(InfraError, match="https"):
        load_stage("prod", public_base_url="http://insecure.studio-nova.it")


def test_a_deploy_with_example_values_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    from infra.main import main

    assert main(["-c", "stage=prod"]) == 1
    assert "public_base_url" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("rate", "send", "ses_events"),
    [(1, 2, 2), (14, 3, 2), (50, 6, 2), (100, 11, 4), (500, 51, 20), (20000, 1000, 800)],
)
def test_poller_concurrency_follows_the_ses_rate(rate: float, send: int, ses_events: int) -> None:
    """send: ceil(R / 10) + 1; ses-events: ceil(R / 25); both within Lambda's 2..1000."""
    from infra.config import ThroughputConfig

    throughput = ThroughputConfig()
    assert throughput.concurrency("send", rate) == send
    assert throughput.concurrency("ses-events", rate) == ses_events
    assert throughput.concurrency("jobs", rate) == 2
    assert throughput.concurrency("a-queue-added-later", rate) == 2
    assert ThroughputConfig(override={"send": 7}).concurrency("send", rate) == 7


def test_the_platform_rate_is_read_from_the_chalice_stage() -> None:
    config = load_stage("prod")
    assert config.platform_send_rate == 14.0  # .chalice/config.json, stage prod
    assert config.poller_concurrency("send") == 3
