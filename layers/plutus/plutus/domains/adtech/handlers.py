"""Adtech processors: exactly-once spend and delivery counters, last-click attribution, viewability.

Spend is charged exactly once at two levels: per event (the consumer's marker on ``event_id``) and per
business id: an impression, click or conversion id is bound to the first event that used it
(``kit.bind_business_id``). The same id resent with the same content (the ad server retrying under a new
idempotency key) is not charged again; the same id with other content (another cost, campaign, value) is a
conflict: nothing is charged and the event fails for an operator, never a silent no-op. An impression's first
viewability verdict counts; a later one (a re-measurement) is a duplicate unless it names another campaign.

State keys:

- ``AD#CAMPAIGN#<id>`` / ``DAY#<yyyy-mm-dd>#S<n>``: a day's counters (impressions, clicks, spend,
  viewability, conversions) on one of ``adtech_spend_shards`` shards, so a busy campaign spreads its writes;
  the decision read sums the shards with one query.
- ``AD#IMP#<impression_id>`` / ``IMPRESSION`` and ``VIEWABILITY``, ``AD#CLICK#<click_id>`` / ``CLICK``:
  business-id markers, expiring (TTL ``expires_at``) after ``dedup_ttl_seconds``.
- ``AD#ADV#<advertiser>#USER#<user>`` / ``CLICKS``: the user's last few clicks for that advertiser.
- ``AD#CONV#<conversion_id>`` / ``ATTRIBUTION``: the conversion's marker and the campaign it was credited to.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from plutus.core.effects import Effect, Update
from plutus.core.registry import EventContext, Router
from plutus.domains.adtech.models import AdImpressionV1, ClickV1, ConversionV1, ViewabilityMeasuredV1
from plutus.domains.adtech.settings import AdtechSettings
from plutus.domains.kit import bind_business_id, day, event_time, expires_at, iso, parse_iso, version_of

router = Router("adtech", settings=AdtechSettings)


def campaign_pk(campaign_id: str) -> str:
    """The partition of one campaign's daily counters."""
    return f"AD#CAMPAIGN#{campaign_id}"


def day_prefix(date: str) -> str:
    """The sort-key prefix of one day's counter shards."""
    return f"DAY#{date}#"


def _shard_sk(at: datetime, business_id: str, shards: int) -> str:
    # A stable hash: the same impression always lands on the same shard.
    return f"{day_prefix(day(at))}S{zlib.crc32(business_id.encode()) % shards}"


def _counters(
    ctx: EventContext,
    campaign_id: str,
    at: datetime,
    business_id: str,
    add: dict[str, int],
    set_: dict[str, Any] | None = None,
    set_if_absent: dict[str, Any] | None = None,
) -> Update:
    return Update(
        campaign_pk(campaign_id),
        _shard_sk(at, business_id, ctx.settings_of(AdtechSettings).spend_shards),
        add=add,
        set=set_ or {},
        set_if_absent={"campaign_id": campaign_id, "day": day(at), **(set_if_absent or {})},
    )


def _dedup_until(ctx: EventContext, at: datetime) -> int:
    return expires_at(at, ctx.settings_of(AdtechSettings).dedup_ttl_seconds)


@router.on(AdImpressionV1)
def handle_charge_impression(event: AdImpressionV1, ctx: EventContext) -> Iterable[Effect]:
    """Count the impression and charge its cost to the campaign's day, once per impression id."""
    at = event_time(event.occurred_at, ctx)
    marker = bind_business_id(
        ctx,
        f"AD#IMP#{event.impression_id}",
        "IMPRESSION",
        kind="impression_id",
        content={"campaign_id": event.campaign_id, "cost_micros": event.cost_micros},
        at=at,
        expires=_dedup_until(ctx, at),
        campaign_id=event.campaign_id,
    )
    if marker is None:
        return
    yield marker
    charge = {"impressions": 1, "spend_micros": event.cost_micros}
    if event.daily_budget_micros is None:
        default = {"budget_micros": ctx.settings_of(AdtechSettings).default_daily_budget_micros}
        yield _counters(ctx, event.campaign_id, at, event.impression_id, charge, set_if_absent=default)
    else:
        # The ad server's latest view of the budget wins: a mid-day change paces the rest of the day.
        budget = {"budget_micros": event.daily_budget_micros, "budget_at": iso(at)}
        yield _counters(ctx, event.campaign_id, at, event.impression_id, charge, set_=budget)


def _remember_click(ctx: EventContext, event: ClickV1, at: datetime) -> Iterator[Update]:
    pk = f"AD#ADV#{event.advertiser_id}#USER#{event.user_id}"
    item = ctx.state.get(pk, "CLICKS")
    clicks = list(item.get("clicks", [])) if item else []
    clicks.append({"click_id": event.click_id, "campaign_id": event.campaign_id, "clicked_at": iso(at)})
    # Newest first, bounded: attribution only ever needs the latest click before a conversion.
    clicks.sort(key=lambda c: c["clicked_at"], reverse=True)
    yield Update(
        pk,
        "CLICKS",
        set={"clicks": clicks[: ctx.settings_of(AdtechSettings).clicks_remembered]},
        expect_version=version_of(item),
    )


@router.on(ClickV1)
def handle_charge_click(event: ClickV1, ctx: EventContext) -> Iterable[Effect]:
    """Count the click, charge its cost once per click id, and remember it for attribution."""
    at = event_time(event.occurred_at, ctx)
    marker = bind_business_id(
        ctx,
        f"AD#CLICK#{event.click_id}",
        "CLICK",
        kind="click_id",
        content={
            "campaign_id": event.campaign_id,
            "impression_id": event.impression_id,
            "cost_micros": event.cost_micros,
        },
        at=at,
        expires=_dedup_until(ctx, at),
        campaign_id=event.campaign_id,
    )
    if marker is None:
        return
    yield marker
    yield _counters(
        ctx, event.campaign_id, at, event.click_id, {"clicks": 1, "spend_micros": event.cost_micros}
    )
    yield from _remember_click(ctx, event, at)


def last_click_before(
    clicks: list[dict[str, Any]], converted_at: datetime, window_seconds: int
) -> dict[str, Any] | None:
    """The latest click at or before ``converted_at`` and no older than the window (last-click model)."""
    for click in sorted(clicks, key=lambda c: c["clicked_at"], reverse=True):
        clicked_at = parse_iso(click["clicked_at"])
        if clicked_at <= converted_at:
            lag = (converted_at - clicked_at).total_seconds()
            return click if lag <= window_seconds else None
    return None


@router.on(ConversionV1)
def handle_attribute_conversion(event: ConversionV1, ctx: EventContext) -> Iterable[Effect]:
    """Credit the conversion to the campaign of the user's last click within the attribution window."""
    at = event_time(event.occurred_at, ctx)
    history = ctx.state.get(f"AD#ADV#{event.advertiser_id}#USER#{event.user_id}", "CLICKS")
    click = last_click_before(
        list(history.get("clicks", [])) if history else [],
        at,
        ctx.settings_of(AdtechSettings).attribution_window_seconds,
    )
    attribution: dict[str, Any] = {
        "conversion_id": event.conversion_id,
        "advertiser_id": event.advertiser_id,
        "value_micros": event.value_micros,
        "currency": event.currency,
        "converted_at": iso(at),
        "attributed": click is not None,
    }
    if click is not None:
        lag = int((at - parse_iso(click["clicked_at"])).total_seconds())
        attribution |= {
            "campaign_id": click["campaign_id"],
            "click_id": click["click_id"],
            "clicked_at": click["clicked_at"],
            "lag_seconds": lag,
        }
    # Attribution records do not expire: they are the campaign's revenue history.
    content = {
        "advertiser_id": event.advertiser_id,
        "user_id": event.user_id,
        "value_micros": event.value_micros,
        "currency": event.currency,
    }
    marker = bind_business_id(
        ctx,
        f"AD#CONV#{event.conversion_id}",
        "ATTRIBUTION",
        kind="conversion_id",
        content=content,
        at=at,
        **attribution,
    )
    if marker is None:
        return
    yield marker
    if click is not None:
        value = {"conversions": 1, "conversion_value_micros": event.value_micros}
        yield _counters(ctx, click["campaign_id"], at, event.conversion_id, value)


@router.on(ViewabilityMeasuredV1)
def handle_count_viewability(event: ViewabilityMeasuredV1, ctx: EventContext) -> Iterable[Effect]:
    """Count one verdict per impression: measurable and viewable impressions of the campaign's day."""
    at = event_time(event.occurred_at, ctx)
    marker = bind_business_id(
        ctx,
        f"AD#IMP#{event.impression_id}",
        "VIEWABILITY",
        kind="impression_id (viewability)",
        # The first verdict counts and later ones (a re-measurement) are duplicates; another campaign is not.
        content={"campaign_id": event.campaign_id},
        at=at,
        expires=_dedup_until(ctx, at),
        viewable=event.viewable,
    )
    if marker is None:
        return
    yield marker
    verdict = {"measured": int(event.measurable), "viewable": int(event.viewable)}
    yield _counters(ctx, event.campaign_id, at, event.impression_id, verdict)
