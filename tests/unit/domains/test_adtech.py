"""Adtech pack: delivery sequences through the handlers, asserting spend, attribution and the bid decision."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from plutus.domains import adtech
from plutus.domains.adtech.decision import pacing_multiplier, smoothed_rate
from plutus.domains.adtech.handlers import campaign_pk
from tests.fakes import DomainRunner, packs
from tests.unit.domains.readclient import read_client

CAMPAIGN = "cmp_winter_sale"
DAY = "2026-11-26"


def _runner(**overrides: Any) -> DomainRunner:
    return DomainRunner(routers=[adtech.router], packs=packs(**overrides))


def _impression(
    runner: DomainRunner, imp: str, at: str, cost: int = 2_000, campaign: str = CAMPAIGN, **extra: Any
) -> str:
    payload = {
        "impression_id": imp,
        "campaign_id": campaign,
        "advertiser_id": "adv_acme",
        "creative_id": "cr_300x250_v2",
        "placement_id": "pl_news_top",
        "user_id": extra.pop("user_id", "u_5d2e9b"),
        "cost_micros": cost,
        "occurred_at": at,
        **extra,
    }
    return runner.send("ad_impression", payload)


def _click(
    runner: DomainRunner, click: str, at: str, campaign: str = CAMPAIGN, user: str = "u_5d2e9b", cost: int = 0
) -> str:
    payload = {
        "click_id": click,
        "impression_id": f"imp_for_{click}",
        "campaign_id": campaign,
        "advertiser_id": "adv_acme",
        "user_id": user,
        "cost_micros": cost,
        "occurred_at": at,
    }
    return runner.send("click", payload)


def _conversion(
    runner: DomainRunner, conv: str, at: str, user: str = "u_5d2e9b", value: int = 59_990_000
) -> str:
    payload = {
        "conversion_id": conv,
        "advertiser_id": "adv_acme",
        "user_id": user,
        "value_micros": value,
        "currency": "EUR",
        "occurred_at": at,
    }
    return runner.send("conversion", payload)


def _viewability(runner: DomainRunner, imp: str, measurable: bool, viewable: bool, at: str) -> str:
    payload = {
        "impression_id": imp,
        "campaign_id": CAMPAIGN,
        "measurable": measurable,
        "viewable": viewable,
        "in_view_ms": 1_500 if viewable else 200,
        "occurred_at": at,
    }
    return runner.send("viewability_measured", payload)


def _day_totals(runner: DomainRunner, name: str, campaign: str = CAMPAIGN, date: str = DAY) -> int:
    return int(sum(i.get(name, 0) for i in runner.state.query(campaign_pk(campaign), f"DAY#{date}#")))


def _decision(runner: DomainRunner, as_of: str, campaign: str = CAMPAIGN) -> dict[str, Any]:
    client = read_client(adtech.api_router(), runner.state, runner.packs)
    response = client.get(f"/api/v1/adtech/campaigns/{campaign}/decision", params={"as_of": as_of})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# --- exactly-once spend ------------------------------------------------------------------------------------


def test_an_impression_resent_under_a_new_event_id_is_counted_and_charged_once() -> None:
    runner = _runner()
    for n, cost in enumerate([2_400, 1_900, 3_100]):
        _impression(runner, f"imp_{n}", f"{DAY}T10:15:0{n}Z", cost=cost)
    # When the ad server retries imp_0 with a fresh idempotency key (so a new event id)
    _impression(runner, "imp_0", f"{DAY}T10:15:00Z", cost=2_400)

    assert _day_totals(runner, "impressions") == 3
    assert _day_totals(runner, "spend_micros") == 2_400 + 1_900 + 3_100
    # And the day's counters are spread over shards (a busy campaign does not write one hot item)
    assert len(runner.state.query(campaign_pk(CAMPAIGN), f"DAY#{DAY}#")) > 1


def test_cpc_clicks_are_charged_once_per_click_id() -> None:
    runner = _runner()
    _click(runner, "clk_1", f"{DAY}T10:00:00Z", cost=350_000)
    _click(runner, "clk_1", f"{DAY}T10:00:00Z", cost=350_000)
    _click(runner, "clk_2", f"{DAY}T10:05:00Z", cost=410_000)
    assert (_day_totals(runner, "clicks"), _day_totals(runner, "spend_micros")) == (2, 760_000)


# --- last-click attribution --------------------------------------------------------------------------------


def test_a_conversion_is_credited_to_the_last_click_before_it_within_the_window() -> None:
    runner = _runner()
    # Given a user who clicks an autumn ad, then the winter sale, then buys
    _click(runner, "clk_autumn", "2026-11-25T18:00:00Z", campaign="cmp_autumn")
    _click(runner, "clk_winter", "2026-11-26T09:30:00Z")
    _conversion(runner, "conv_1", "2026-11-26T11:02:40Z")

    client = read_client(adtech.api_router(), runner.state, runner.packs)
    attribution = client.get("/api/v1/adtech/conversions/conv_1").json()
    assert (attribution["campaign_id"], attribution["click_id"]) == (CAMPAIGN, "clk_winter")
    assert attribution["lag_seconds"] == 5_560 and attribution["attributed"] is True
    assert _day_totals(runner, "conversions") == 1
    assert _day_totals(runner, "conversion_value_micros") == 59_990_000
    assert _day_totals(runner, "conversions", campaign="cmp_autumn") == 0


def test_a_conversion_processed_after_a_later_click_still_finds_the_click_before_it() -> None:
    runner = _runner()
    _click(runner, "clk_autumn", "2026-11-26T08:00:00Z", campaign="cmp_autumn")
    _click(runner, "clk_winter", "2026-11-26T12:00:00Z")
    # The conversion happened at 10:00 but reached Plutus after the 12:00 click
    _conversion(runner, "conv_2", "2026-11-26T10:00:00Z")
    assert _day_totals(runner, "conversions", campaign="cmp_autumn") == 1
    assert _day_totals(runner, "conversions") == 0


def test_a_click_older_than_the_window_gets_no_credit_and_the_window_is_a_setting() -> None:
    runner = _runner(adtech_attribution_window_seconds=86_400)
    _click(runner, "clk_old", "2026-11-24T10:00:00Z")
    _conversion(runner, "conv_late", "2026-11-26T10:00:00Z")
    _click(runner, "clk_new", "2026-11-26T12:00:00Z", user="u_other")
    _conversion(runner, "conv_ok", "2026-11-26T20:00:00Z", user="u_other")

    client = read_client(adtech.api_router(), runner.state, runner.packs)
    assert client.get("/api/v1/adtech/conversions/conv_late").json()["attributed"] is False
    assert client.get("/api/v1/adtech/conversions/conv_ok").json()["click_id"] == "clk_new"
    assert _day_totals(runner, "conversions") == 1


def test_a_conversion_reported_twice_is_credited_once() -> None:
    runner = _runner()
    _click(runner, "clk_1", f"{DAY}T09:00:00Z")
    _conversion(runner, "conv_1", f"{DAY}T09:30:00Z")
    _conversion(runner, "conv_1", f"{DAY}T09:30:00Z")  # the pixel fired twice
    assert _day_totals(runner, "conversions") == 1


# --- pacing, CTR, viewability, bid factor ------------------------------------------------------------------


def test_pacing_slows_a_campaign_ahead_of_its_even_plan_and_speeds_one_behind() -> None:
    bounds = (0.25, 2.0)
    # At noon the even plan has spent half the budget
    assert pacing_multiplier(1_000_000, 500_000, 0.5, bounds) == 1.0
    assert pacing_multiplier(1_000_000, 600_000, 0.5, bounds) == pytest.approx(0.6667)
    assert pacing_multiplier(1_000_000, 400_000, 0.5, bounds) == 1.5
    assert pacing_multiplier(1_000_000, 100_000, 0.5, bounds) == 2.0  # capped
    assert pacing_multiplier(1_000_000, 990_000, 0.5, bounds) == 0.25  # floored while budget remains
    assert pacing_multiplier(1_000_000, 1_000_000, 0.5, bounds) == 0.0  # spent: stop
    assert pacing_multiplier(1_000_000, 0, 0.5, bounds) == 2.0


def test_smoothing_pulls_a_small_sample_towards_the_target() -> None:
    assert smoothed_rate(1, 10, 0.002, 1_000) == pytest.approx((1 + 2) / 1_010)
    assert smoothed_rate(300, 100_000, 0.002, 1_000) == pytest.approx(302 / 101_000)
    assert smoothed_rate(0, 0, 0.7, 0) == 0.7


def test_decision_read_paces_todays_spend_and_combines_ctr_and_viewability_into_a_bid_factor() -> None:
    runner = _runner(adtech_prior_impressions=0, adtech_target_ctr=0.08, adtech_target_viewability=0.75)
    # Given a budget of 1,000,000 micros and, by 06:00, 10 impressions costing 40,000 micros each (400,000)
    for n in range(10):
        _impression(
            runner, f"imp_{n}", f"{DAY}T0{n % 6}:0{n}:00Z", cost=40_000, daily_budget_micros=1_000_000
        )
    _click(runner, "clk_1", f"{DAY}T05:10:00Z")
    for n in range(8):
        _viewability(runner, f"imp_{n}", measurable=True, viewable=n < 6, at=f"{DAY}T05:2{n}:00Z")
    _viewability(runner, "imp_9", measurable=False, viewable=False, at=f"{DAY}T05:30:00Z")
    _viewability(runner, "imp_0", measurable=True, viewable=False, at=f"{DAY}T05:31:00Z")  # a second verdict

    decision = _decision(runner, f"{DAY}T06:00:00Z")

    # Then at a quarter of the day, 40% of the budget is spent: ahead of the 25% plan, so slow down
    assert decision["budget_micros"] == 1_000_000
    assert (decision["spend_today_micros"], decision["planned_spend_micros"]) == (400_000, 250_000)
    assert decision["pacing_multiplier"] == 0.5  # (600k left / 0.75 day) / (400k / 0.25 day)
    assert (decision["impressions"], decision["clicks"], decision["ctr"]) == (10, 1, 0.1)
    assert (decision["measured"], decision["viewable"], decision["viewability"]) == (8, 6, 0.75)
    assert decision["bid_factor"] == 0.625  # 0.5 pacing x 1.25 CTR (0.1 vs 0.08) x 1.0 viewability


def test_a_mid_day_budget_raise_paces_the_rest_of_the_day_and_yesterday_counts_only_for_ctr() -> None:
    runner = _runner(adtech_prior_impressions=0)
    _impression(runner, "imp_y", "2026-11-25T22:00:00Z", cost=900_000, daily_budget_micros=1_000_000)
    _click(runner, "clk_y", "2026-11-25T22:00:05Z")
    _impression(runner, "imp_a", f"{DAY}T08:00:00Z", cost=500_000, daily_budget_micros=1_000_000)
    _impression(runner, "imp_b", f"{DAY}T11:00:00Z", cost=100_000, daily_budget_micros=2_000_000)

    decision = _decision(runner, f"{DAY}T12:00:00Z")
    assert decision["budget_micros"] == 2_000_000 and decision["spend_today_micros"] == 600_000
    assert decision["impressions"] == 3 and decision["clicks"] == 1  # 7-day lookback
    # (1.4M left / 0.5 day) / (0.6M / 0.5 day)
    assert decision["pacing_multiplier"] == 2.0


def test_an_exhausted_budget_bids_zero() -> None:
    runner = _runner()
    _impression(runner, "imp_1", f"{DAY}T09:00:00Z", cost=1_000_000, daily_budget_micros=1_000_000)
    decision = _decision(runner, f"{DAY}T10:00:00Z")
    assert decision["pacing_multiplier"] == 0.0 and decision["bid_factor"] == 0.0


def test_viewable_without_measurable_is_rejected_and_unknown_campaign_is_404() -> None:
    runner = _runner()
    with pytest.raises(ValidationError):
        _viewability(runner, "imp_1", measurable=False, viewable=True, at=f"{DAY}T10:00:00Z")
    client = read_client(adtech.api_router(), runner.state, runner.packs)
    assert client.get("/api/v1/adtech/campaigns/cmp_none/decision").status_code == 404
    assert client.get("/api/v1/adtech/conversions/conv_none").status_code == 404
