"""A pack's settings reach its handlers and its read endpoints from the environment, under the names they
always had (``PLUTUS_<PACK>_<NAME>``), through the composition root: the consumer and the app share them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from plutus_dev.emulator.resources import Emulator
from tests.builders import an_event
from tests.clock import DAY
from tests.integration.harness import Harness, harness


@pytest.fixture
def configured(emulator: Emulator) -> Iterator[Harness]:
    environment = {
        "PLUTUS_ADTECH_DEFAULT_DAILY_BUDGET_MICROS": "5000000",  # read by the impression handler
        "PLUTUS_SAAS_FEATURE_CATALOGUE": '["dashboards", "exports"]',  # read by the adoption endpoint
    }
    with harness(emulator.url, environment=environment) as stack:
        yield stack


def test_handlers_and_reads_use_the_packs_settings_from_the_environment(configured: Harness) -> None:
    # Given an impression without a budget and one dashboard view
    impression = {
        "impression_id": "imp_env",
        "campaign_id": "cmp_env",
        "advertiser_id": "adv",
        "creative_id": "cr",
        "placement_id": "pl",
        "user_id": "u",
        "cost_micros": 1_000,
        "occurred_at": f"{DAY}T09:00:00Z",
    }
    view = {
        "account_id": "acc_env",
        "user_id": "u1",
        "dashboard_id": "d1",
        "occurred_at": f"{DAY}T09:00:00Z",
    }
    assert configured.post_event(an_event("k-imp", "ad_impression", impression, source="s")).status == 202
    assert configured.post_event(an_event("k-view", "dashboard_viewed", view, source="s")).status == 202
    assert configured.drain() == 2

    # Then the handler charged against the configured default budget (the pack default is 100,000,000)
    decision = configured.request("GET", f"/api/v1/adtech/campaigns/cmp_env/decision?as_of={DAY}T12:00:00Z")
    assert decision.json()["budget_micros"] == 5_000_000
    # And the read judged adoption against the configured two-feature catalogue (the default has eight)
    adoption = configured.request("GET", f"/api/v1/saas/accounts/acc_env/features?as_of={DAY}T12:00:00Z")
    assert adoption.json()["catalogue_adoption"] == 0.5
