"""Logistics processors: package state, reroute exceptions, SLA breaches and lane transit-time history.

Every event of a package re-derives its flags from the merged state, so events may arrive in any order (a
delivery before its pickup scan still yields one transit sample and the right SLA verdict). State keys:

- ``LOG#PACKAGE#<id>`` / ``STATE``: lane, promise, status, reroute and SLA flags (versioned).
- ``LOG#PACKAGE#<id>`` / ``LOCATION``: the latest GPS fix (versioned: an older fix never overwrites).
- ``LOG#PACKAGE#<id>`` / ``EXCEPTION#<time>#<event_id>#<kind>``: breaches, failed deliveries, SLA breaches.
- ``LOG#LANE#<origin>#<destination>`` / ``TRANSIT``: count, sum and an hourly histogram of transit times,
  updated with atomic adds only, so a busy lane never conflicts (exactly once through the event marker).
- ``LOG#SLA#<promised day>#<shard>`` / ``<promised_by>#<package>``: the SLA index, so "which packages promised
  for a day are late" is a few queries, not a scan.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

from plutus.core.effects import Effect, Put, Update
from plutus.core.registry import EventContext, Router
from plutus.domains.kit import day, event_time, iso, parse_iso, version_of
from plutus.domains.logistics.models import (
    DeliveryAttemptedV1,
    LocationUpdateV1,
    PackageScannedV1,
    TemperatureBreachV1,
)
from plutus.domains.logistics.settings import LogisticsSettings

router = Router("logistics", settings=LogisticsSettings)

MAX_REROUTE_REASONS = 10
NEW_PACKAGE: dict[str, Any] = {
    "status": "unknown",
    "failed_attempts": 0,
    "reroute": False,
    "reroute_reasons": [],
    "sla_breached": False,
    "transit_recorded": False,
}


def package_pk(package_id: str) -> str:
    """The partition of one package."""
    return f"LOG#PACKAGE#{package_id}"


def lane_pk(origin: str, destination: str) -> str:
    """The partition of one origin -> destination lane."""
    return f"LOG#LANE#{origin}#{destination}"


def sla_pk(promised_day: str, shard: int) -> str:
    """One shard of the SLA index of packages promised for ``promised_day``."""
    return f"LOG#SLA#{promised_day}#{shard}"


def _sla_key(state: dict[str, Any], shards: int) -> tuple[str, str]:
    promised = parse_iso(state["promised_by"])
    shard = zlib.crc32(state["package_id"].encode()) % shards
    return sla_pk(day(promised), shard), f"{state['promised_by']}#{state['package_id']}"


class _Package:
    """One event's view of a package: the merged state plus the effects it produces besides ``STATE``."""

    def __init__(self, ctx: EventContext, package_id: str, at: datetime) -> None:
        self.ctx = ctx
        self.at = at
        self.pk = package_pk(package_id)
        self.current = ctx.state.get(self.pk, "STATE")
        self.state: dict[str, Any] = {**NEW_PACKAGE, **(self.current or {}), "package_id": package_id}
        self.effects: list[Effect] = []
        last = self.state.get("last_event_at")
        self.is_latest = last is None or at >= parse_iso(last)

    def set(self, **values: Any) -> None:
        """Change state attributes."""
        self.state.update(values)

    def exception(self, kind: str, **details: Any) -> None:
        """Record an exception of the package (kept, time-ordered)."""
        self.effects.append(
            Put(
                self.pk,
                f"EXCEPTION#{iso(self.at)}#{self.ctx.event_id}#{kind}",
                {"kind": kind, "at": iso(self.at), "event_id": self.ctx.event_id, **details},
            )
        )

    def mark_reroute(self, reason: str) -> None:
        """Flag the package for reroute, keeping a bounded list of why."""
        reasons = [*self.state["reroute_reasons"], reason][-MAX_REROUTE_REASONS:]
        self.set(
            reroute=True,
            reroute_reasons=reasons,
            reroute_requested_at=self.state.get("reroute_requested_at") or iso(self.at),
        )

    def _check_sla(self) -> None:
        promised = self.state.get("promised_by")
        if promised is None or self.state["sla_breached"]:
            return
        delivered = self.state.get("delivered_at")
        late = parse_iso(delivered) > parse_iso(promised) if delivered else self.at > parse_iso(promised)
        if late:
            self.set(sla_breached=True, sla_breach_detected_at=iso(self.at))
            self.exception("sla_breach", promised_by=promised, delivered_at=delivered)

    def _record_transit(self) -> None:
        shipped, delivered = self.state.get("shipped_at"), self.state.get("delivered_at")
        if self.state["transit_recorded"] or shipped is None or delivered is None:
            return
        seconds = int((parse_iso(delivered) - parse_iso(shipped)).total_seconds())
        if seconds < 0:
            return  # clocks disagree; a negative sample would poison the lane
        settings = self.ctx.settings_of(LogisticsSettings)
        lane = lane_pk(self.state["origin"], self.state["destination"])
        existing = self.ctx.state.get(lane, "TRANSIT")
        # The width is fixed per lane when it is created: changing the setting must not corrupt a histogram.
        width = int(existing["bucket_minutes"]) if existing else settings.eta_bucket_minutes
        bucket = min(seconds // (width * 60), settings.eta_max_buckets - 1)
        self.effects.append(
            Update(
                lane,
                "TRANSIT",
                add={"count": 1, "sum_seconds": seconds, f"b{bucket:04d}": 1},
                set_if_absent={
                    "origin": self.state["origin"],
                    "destination": self.state["destination"],
                    "bucket_minutes": width,
                },
            )
        )
        self.set(transit_recorded=True, transit_seconds=seconds)

    def finish(self, *, write_state: bool = True) -> Iterator[Effect]:
        """The event's effects: derived flags re-checked, then ``STATE`` (a bare GPS fix skips it)."""
        self._check_sla()
        self._record_transit()
        if self.is_latest:
            self.state["last_event_at"] = iso(self.at)
        yield from self.effects
        if write_state or self.effects:
            attributes = {k: v for k, v in self.state.items() if k not in ("pk", "sk", "version")}
            yield Update(self.pk, "STATE", set=attributes, expect_version=version_of(self.current))


def _deliver(package: _Package, via: str) -> Iterator[Effect]:
    if package.state.get("delivered_at") is not None:
        return
    package.set(status="delivered", delivered_at=iso(package.at), delivered_via=via)
    if package.state.get("promised_by") is not None:
        pk, sk = _sla_key(package.state, package.ctx.settings_of(LogisticsSettings).sla_index_shards)
        yield Update(pk, sk, set={"delivered": True, "delivered_at": iso(package.at)})


def _process(
    ctx: EventContext, package_id: str, at: datetime, apply: Callable[[_Package], Iterable[Effect]]
) -> Iterator[Effect]:
    package = _Package(ctx, package_id, at)
    extra = list(apply(package))
    yield from extra
    yield from package.finish()


@router.on(PackageScannedV1)
def handle_track_scan(event: PackageScannedV1, ctx: EventContext) -> Iterable[Effect]:
    """Track the package through its scans; the pickup scan opens its lane, promise and SLA index entry."""

    def apply(package: _Package) -> Iterator[Effect]:
        state = package.state
        if event.scan_type == "picked_up" and state.get("shipped_at") is None:
            assert event.origin and event.destination and event.promised_by  # the model guarantees them
            package.set(
                origin=event.origin,
                destination=event.destination,
                promised_by=iso(event.promised_by),
                shipped_at=iso(package.at),
            )
            pk, sk = _sla_key(state, ctx.settings_of(LogisticsSettings).sla_index_shards)
            delivered = state.get("delivered_at")
            yield Put(
                pk,
                sk,
                {
                    "package_id": event.package_id,
                    "promised_by": state["promised_by"],
                    "lane": f"{event.origin}-{event.destination}",
                    "delivered": delivered is not None,
                    "delivered_at": delivered,
                },
            )
        if event.scan_type == "delivered":
            yield from _deliver(package, "scan")
        elif package.is_latest and state.get("delivered_at") is None:
            status = (
                "in_transit" if event.scan_type in ("arrived_at_hub", "departed_hub") else event.scan_type
            )
            package.set(status=status, last_facility=event.facility_id)

    return _process(ctx, event.package_id, event_time(event.occurred_at, ctx), apply)


@router.on(DeliveryAttemptedV1)
def handle_record_delivery_attempt(event: DeliveryAttemptedV1, ctx: EventContext) -> Iterable[Effect]:
    """A successful attempt delivers; a failed one is an exception that marks the package for reroute."""

    def apply(package: _Package) -> Iterator[Effect]:
        if event.outcome == "delivered":
            yield from _deliver(package, "courier")
            return
        failed = int(package.state["failed_attempts"]) + 1
        package.set(failed_attempts=failed, last_failure_reason=event.failure_reason)
        if package.state.get("delivered_at") is None and package.is_latest:
            package.set(status="delivery_failed")
        package.exception(
            "failed_delivery",
            reason=event.failure_reason,
            attempt_number=event.attempt_number,
            courier_id=event.courier_id,
        )
        if failed >= ctx.settings_of(LogisticsSettings).reroute_after_failed_attempts:
            package.mark_reroute(f"failed_delivery:{event.failure_reason}")

    return _process(ctx, event.package_id, event_time(event.occurred_at, ctx), apply)


@router.on(TemperatureBreachV1)
def handle_record_temperature_breach(event: TemperatureBreachV1, ctx: EventContext) -> Iterable[Effect]:
    """Record the excursion; a long or large one spoils the cold chain and marks the package for reroute."""

    def apply(package: _Package) -> Iterator[Effect]:
        settings = ctx.settings_of(LogisticsSettings)
        severe = (
            event.duration_seconds >= settings.breach_reroute_seconds
            or event.excursion_c >= settings.breach_reroute_excursion_c
        )
        package.exception(
            "temperature_breach",
            temperature_c=event.temperature_c,
            allowed=f"{event.min_c}..{event.max_c}",
            excursion_c=round(event.excursion_c, 2),
            duration_seconds=event.duration_seconds,
            sensor_id=event.sensor_id,
            severe=severe,
        )
        if severe:
            package.mark_reroute("temperature_breach")
        return iter(())

    return _process(ctx, event.package_id, event_time(event.occurred_at, ctx), apply)


@router.on(LocationUpdateV1)
def handle_track_location(event: LocationUpdateV1, ctx: EventContext) -> Iterable[Effect]:
    """Keep the latest fix; its time also checks the package's SLA (state is written only on a breach)."""
    at = event_time(event.occurred_at, ctx)
    pk = package_pk(event.package_id)
    current = ctx.state.get(pk, "LOCATION")
    if current is None or at > parse_iso(current["at"]):
        yield Update(
            pk,
            "LOCATION",
            set={"lat": event.lat, "lon": event.lon, "vehicle_id": event.vehicle_id, "at": iso(at)},
            expect_version=version_of(current),
        )
    package = _Package(ctx, event.package_id, at)
    if package.current is not None:
        yield from package.finish(write_state=False)


def eta_from_lane(lane: dict[str, Any] | None, percentile: float, min_samples: int) -> timedelta | None:
    """The lane's transit time at ``percentile`` (upper edge of its histogram bucket), if it has history."""
    if lane is None or int(lane.get("count", 0)) < min_samples:
        return None
    width = timedelta(minutes=int(lane["bucket_minutes"]))
    buckets = sorted((int(k[1:]), int(v)) for k, v in lane.items() if k.startswith("b") and k[1:].isdigit())
    target, seen = percentile * int(lane["count"]), 0
    for index, count in buckets:
        seen += count
        if seen >= target:
            return width * (index + 1)
    return width * (buckets[-1][0] + 1) if buckets else None
