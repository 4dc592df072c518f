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
