"""IoT / fleet read endpoints under /api/v1/iot."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel

from plutus.core.errors import ResourceNotFoundError
from plutus.domains.deps import State
from plutus.domains.iot.handlers import ALERT_PREFIX, ENGINE, FUEL, POSITION, UBI, vehicle_pk
from plutus.domains.kit import PATH_ID, as_float, as_int, plain

api = APIRouter(prefix="/api/v1/iot", tags=["iot"])

VehicleId = Annotated[str, Path(pattern=PATH_ID)]


class Position(BaseModel):
    """The last known fix and the distance travelled so far."""

    latitude: float
    longitude: float
    at: str
    speed_kph: float | None
    distance_km: float
    fixes: int
    glitches: int


class Engine(BaseModel):
    """The rolling temperature window's summary."""

    last_c: float
    last_at: str
    mean_c: float
    slope_c_per_min: float
    readings: int
    overheating: bool
    rising: bool


class Fuel(BaseModel):
    """The latest fuel level."""

    level_pct: float
    at: str
    low: bool


class Insurance(BaseModel):
    """Usage-based insurance inputs and the score (0-100, higher is safer)."""

    score: float
    band: str
    km: float
    night_km: float
    speeding_km: float
    harsh_brakes: int
    harsh_accels: int


class VehicleView(BaseModel):
    """Everything known about one vehicle."""

    vehicle_id: str
    position: Position | None
    engine: Engine | None
    fuel: Fuel | None
    insurance: Insurance | None


class Alert(BaseModel):
    """A maintenance or fuel alert."""

    kind: str
    vehicle_id: str
    at: str
    details: dict[str, Any]


def _position(item: dict[str, Any]) -> Position:
    speed = item.get("speed_kph")
    return Position(
        latitude=as_float(item["lat"]),
        longitude=as_float(item["lon"]),
        at=item["at"],
        speed_kph=None if speed is None else as_float(speed),
        distance_km=as_float(item.get("distance_km")),
        fixes=as_int(item.get("fixes")),
        glitches=as_int(item.get("glitches")),
    )


def _engine(item: dict[str, Any]) -> Engine:
    return Engine(
        last_c=as_float(item["last_c"]),
        last_at=item["last_at"],
        mean_c=as_float(item["mean_c"]),
        slope_c_per_min=as_float(item["slope_c_per_min"]),
        readings=len(item.get("window", [])),
        overheating=bool(item.get("overheating")),
        rising=bool(item.get("rising")),
    )


def _insurance(item: dict[str, Any]) -> Insurance:
    return Insurance(
        score=as_float(item["score"]),
        band=item["band"],
        km=as_float(item.get("km")),
        night_km=as_float(item.get("night_km")),
        speeding_km=as_float(item.get("speeding_km")),
        harsh_brakes=as_int(item.get("harsh_brakes")),
        harsh_accels=as_int(item.get("harsh_accels")),
    )


@api.get("/vehicles/{vehicle_id}", response_model=VehicleView, responses={404: {"description": "Unknown"}})
def get_vehicle(vehicle_id: VehicleId, state: State) -> VehicleView:
    """Last position and distance, engine temperature trend, fuel, and the insurance score."""
    pk = vehicle_pk(vehicle_id)
    # Four point reads: a query of the partition would page through its (unbounded) alerts first.
    items = {sk: item for sk in (POSITION, ENGINE, FUEL, UBI) if (item := state.get(pk, sk)) is not None}
    if not items:
        raise ResourceNotFoundError("no state for this vehicle")
    fuel = items.get(FUEL)
    return VehicleView(
        vehicle_id=vehicle_id,
        position=_position(items[POSITION]) if POSITION in items else None,
        engine=_engine(items[ENGINE]) if ENGINE in items else None,
        fuel=Fuel(level_pct=as_float(fuel["level_pct"]), at=fuel["at"], low=bool(fuel["low"]))
        if fuel
        else None,
        insurance=_insurance(items[UBI]) if UBI in items else None,
    )


@api.get("/vehicles/{vehicle_id}/alerts", response_model=list[Alert])
def get_alerts(
    vehicle_id: VehicleId, state: State, limit: Annotated[int, Query(ge=1, le=100)] = 20
) -> list[dict[str, Any]]:
    """Maintenance and fuel alerts, newest first (empty when none)."""
    return plain(state.query(vehicle_pk(vehicle_id), ALERT_PREFIX, limit=limit, newest_first=True))  # type: ignore[no-any-return]
