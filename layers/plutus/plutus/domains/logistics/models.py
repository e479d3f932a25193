"""Logistics event payloads: scans, positions, cold-chain breaches and delivery attempts."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, model_validator

from plutus.core.registry import EventModel
from plutus.domains.kit import AwareEventTime, Ident, PlannedTime

# A lane end: an IATA-style hub or region code (part of the lane's state key).
Place = Annotated[str, Field(pattern=r"^[A-Z0-9]{2,8}(-[A-Z0-9]{1,8})?$")]


class PackageScannedV1(EventModel):
    """A barcode scan at a facility. The pickup scan carries the lane and the promised delivery time."""

    event_type = "package_scanned"
    schema_version = "1.0"
    ordering_key = "package_id"
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "package_id": "pkg_KE0048812",
                    "scan_type": "picked_up",
                    "facility_id": "fac_nbo_west",
                    "origin": "NBO",
                    "destination": "MBA",
                    "promised_by": "2026-11-28T17:00:00Z",
                    "occurred_at": "2026-11-26T09:12:00Z",
                }
            ]
        }
    )

    package_id: Ident
    scan_type: Literal["picked_up", "arrived_at_hub", "departed_hub", "out_for_delivery", "delivered"]
    facility_id: Ident
    origin: Place | None = None
    destination: Place | None = None
    promised_by: PlannedTime | None = None
    occurred_at: AwareEventTime

    @model_validator(mode="after")
    def _pickup_names_the_lane_and_promise(self) -> PackageScannedV1:
        if self.scan_type == "picked_up" and None in (self.origin, self.destination, self.promised_by):
            raise ValueError("a picked_up scan needs origin, destination and promised_by")
        return self


class LocationUpdateV1(EventModel):
    """A GPS fix of the vehicle carrying the package."""

    event_type = "location_update"
    schema_version = "1.0"
    ordering_key = "package_id"
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "package_id": "pkg_KE0048812",
                    "vehicle_id": "trk_kbx_221",
                    "lat": -1.5167,
                    "lon": 37.2667,
                    "occurred_at": "2026-11-26T13:40:00Z",
                }
            ]
        }
    )

    package_id: Ident
    vehicle_id: Ident
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    occurred_at: AwareEventTime


class TemperatureBreachV1(EventModel):
    """A cold-chain sensor reports the package outside its allowed range for ``duration_seconds``."""

    event_type = "temperature_breach"
    schema_version = "1.0"
    ordering_key = "package_id"
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "package_id": "pkg_KE0048812",
                    "sensor_id": "tag_7f21",
                    "temperature_c": 11.4,
                    "min_c": 2.0,
                    "max_c": 8.0,
                    "duration_seconds": 1_260,
                    "occurred_at": "2026-11-26T14:05:00Z",
                }
            ]
        }
    )

    package_id: Ident
    sensor_id: Ident
    temperature_c: float = Field(ge=-100, le=100)
    min_c: float = Field(ge=-100, le=100)
    max_c: float = Field(ge=-100, le=100)
    duration_seconds: int = Field(ge=0, le=7 * 86_400)
    occurred_at: AwareEventTime

    @model_validator(mode="after")
    def _outside_its_range(self) -> TemperatureBreachV1:
        if self.min_c >= self.max_c:
            raise ValueError("min_c must be below max_c")
        if self.min_c <= self.temperature_c <= self.max_c:
            raise ValueError("temperature_c is inside [min_c, max_c]: not a breach")
        return self

    @property
    def excursion_c(self) -> float:
        """How far outside the allowed range the reading is."""
        return max(self.min_c - self.temperature_c, self.temperature_c - self.max_c)


class DeliveryAttemptedV1(EventModel):
    """A courier's attempt to hand the package over."""

    event_type = "delivery_attempted"
    schema_version = "1.0"
    ordering_key = "package_id"
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "package_id": "pkg_KE0048812",
                    "attempt_number": 1,
                    "outcome": "failed",
                    "failure_reason": "recipient_absent",
                    "courier_id": "cr_mba_017",
                    "occurred_at": "2026-11-26T11:20:00Z",
                }
            ]
        }
    )

    package_id: Ident
    attempt_number: int = Field(ge=1, le=20)
    outcome: Literal["delivered", "failed"]
    failure_reason: (
        Literal["recipient_absent", "address_not_found", "refused", "access_denied", "damaged"] | None
    ) = None
    courier_id: Ident
    occurred_at: AwareEventTime

    @model_validator(mode="after")
    def _reason_iff_failed(self) -> DeliveryAttemptedV1:
        if (self.outcome == "failed") != (self.failure_reason is not None):
            raise ValueError("failure_reason is required for a failed attempt, and only then")
        return self
