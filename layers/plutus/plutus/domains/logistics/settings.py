"""Logistics pack settings: ``PLUTUS_LOGISTICS_<NAME>`` environment variables, validated once."""

from __future__ import annotations

from pydantic import Field

from plutus.core.env_settings import EnvConfig, EnvSettings


class LogisticsSettings(EnvSettings):
    """Lane ETA histogram and percentile, reroute triggers, SLA index shards."""

    model_config = EnvConfig(env_prefix="PLUTUS_LOGISTICS_", frozen=True)

    eta_percentile: float = Field(default=0.8, ge=0.5, le=0.99)
    eta_min_samples: int = Field(default=5, ge=1)
    eta_bucket_minutes: int = Field(default=60, ge=5, le=1_440)
    eta_max_buckets: int = Field(default=336, ge=10, le=2_000)
    breach_reroute_seconds: int = Field(default=900, ge=0)
    breach_reroute_excursion_c: float = Field(default=2.0, ge=0)
    reroute_after_failed_attempts: int = Field(default=1, ge=1, le=10)
    sla_index_shards: int = Field(default=4, ge=1, le=32)
