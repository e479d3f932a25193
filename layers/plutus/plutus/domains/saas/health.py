"""The customer health score: activity recency, feature breadth and activity trend, as a churn-risk band.

Pure arithmetic over an account's day items, evaluated at a given instant (the read's ``as_of``): recency
decays as the account stays silent, so the score must be computed when it is read, not when events arrive.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict

from plutus.domains.saas.settings import SaasSettings


class Health(BaseModel):
    """An account's health at one instant, with the parts it is made of."""

    model_config = ConfigDict(frozen=True)

    score: int
    band: str
    churn_risk: str
    last_active_day: str | None
    days_since_active: int | None
    recency_score: float
    features_in_window: list[str]
    breadth_score: float
    events_recent: int
    events_previous: int
    trend_ratio: float
    trend_score: float


def days_needed(settings: SaasSettings) -> int:
    """How many days of history the score looks at."""
    return max(
        settings.recency_horizon_days,
        settings.breadth_window_days,
        2 * settings.trend_window_days,
    )


def _events_between(days: dict[date, dict[str, Any]], first: date, last: date) -> int:
    return sum(int(item.get("events", 0)) for d, item in days.items() if first <= d <= last)


def band_of(score: int, settings: SaasSettings) -> tuple[str, str]:
    """(band, churn risk) of a score."""
    if score >= settings.healthy_min_score:
        return "healthy", "low"
    if score >= settings.at_risk_min_score:
        return "at_risk", "medium"
    return "critical", "high"


def score_health(day_items: list[dict[str, Any]], now: datetime, settings: SaasSettings) -> Health:
    """The health at ``now`` from the account's ``DAY#`` items (later days are ignored)."""
    today = now.date()
    days = {date.fromisoformat(str(i["day"])): i for i in day_items}
    days = {d: i for d, i in days.items() if d <= today and int(i.get("events", 0)) > 0}

    last = max(days, default=None)
    since = (today - last).days if last is not None else None
    horizon = settings.recency_horizon_days
    recency = max(0.0, 1 - since / horizon) if since is not None else 0.0

    window_start = today - timedelta(days=settings.breadth_window_days - 1)
    used = sorted(
        {
            k[2:]
            for d, i in days.items()
            if d >= window_start
            for k, v in i.items()
            if k.startswith("f_") and v
        }
    )
    catalogue = set(settings.feature_catalogue)
    breadth = min(1.0, len(catalogue.intersection(used)) / len(catalogue)) if catalogue else 0.0

    span = timedelta(days=settings.trend_window_days)
    recent = _events_between(days, today - span + timedelta(days=1), today)
    previous = _events_between(days, today - 2 * span + timedelta(days=1), today - span)
    # +1 on both sides: a quiet account's ratio stays finite; flat activity is 1.0, i.e. a trend score of 0.5.
    ratio = (recent + 1) / (previous + 1)
    trend = min(1.0, ratio / 2)

    weights = (settings.weight_recency, settings.weight_breadth, settings.weight_trend)
    combined = (weights[0] * recency + weights[1] * breadth + weights[2] * trend) / sum(weights)
    score = round(100 * combined)
    band, risk = band_of(score, settings)
    return Health(
        score=score,
        band=band,
        churn_risk=risk,
        last_active_day=last.isoformat() if last else None,
        days_since_active=since,
        recency_score=round(recency, 4),
        features_in_window=used,
        breadth_score=round(breadth, 4),
        events_recent=recent,
        events_previous=previous,
        trend_ratio=round(ratio, 4),
        trend_score=round(trend, 4),
    )
