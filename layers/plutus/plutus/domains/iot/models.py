"""IoT / fleet event payloads (schema 1.0).

Devices send readings either as numbers or as strings carrying their unit (the seed's
``engine_temperature:215°F`` and ``fuel_level:42%``). The models accept both and normalise the units:
temperatures become degrees Celsius (``temperature_c``), fuel becomes percent of the tank (``level_pct``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AliasChoices, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from plutus.core.registry import EventModel
from plutus.domains.iot.units import parse_fuel_level, parse_temperature, split_reading
from plutus.domains.kit import EventTime, Ident


def _value_from_reading(data: Any, name: str, target: str, aliases: tuple[str, ...]) -> Any:
    # "name:value" fills the canonical field unless one of its spellings was given; a malformed reading is
    # left alone so the reading field's own pattern reports it by name.
    if not isinstance(data, dict) or not isinstance(data.get("reading"), str):
        return data
    if any(key in data for key in aliases):
        return data
    try:
        return {**data, target: split_reading(data["reading"], name)}
    except ValueError:
        return data


class EngineTemperatureV1(EventModel):
    """An engine coolant temperature reading."""

    event_type = "engine_temperature"
    schema_version = "1.0"
    ordering_key = "vehicle_id"
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "vehicle_id": "truck-017",
                    "reading": "engine_temperature:215°F",
                    "engine_rpm": 2100,
                    "occurred_at": "2026-11-26T14:05:00Z",
                }
            ]
        }
    )

    vehicle_id: Ident
    reading: str | None = Field(default=None, max_length=64, pattern=r"^engine_temperature:.+$")
    unit: Literal["C", "F", "K"] = Field(default="C", description="Unit of a bare number.")
    temperature_c: float = Field(
        validation_alias=AliasChoices("temperature_c", "temperature"), ge=-60, le=250
    )
    engine_rpm: int | None = Field(default=None, ge=0, le=20_000)
    occurred_at: EventTime | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_reading(cls, data: Any) -> Any:
        return _value_from_reading(
            data, "engine_temperature", "temperature_c", ("temperature_c", "temperature")
        )

    @field_validator("temperature_c", mode="before")
    @classmethod
    def _to_celsius(cls, value: Any, info: ValidationInfo) -> float:
        return parse_temperature(value, info.data.get("unit", "C"))


class FuelLevelV1(EventModel):
    """A fuel gauge reading."""

    event_type = "fuel_level"
    schema_version = "1.0"
    ordering_key = "vehicle_id"
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "vehicle_id": "truck-017",
                    "reading": "fuel_level:42%",
                    "odometer_km": 184220.4,
                    "occurred_at": "2026-11-26T14:05:30Z",
                }
            ]
        }
    )

    vehicle_id: Ident
    reading: str | None = Field(default=None, max_length=64, pattern=r"^fuel_level:.+$")
    unit: Literal["percent", "fraction", "litres", "gallons"] = Field(
        default="percent", description="Unit of a bare number."
    )
    tank_capacity_l: float | None = Field(default=None, gt=0, le=5_000)
    level_pct: float = Field(validation_alias=AliasChoices("level_pct", "level", "fuel_level"), ge=0, le=100)
    odometer_km: float | None = Field(default=None, ge=0, le=10_000_000)
    occurred_at: EventTime | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_reading(cls, data: Any) -> Any:
        return _value_from_reading(data, "fuel_level", "level_pct", ("level_pct", "level", "fuel_level"))

    @field_validator("level_pct", mode="before")
    @classmethod
    def _to_percent(cls, value: Any, info: ValidationInfo) -> float:
        return parse_fuel_level(value, info.data.get("unit", "percent"), info.data.get("tank_capacity_l"))


class GpsLocationUpdateV1(EventModel):
    """A position fix. ``occurred_at`` keeps the device's UTC offset: night is judged in local time."""

    event_type = "gps_location_update"
    schema_version = "1.0"
    ordering_key = "vehicle_id"
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "vehicle_id": "truck-017",
                    "latitude": -1.292066,
                    "longitude": 36.821946,
                    "speed_kph": 62.5,
                    "heading_deg": 87.0,
                    "accuracy_m": 4.8,
                    "occurred_at": "2026-11-26T17:05:10+03:00",
                }
            ]
        }
    )

    vehicle_id: Ident
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    speed_kph: float | None = Field(default=None, ge=0, le=400)
    heading_deg: float | None = Field(default=None, ge=0, lt=360)
    accuracy_m: float | None = Field(default=None, ge=0, le=100_000)
    occurred_at: EventTime | None = None
