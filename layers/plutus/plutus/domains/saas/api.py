"""SaaS read endpoints: an account's health (judged at read time), feature adoption and billing meters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel

from plutus.core.effects import StateReader
from plutus.core.errors import ResourceNotFoundError
from plutus.domains.deps import Now, State, settings_of
from plutus.domains.kit import PATH_ID, day, iso
from plutus.domains.saas.handlers import account_pk
from plutus.domains.saas.health import Health, days_needed, score_health
from plutus.domains.saas.settings import SaasSettings

api = APIRouter(prefix="/api/v1/saas", tags=["saas"])
Config = Annotated[SaasSettings, Depends(settings_of(SaasSettings))]
AccountId = Annotated[str, Path(pattern=PATH_ID)]
MAX_FEATURES = 500


class HealthView(Health):
    """Health score (0-100), its churn-risk band, and the recency, breadth and trend it combines."""

    account_id: str
    as_of: str


class FeatureView(BaseModel):
    """One feature's adoption in the account. ``first_used_at`` is the first use Plutus processed."""

    feature: str
    in_catalogue: bool
    uses: int
    users: int
    user_share: float
    uses_in_window: int
    first_used_at: str


class AdoptionView(BaseModel):
    """Which features of the catalogue the account uses, and how widely."""

    account_id: str
    as_of: str
    window_days: int
    active_users: int
    catalogue_adoption: float
    features: list[FeatureView]
    not_adopted: list[str]


class MeterView(BaseModel):
    """A billing period's meters (counted exactly once)."""

    account_id: str
    period: str
    meters: dict[str, int]
    late_events: int


def _day_items(
    state: StateReader, account_id: str, now: datetime, settings: SaasSettings
) -> list[dict[str, Any]]:
    # Newest first: the days the score needs, plus any recorded after ``as_of`` (when judging the past).
    days_after = max((datetime.now(UTC).date() - now.date()).days, 0)
    limit = min(days_needed(settings) + days_after, 1_000)
    return state.query(account_pk(account_id), "DAY#", limit=limit, newest_first=True)


def _require_account(state: StateReader, account_id: str) -> dict[str, Any]:
    profile = state.get(account_pk(account_id), "PROFILE")
    if profile is None:
        raise ResourceNotFoundError("nothing has been recorded for this account")
    return profile


@api.get("/accounts/{account_id}/health", response_model=HealthView)
def get_health(account_id: AccountId, state: State, settings: Config, now: Now) -> HealthView:
    """The account's health at ``as_of``: recency of activity, breadth of features used, activity trend."""
    _require_account(state, account_id)
    health = score_health(_day_items(state, account_id, now, settings), now, settings)
    return HealthView(account_id=account_id, as_of=iso(now), **health.model_dump())


@api.get("/accounts/{account_id}/features", response_model=AdoptionView)
def get_feature_adoption(account_id: AccountId, state: State, settings: Config, now: Now) -> AdoptionView:
    """Every feature the account used (uses, distinct users, share of active users, recent uses)."""
    profile = _require_account(state, account_id)
    first_day = day(now - timedelta(days=settings.breadth_window_days - 1))
    recent = [
        i for i in _day_items(state, account_id, now, settings) if first_day <= str(i["day"]) <= day(now)
    ]
    active = int(profile.get("active_users", 0))
    catalogue = settings.feature_catalogue
    features = []
    for item in state.query(account_pk(account_id), "FEATURE#", limit=MAX_FEATURES):
        name = item["feature"]
        users = int(item.get("users", 0))
        features.append(
            FeatureView(
                feature=name,
                in_catalogue=name in catalogue,
                uses=int(item["uses"]),
                users=users,
                user_share=round(users / active, 4) if active else 0.0,
                uses_in_window=int(sum(Decimal(d.get(f"f_{name}", 0)) for d in recent)),
                first_used_at=item["first_used_at"],
            )
        )
    adopted = {f.feature for f in features}
    return AdoptionView(
        account_id=account_id,
        as_of=iso(now),
        window_days=settings.breadth_window_days,
        active_users=active,
        catalogue_adoption=round(len(adopted.intersection(catalogue)) / len(catalogue), 4)
        if catalogue
        else 0.0,
        features=features,
        not_adopted=[f for f in catalogue if f not in adopted],
    )


@api.get("/accounts/{account_id}/meters/{period}", response_model=MeterView)
def get_meters(
    account_id: AccountId, period: Annotated[str, Path(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")], state: State
) -> MeterView:
    """The billing meters of one month (``YYYY-MM``)."""
    item = state.get(account_pk(account_id), f"METER#{period}")
    if item is None:
        raise ResourceNotFoundError("no usage has been metered for this account and period")
    skip = {"pk", "sk", "period", "late_events"}
    return MeterView(
        account_id=account_id,
        period=period,
        meters={k: int(v) for k, v in item.items() if k not in skip},
        late_events=int(item.get("late_events", 0)),
    )
