"""IoT / fleet pack settings: ``PLUTUS_IOT_<NAME>`` environment variables, validated once."""

from __future__ import annotations

from pydantic import Field

from plutus.core.env_settings import EnvConfig, EnvSettings


class IotSettings(EnvSettings):
    """Maintenance, fuel, driving and insurance-score knobs.

    Temperatures in degrees Celsius, fuel in percent of the tank.
    """

    model_config = EnvConfig(env_prefix="PLUTUS_IOT_", frozen=True)

    temperature_window: int = Field(default=12, ge=2, le=200)
    trend_min_readings: int = Field(default=5, ge=2)
    engine_overheat_c: float = 110.0
    engine_hysteresis_c: float = Field(default=5.0, ge=0)
    engine_trend_c_per_min: float = Field(default=1.0, gt=0)
    engine_operating_c: float = 85.0
    fuel_low_pct: float = Field(default=15.0, ge=0, le=100)
    fuel_drop_pct: float = Field(default=20.0, gt=0, le=100)
    fuel_drop_window_seconds: int = Field(default=900, ge=1)
    max_plausible_kph: float = Field(default=300.0, gt=0)
    speeding_kph: float = Field(default=120.0, gt=0)
    harsh_brake_mps2: float = Field(default=3.0, gt=0)
    harsh_accel_mps2: float = Field(default=3.0, gt=0)
    harsh_max_gap_seconds: float = Field(default=10.0, gt=0)
    night_start_hour: int = Field(default=22, ge=0, le=23)
    night_end_hour: int = Field(default=5, ge=0, le=23)
    ubi_min_km: float = Field(default=10.0, gt=0)
    ubi_harsh_penalty_per_100km: float = Field(default=5.0, ge=0)
    ubi_night_weight: float = Field(default=20.0, ge=0)
    ubi_speeding_weight: float = Field(default=30.0, ge=0)
