"""Healthcare pack settings: ``PLUTUS_HEALTHCARE_<NAME>`` environment variables, validated once."""

from __future__ import annotations

from pydantic import Field, model_validator

from plutus.core.env_settings import EnvConfig, EnvSettings


class HealthcareSettings(EnvSettings):
    """Heart-rate ranges (bpm), sustained-abnormal readings before a warning, dose windows."""

    model_config = EnvConfig(env_prefix="PLUTUS_HEALTHCARE_", frozen=True)

    hr_low_bpm: int = Field(default=50, ge=1)
    hr_high_bpm: int = Field(default=120, ge=1)
    hr_critical_low_bpm: int = Field(default=40, ge=1)
    hr_critical_high_bpm: int = Field(default=150, ge=1)
    hr_sustained_readings: int = Field(default=3, ge=1)
    dose_window_minutes: int = Field(default=60, ge=0, le=1_440)
    max_orders_per_patient: int = Field(default=200, ge=1, le=1_000)

    @model_validator(mode="after")
    def _ranges_nest(self) -> HealthcareSettings:
        if not (self.hr_critical_low_bpm <= self.hr_low_bpm < self.hr_high_bpm <= self.hr_critical_high_bpm):
            raise ValueError("heart-rate ranges must nest: critical_low <= low < high <= critical_high")
        return self
