"""Adtech event payloads: impressions, clicks, conversions and viewability measurements. Money in micros."""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field, model_validator

from plutus.core.registry import EventModel
from plutus.domains.kit import AwareEventTime, Ident

Micros = Annotated[int, Field(ge=0, le=10**15)]


class AdImpressionV1(EventModel):
    """An ad was served; ``cost_micros`` is what the impression cost (the auction's clearing price)."""

    event_type = "ad_impression"
    schema_version = "1.0"
    ordering_key = "user_id"
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "impression_id": "imp_8f3a21c4",
                    "campaign_id": "cmp_winter_sale",
                    "advertiser_id": "adv_acme",
                    "creative_id": "cr_300x250_v2",
                    "placement_id": "pl_news_top",
                    "user_id": "u_5d2e9b",
                    "cost_micros": 2_400,
                    "daily_budget_micros": 500_000_000,
                    "occurred_at": "2026-11-26T10:15:02Z",
                }
            ]
        }
    )

    impression_id: Ident
    campaign_id: Ident
    advertiser_id: Ident
    creative_id: Ident
    placement_id: Ident
    user_id: Ident
    cost_micros: Micros
    # The campaign's daily budget as the ad server knows it when serving; absent: the configured default.
    daily_budget_micros: int | None = Field(default=None, gt=0, le=10**15)
    occurred_at: AwareEventTime


class ClickV1(EventModel):
    """A click on a served impression; CPC campaigns pay ``cost_micros`` for it."""

    event_type = "click"
    schema_version = "1.0"
    ordering_key = "user_id"
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "click_id": "clk_41b7e0",
                    "impression_id": "imp_8f3a21c4",
                    "campaign_id": "cmp_winter_sale",
                    "advertiser_id": "adv_acme",
                    "user_id": "u_5d2e9b",
                    "cost_micros": 350_000,
                    "occurred_at": "2026-11-26T10:15:09Z",
                }
            ]
        }
    )

    click_id: Ident
    impression_id: Ident
    campaign_id: Ident
    advertiser_id: Ident
    user_id: Ident
    cost_micros: Micros = 0
    occurred_at: AwareEventTime


class ConversionV1(EventModel):
    """A purchase or sign-up on the advertiser's side, to be credited to the user's last click."""

    event_type = "conversion"
    schema_version = "1.0"
    ordering_key = "user_id"
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "conversion_id": "conv_a19c",
                    "advertiser_id": "adv_acme",
                    "user_id": "u_5d2e9b",
                    "value_micros": 59_990_000,
                    "currency": "EUR",
                    "occurred_at": "2026-11-26T11:02:40Z",
                }
            ]
        }
    )

    conversion_id: Ident
    advertiser_id: Ident
    user_id: Ident
    value_micros: Micros
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    occurred_at: AwareEventTime


class ViewabilityMeasuredV1(EventModel):
    """A verification vendor's verdict on one impression (MRC: 50% of pixels in view for 1 s)."""

    event_type = "viewability_measured"
    schema_version = "1.0"
    ordering_key = "impression_id"
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "impression_id": "imp_8f3a21c4",
                    "campaign_id": "cmp_winter_sale",
                    "measurable": True,
                    "viewable": True,
                    "in_view_ms": 2_350,
                    "occurred_at": "2026-11-26T10:15:05Z",
                }
            ]
        }
    )

    impression_id: Ident
    campaign_id: Ident
    measurable: bool
    viewable: bool
    in_view_ms: int = Field(ge=0, le=86_400_000)
    occurred_at: AwareEventTime

    @model_validator(mode="after")
    def _viewable_only_if_measurable(self) -> ViewabilityMeasuredV1:
        if self.viewable and not self.measurable:
            raise ValueError("an impression that was not measurable cannot be viewable")
        return self
