"""Adtech read endpoints: a campaign's bid decision (one query) and a conversion's attribution (one get)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel

from plutus.core.errors import ResourceNotFoundError
from plutus.domains.adtech.decision import Decision, decide
from plutus.domains.adtech.handlers import campaign_pk
from plutus.domains.adtech.settings import AdtechSettings
from plutus.domains.deps import Now, State, settings_of
from plutus.domains.kit import PATH_ID

api = APIRouter(prefix="/api/v1/adtech", tags=["adtech"])
Config = Annotated[AdtechSettings, Depends(settings_of(AdtechSettings))]
Id = Annotated[str, Path(pattern=PATH_ID)]


class AttributionView(BaseModel):
    """Which campaign a conversion was credited to (last click within the window), if any."""

    conversion_id: str
    advertiser_id: str
    converted_at: str
    value_micros: int
    currency: str
    attributed: bool
    campaign_id: str | None = None
    click_id: str | None = None
    clicked_at: str | None = None
    lag_seconds: int | None = None


@api.get("/campaigns/{campaign_id}/decision", response_model=Decision)
def get_decision(
    campaign_id: Id,
    state: State,
    settings: Config,
    now: Now,
) -> Decision:
    """The campaign's pacing multiplier, CTR, viewability and bid factor: one query over its day shards."""
    # Newest first: the lookback's shards, plus any days recorded after ``as_of`` (when deciding in the past).
    days_after = max((datetime.now(UTC).date() - now.date()).days, 0)
    limit = min((settings.stats_lookback_days + days_after) * settings.spend_shards, 1_000)
    shards = state.query(campaign_pk(campaign_id), "DAY#", limit=limit, newest_first=True)
    if not shards:
        raise ResourceNotFoundError("nothing has been recorded for this campaign")
    decision = decide(campaign_id, shards, now, settings)
    return decision


@api.get("/conversions/{conversion_id}", response_model=AttributionView)
def get_attribution(conversion_id: Id, state: State) -> AttributionView:
    """The conversion's last-click attribution."""
    item = state.get(f"AD#CONV#{conversion_id}", "ATTRIBUTION")
    if item is None:
        raise ResourceNotFoundError("no such conversion")
    lag = item.get("lag_seconds")
    return AttributionView.model_validate(
        {
            **item,
            "value_micros": int(item["value_micros"]),
            "lag_seconds": int(lag) if lag is not None else None,
        }
    )
