"""Logistics read endpoints: a package (ETA and SLA judged at read time), a lane's transit history, and the
packages promised for a day that are late."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel

from plutus.core.errors import ResourceNotFoundError
from plutus.domains.deps import Now, State, settings_of
from plutus.domains.kit import PATH_ID, iso, parse_iso, plain
from plutus.domains.logistics.handlers import eta_from_lane, lane_pk, package_pk, sla_pk
from plutus.domains.logistics.settings import LogisticsSettings

api = APIRouter(prefix="/api/v1/logistics", tags=["logistics"])
Config = Annotated[LogisticsSettings, Depends(settings_of(LogisticsSettings))]
Id = Annotated[str, Path(pattern=PATH_ID)]
EXCEPTIONS_SHOWN = 20


class LocationView(BaseModel):
    """The latest GPS fix."""

    lat: float
    lon: float
    vehicle_id: str
    at: str


class ExceptionView(BaseModel):
    """One exception: ``temperature_breach``, ``failed_delivery`` or ``sla_breach``."""

    kind: str
    at: str
    details: dict[str, Any]


class PackageView(BaseModel):
    """A package's state, with its ETA and SLA standing at ``as_of``."""

    package_id: str
    as_of: str
    status: str
    origin: str | None
    destination: str | None
    shipped_at: str | None
    promised_by: str | None
    delivered_at: str | None
    eta: str | None
    eta_source: str
    late_at_as_of: bool
    sla_breached: bool
    reroute: bool
    reroute_reasons: list[str]
    failed_attempts: int
    last_location: LocationView | None
    exceptions: list[ExceptionView]


class LaneView(BaseModel):
    """Transit-time history of one lane."""

    origin: str
    destination: str
    deliveries: int
    mean_hours: float
    p50_hours: float | None
    p80_hours: float | None
    p95_hours: float | None
    eta_hours: float | None


class LatePackageView(BaseModel):
    """A package promised for the day and not delivered on time."""

    package_id: str
    lane: str
    promised_by: str
    delivered_at: str | None
    hours_late: float


class LatePackagesView(BaseModel):
    """The SLA report of one promised day."""

    day: str
    as_of: str
    promised: int
    late: list[LatePackageView]


def _hours(delta: timedelta | None) -> float | None:
    return round(delta.total_seconds() / 3600, 2) if delta is not None else None


def _eta(
    state: dict[str, Any], lane: dict[str, Any] | None, settings: LogisticsSettings
) -> tuple[str | None, str]:
    if state.get("delivered_at"):
        return state["delivered_at"], "delivered"
    transit = eta_from_lane(lane, settings.eta_percentile, settings.eta_min_samples)
    if transit is not None and state.get("shipped_at"):
        return iso(parse_iso(state["shipped_at"]) + transit), "lane_history"
    return state.get("promised_by"), "promise"


def _is_late(promised_by: str | None, delivered_at: str | None, now: datetime) -> bool:
    if promised_by is None:
        return False
    return (parse_iso(delivered_at) if delivered_at else now) > parse_iso(promised_by)


@api.get("/packages/{package_id}", response_model=PackageView)
def get_package(package_id: Id, state: State, settings: Config, now: Now) -> PackageView:
    """The package, its ETA (the lane's transit percentile after pickup) and whether it is late at ``as_of``.

    One query reads the package's partition newest first: state, last fix and the latest exceptions.
    """
    items = state.query(package_pk(package_id), limit=EXCEPTIONS_SHOWN + 2, newest_first=True)
    by_sk = {i["sk"]: i for i in items}
    package = by_sk.get("STATE")
    if package is None:
        raise ResourceNotFoundError("nothing has been recorded for this package")
    lane = None
    if package.get("origin") and package.get("destination"):
        lane = state.get(lane_pk(package["origin"], package["destination"]), "TRANSIT")
    eta, source = _eta(package, lane, settings)
    fix = by_sk.get("LOCATION")
    exceptions = [
        ExceptionView(
            kind=i["kind"],
            at=i["at"],
            details={k: plain(v) for k, v in i.items() if k not in ("pk", "sk", "kind", "at", "event_id")},
        )
        for i in items
        if i["sk"].startswith("EXCEPTION#")
    ]
    return PackageView(
        package_id=package_id,
        as_of=iso(now),
        status=package["status"],
        origin=package.get("origin"),
        destination=package.get("destination"),
        shipped_at=package.get("shipped_at"),
        promised_by=package.get("promised_by"),
        delivered_at=package.get("delivered_at"),
        eta=eta,
        eta_source=source,
        late_at_as_of=_is_late(package.get("promised_by"), package.get("delivered_at"), now),
        sla_breached=bool(package["sla_breached"]),
        reroute=bool(package["reroute"]),
        reroute_reasons=list(package["reroute_reasons"]),
        failed_attempts=int(package["failed_attempts"]),
        last_location=LocationView.model_validate(fix) if fix else None,
        exceptions=exceptions,
    )


@api.get("/lanes/{origin}/{destination}", response_model=LaneView)
def get_lane(origin: Id, destination: Id, state: State, settings: Config) -> LaneView:
    """The lane's delivered transit times: mean and percentiles (hours), and the percentile ETAs use."""
    lane = state.get(lane_pk(origin, destination), "TRANSIT")
    if lane is None:
        raise ResourceNotFoundError("no delivery has been recorded on this lane")
    count = int(lane["count"])

    def at(q: float) -> float | None:
        return _hours(eta_from_lane(lane, q, 1))

    return LaneView(
        origin=origin,
        destination=destination,
        deliveries=count,
        mean_hours=round(float(lane["sum_seconds"]) / count / 3600, 2),
        p50_hours=at(0.5),
        p80_hours=at(0.8),
        p95_hours=at(0.95),
        eta_hours=_hours(eta_from_lane(lane, settings.eta_percentile, settings.eta_min_samples)),
    )


@api.get("/sla/{promised_day}/late", response_model=LatePackagesView)
def list_late_packages(promised_day: date, state: State, settings: Config, now: Now) -> LatePackagesView:
    """Packages promised for ``promised_day`` that, at ``as_of``, are undelivered past their promise or were
    delivered late. Read-time evaluation: a package with no event since its promise is caught here too."""
    entries: list[dict[str, Any]] = []
    for shard in range(settings.sla_index_shards):
        entries += state.query(sla_pk(promised_day.isoformat(), shard), limit=1_000)
    late = []
    for entry in sorted(entries, key=lambda e: str(e["sk"])):
        if _is_late(entry["promised_by"], entry.get("delivered_at"), now):
            end = parse_iso(entry["delivered_at"]) if entry.get("delivered_at") else now
            late.append(
                LatePackageView(
                    package_id=entry["package_id"],
                    lane=entry["lane"],
                    promised_by=entry["promised_by"],
                    delivered_at=entry.get("delivered_at"),
                    hours_late=_hours(end - parse_iso(entry["promised_by"])) or 0.0,
                )
            )
    return LatePackagesView(day=promised_day.isoformat(), as_of=iso(now), promised=len(entries), late=late)
