"""IoT / fleet processors.

- Predictive maintenance: a rolling window of engine temperatures per vehicle; an alert when a reading
  crosses the overheat threshold (re-armed below it minus a hysteresis), and when the least-squares trend at
  operating temperature rises faster than allowed (a warming-up engine is not a fault).
- Fuel: low-fuel and sudden-drop (leak or theft) alerts.
- Position: the last known fix and the distance travelled (haversine), moving forward in time only, with
  implausible jumps (GPS glitches) ignored.
- Usage-based insurance: distance, night-time distance (the device's local time), speeding distance and
  harsh braking and acceleration, folded into a 0-100 score.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from plutus.core.effects import Effect, Put, Update
from plutus.core.registry import EventContext, Router
from plutus.domains.iot.models import EngineTemperatureV1, FuelLevelV1, GpsLocationUpdateV1
from plutus.domains.iot.settings import IotSettings
from plutus.domains.kit import as_float, as_int, epoch, event_time, iso, num, version_of

router = Router("iot", settings=IotSettings)

ENGINE = "ENGINE"
FUEL = "FUEL"
POSITION = "POSITION"
UBI = "UBI"
ALERT_PREFIX = "ALERT#"
EARTH_RADIUS_KM = 6371.0088


def vehicle_pk(vehicle_id: str) -> str:
    """Partition of one vehicle: engine window, fuel, position, insurance counters, alerts."""
    return f"IOT#VEHICLE#{vehicle_id}"


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance between two points in kilometres."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlmb = math.radians(lat2 - lat1), math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def slope_per_minute(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (epoch seconds, value) points, per minute."""
    if len(points) < 2:
        return 0.0
    mean_t = sum(t for t, _ in points) / len(points)
    mean_v = sum(v for _, v in points) / len(points)
    spread = sum((t - mean_t) ** 2 for t, _ in points)
    if spread == 0:
        return 0.0
    return sum((t - mean_t) * (v - mean_v) for t, v in points) / spread * 60


def is_night(local_hour: int, start: int, end: int) -> bool:
    """Whether ``local_hour`` falls in the night band [start, end), which may wrap past midnight."""
    return start <= local_hour < end if start < end else local_hour >= start or local_hour < end


def local_time(occurred_at: datetime | None, ctx: EventContext) -> datetime:
    """Wall-clock time where the event happened: its own UTC offset if it carries one, else UTC."""
    if occurred_at is not None and occurred_at.tzinfo is not None:
        return occurred_at
    return event_time(occurred_at, ctx)


def insurance_score(
    km: float, night_km: float, speeding_km: float, harsh_events: int, settings: IotSettings
) -> tuple[float, str]:
    """A 0-100 driving score (higher is safer) and its risk band.

    Harsh events are counted per 100 km (normalised by at least ``iot_ubi_min_km`` so a short trip cannot
    swing the score); night and speeding distance cost in proportion to their share of all distance.
    """
    exposure = max(km, settings.ubi_min_km)
    penalty = (
        settings.ubi_harsh_penalty_per_100km * harsh_events * 100 / exposure
        + settings.ubi_night_weight * (night_km / km if km else 0.0)
        + settings.ubi_speeding_weight * (speeding_km / km if km else 0.0)
    )
    score = round(min(100.0, max(0.0, 100.0 - penalty)), 1)
    band = "low" if score >= 80 else "medium" if score >= 60 else "high"
    return score, band


def _alert(vehicle_id: str, at: datetime, kind: str, ctx: EventContext, **details: Any) -> Put:
    return Put(
        vehicle_pk(vehicle_id),
        f"{ALERT_PREFIX}{iso(at)}#{kind}#{ctx.event_id}",
        {"kind": kind, "vehicle_id": vehicle_id, "at": iso(at), "event_id": ctx.event_id, "details": details},
    )


@router.on(EngineTemperatureV1)
def handle_watch_engine_temperature(event: EngineTemperatureV1, ctx: EventContext) -> Iterator[Effect]:
    """Roll the temperature window; alert on overheating and on a rising trend at operating temperature."""
    settings = ctx.settings_of(IotSettings)
    at = event_time(event.occurred_at, ctx)
    pk = vehicle_pk(event.vehicle_id)
    item = ctx.state.get(pk, ENGINE) or {}
    points = [(as_float(p["t"]), as_float(p["c"])) for p in item.get("window", [])]
    window = sorted([*points, (epoch(at), event.temperature_c)])[-settings.temperature_window :]
    celsius = event.temperature_c
    overheating = bool(item.get("overheating", False))
    if celsius >= settings.engine_overheat_c and not overheating:
        overheating = True
        yield _alert(event.vehicle_id, at, "overheat", ctx, temperature_c=num(celsius, 2))
    elif overheating and celsius < settings.engine_overheat_c - settings.engine_hysteresis_c:
        overheating = False
    enough = len(window) >= settings.trend_min_readings
    slope = slope_per_minute(window) if enough else 0.0
    mean_c = sum(c for _, c in window) / len(window)
    rising = enough and slope >= settings.engine_trend_c_per_min and mean_c >= settings.engine_operating_c
    if rising and not item.get("rising", False):
        yield _alert(
            event.vehicle_id,
            at,
            "rising_temperature",
            ctx,
            slope_c_per_min=num(slope, 3),
            mean_c=num(mean_c, 2),
            readings=len(window),
        )
    latest_t, latest_c = window[-1]
    yield Update(
        pk,
        ENGINE,
        set={
            "window": [{"t": num(t, 3), "c": num(c, 2)} for t, c in window],
            "overheating": overheating,
            "rising": rising,
            "slope_c_per_min": num(slope, 3),
            "mean_c": num(mean_c, 2),
            "last_c": num(latest_c, 2),
            "last_at": iso(datetime.fromtimestamp(latest_t, UTC)),
        },
        expect_version=version_of(item or None),
    )


@router.on(FuelLevelV1)
def handle_watch_fuel_level(event: FuelLevelV1, ctx: EventContext) -> Iterator[Effect]:
    """Keep the latest level; alert when it falls below the low mark or drops suddenly."""
    settings = ctx.settings_of(IotSettings)
    at = event_time(event.occurred_at, ctx)
    t = epoch(at)
    pk = vehicle_pk(event.vehicle_id)
    item = ctx.state.get(pk, FUEL)
    if item is not None and t <= as_float(item["t"]):
        return  # an older reading than the one held: the gauge only moves forward in time
    level = event.level_pct
    low = level < settings.fuel_low_pct
    if low and not (item or {}).get("low", False):
        yield _alert(event.vehicle_id, at, "low_fuel", ctx, level_pct=num(level, 2))
    if item is not None:
        drop = as_float(item["level_pct"]) - level
        if drop >= settings.fuel_drop_pct and t - as_float(item["t"]) <= settings.fuel_drop_window_seconds:
            yield _alert(
                event.vehicle_id,
                at,
                "fuel_drop",
                ctx,
                drop_pct=num(drop, 2),
                seconds=int(t - as_float(item["t"])),
            )
    yield Update(
        pk,
        FUEL,
        set={"level_pct": num(level, 2), "t": num(t, 3), "at": iso(at), "low": low},
        expect_version=version_of(item),
    )


@router.on(GpsLocationUpdateV1)
def handle_track_position(event: GpsLocationUpdateV1, ctx: EventContext) -> Iterator[Effect]:
    """Move the last known position forward, add the distance, and fold the segment into the UBI score."""
    settings = ctx.settings_of(IotSettings)
    at = event_time(event.occurred_at, ctx)
    t = epoch(at)
    pk = vehicle_pk(event.vehicle_id)
    item = ctx.state.get(pk, POSITION)
    if item is not None and t <= as_float(item["t"]):
        return  # out of order or a repeated fix: the position only moves forward in time
    fix = {"lat": num(event.latitude), "lon": num(event.longitude), "t": num(t, 3), "at": iso(at)}
    if item is None:
        yield Update(
            pk,
            POSITION,
            set={**fix, "speed_kph": _speed(event.speed_kph), "distance_km": 0, "fixes": 1},
            expect_version=0,
        )
        return
    km = haversine_km(as_float(item["lat"]), as_float(item["lon"]), event.latitude, event.longitude)
    seconds = t - as_float(item["t"])
    implied_kph = km / seconds * 3600
    if implied_kph > settings.max_plausible_kph:
        # A jump no vehicle can make is a bad fix: keep the last good position, count the glitch.
        yield Update(
            pk, POSITION, set={"glitches": as_int(item.get("glitches")) + 1}, expect_version=version_of(item)
        )
        return
    speed = event.speed_kph if event.speed_kph is not None else implied_kph
    yield from _fold_segment(event, ctx, item, km, seconds, speed)
    yield Update(
        pk,
        POSITION,
        set={
            **fix,
            "speed_kph": _speed(speed),
            "distance_km": num(as_float(item.get("distance_km")) + km, 4),
            "fixes": as_int(item.get("fixes")) + 1,
        },
        expect_version=version_of(item),
    )


def _speed(kph: float | None) -> Any:
    return None if kph is None else num(kph, 2)


def _fold_segment(
    event: GpsLocationUpdateV1,
    ctx: EventContext,
    prev: dict[str, Any],
    km: float,
    seconds: float,
    speed: float,
) -> Iterator[Effect]:
    settings = ctx.settings_of(IotSettings)
    pk = vehicle_pk(event.vehicle_id)
    ubi = ctx.state.get(pk, UBI) or {}
    night = is_night(
        local_time(event.occurred_at, ctx).hour, settings.night_start_hour, settings.night_end_hour
    )
    totals = {
        "km": as_float(ubi.get("km")) + km,
        "night_km": as_float(ubi.get("night_km")) + (km if night else 0.0),
        "speeding_km": as_float(ubi.get("speeding_km")) + (km if speed > settings.speeding_kph else 0.0),
    }
    brakes, accels = as_int(ubi.get("harsh_brakes")), as_int(ubi.get("harsh_accels"))
    prev_speed = prev.get("speed_kph")
    # Acceleration over a long gap between fixes says nothing about how the vehicle was driven.
    if prev_speed is not None and 0 < seconds <= settings.harsh_max_gap_seconds:
        accel = (speed - as_float(prev_speed)) / 3.6 / seconds
        brakes += int(accel <= -settings.harsh_brake_mps2)
        accels += int(accel >= settings.harsh_accel_mps2)
    score, band = insurance_score(
        totals["km"], totals["night_km"], totals["speeding_km"], brakes + accels, settings
    )
    yield Update(
        pk,
        UBI,
        set={
            **{k: num(v, 4) for k, v in totals.items()},
            "harsh_brakes": brakes,
            "harsh_accels": accels,
            "score": num(score, 1),
            "band": band,
        },
        expect_version=version_of(ubi or None),
    )
