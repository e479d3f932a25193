"""The bid decision: budget pacing against an even daily plan, and smoothed CTR and viewability.

Pure functions over the campaign's counter shards, so the decision read is one query plus arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any

from plutus.domains.adtech.settings import AdtechSettings
from plutus.domains.kit import day, iso

# How far CTR and viewability may move the bid from neutral; pacing has its own bounds (settings).
CTR_FACTOR_BOUNDS = (0.5, 2.0)
VIEWABILITY_FACTOR_BOUNDS = (0.5, 1.5)
COUNTERS = (
    "impressions",
    "clicks",
    "spend_micros",
    "measured",
    "viewable",
    "conversions",
    "conversion_value_micros",
)


@dataclass(frozen=True, slots=True)
class Decision:
    """What a bidder needs to know about a campaign at ``as_of``."""

    campaign_id: str
    as_of: str
    day: str
    budget_micros: int
    spend_today_micros: int
    planned_spend_micros: int
    pacing_multiplier: float
    lookback_days: int
    impressions: int
    clicks: int
    ctr: float
    ctr_estimate: float
    measured: int
    viewable: int
    viewability: float
    viewability_estimate: float
    conversions: int
    conversion_value_micros: int
    bid_factor: float


def _clamp(value: float, bounds: tuple[float, float]) -> float:
    return max(bounds[0], min(bounds[1], value))


def day_fraction(now: datetime) -> float:
    """How much of ``now``'s UTC day has elapsed, in (0, 1]."""
    midnight = datetime.combine(now.date(), time(), tzinfo=now.tzinfo)
    return max((now - midnight).total_seconds(), 1.0) / 86_400


def pacing_multiplier(budget: int, spend: int, elapsed: float, bounds: tuple[float, float]) -> float:
    """How much faster (>1) or slower (<1) to spend for the rest of the day to land on the budget.

    The even plan spends ``budget * elapsed`` by now. The multiplier is the rate that would spend exactly the
    remaining budget in the remaining time, over the rate so far; 0 once the budget is spent.
    """
    if spend >= budget:
        return 0.0
    if spend == 0:
        return bounds[1]
    rate_so_far = spend / elapsed
    rate_needed = (budget - spend) / max(1.0 - elapsed, 1 / 86_400)
    return round(_clamp(rate_needed / rate_so_far, bounds), 4)


def smoothed_rate(successes: int, trials: int, prior: float, weight: int) -> float:
    """``successes / trials`` shrunk towards ``prior`` as if ``weight`` trials had already shown it."""
    if trials + weight == 0:
        return prior
    return (successes + prior * weight) / (trials + weight)


def _totals(items: list[dict[str, Any]]) -> dict[str, int]:
    return {name: int(sum(Decimal(i.get(name, 0)) for i in items)) for name in COUNTERS}


def _budget(items: list[dict[str, Any]], default: int) -> int:
    # Shards of one day may have seen different budget updates: the one set by the latest event wins.
    stamped = [i for i in items if "budget_at" in i]
    if stamped:
        return int(max(stamped, key=lambda i: str(i["budget_at"]))["budget_micros"])
    budgets = [int(i["budget_micros"]) for i in items if "budget_micros" in i]
    return max(budgets) if budgets else default


def decide(
    campaign_id: str, shards: list[dict[str, Any]], now: datetime, settings: AdtechSettings
) -> Decision:
    """The decision at ``now`` from the campaign's day shards (any days; the lookback is applied here)."""
    today = day(now)
    first = day(now - timedelta(days=settings.stats_lookback_days - 1))
    window = [i for i in shards if first <= str(i["day"]) <= today]
    todays = [i for i in window if i["day"] == today]
    budget = _budget(todays, settings.default_daily_budget_micros)
    spend = _totals(todays)["spend_micros"]
    elapsed = day_fraction(now)
    pacing = pacing_multiplier(
        budget, spend, elapsed, (settings.pacing_min_multiplier, settings.pacing_max_multiplier)
    )
    totals = _totals(window)
    weight = settings.prior_impressions
    ctr = smoothed_rate(totals["clicks"], totals["impressions"], settings.target_ctr, weight)
    viewability = smoothed_rate(totals["viewable"], totals["measured"], settings.target_viewability, weight)
    bid = (
        pacing
        * _clamp(ctr / settings.target_ctr, CTR_FACTOR_BOUNDS)
        * _clamp(viewability / settings.target_viewability, VIEWABILITY_FACTOR_BOUNDS)
    )
    return Decision(
        campaign_id=campaign_id,
        as_of=iso(now),
        day=today,
        budget_micros=budget,
        spend_today_micros=spend,
        planned_spend_micros=int(budget * elapsed),
        pacing_multiplier=pacing,
        lookback_days=settings.stats_lookback_days,
        impressions=totals["impressions"],
        clicks=totals["clicks"],
        ctr=round(totals["clicks"] / totals["impressions"], 6) if totals["impressions"] else 0.0,
        ctr_estimate=round(ctr, 6),
        measured=totals["measured"],
        viewable=totals["viewable"],
        viewability=round(totals["viewable"] / totals["measured"], 4) if totals["measured"] else 0.0,
        viewability_estimate=round(viewability, 4),
        conversions=totals["conversions"],
        conversion_value_micros=totals["conversion_value_micros"],
        bid_factor=round(bid, 4),
    )
