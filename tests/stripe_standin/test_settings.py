"""The Stripe settings: a real key needs its webhook secret; the hold is whole days."""

from __future__ import annotations

from pathlib import Path

import pytest

from marketplace.config import ConfigError, load_settings


def _env(tmp_path: Path, **values: str) -> dict[str, str]:
    return {"MARKETPLACE_DATA_DIR": str(tmp_path), **values}


def test_without_a_key_the_standin_is_used_and_transfers_wait_seven_days(tmp_path: Path) -> None:
    settings = load_settings(_env(tmp_path))
    assert settings.stripe_api_key is None and settings.stripe_hold_days == 7


def test_a_real_key_without_its_webhook_secret_stops_start_up(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="STRIPE_WEBHOOK_SECRET"):
        load_settings(_env(tmp_path, STRIPE_API_KEY="sk_test_123"))
    settings = load_settings(_env(tmp_path, STRIPE_API_KEY="sk_test_123", STRIPE_WEBHOOK_SECRET="whsec_1"))
    assert settings.stripe_webhook_secret == "whsec_1"


@pytest.mark.parametrize("days", ["-1", "seven", "1.5", "366"])
def test_the_hold_is_a_whole_number_of_days(tmp_path: Path, days: str) -> None:
    with pytest.raises(ConfigError, match="STRIPE_HOLD_DAYS"):
        load_settings(_env(tmp_path, STRIPE_HOLD_DAYS=days))
    assert load_settings(_env(tmp_path, STRIPE_HOLD_DAYS="0")).stripe_hold_days == 0
