"""Adtech pack settings: ``PLUTUS_ADTECH_<NAME>`` environment variables, validated once."""

from __future__ import annotations

from pydantic import Field

from plutus.core.env_settings import EnvConfig, EnvSettings


class AdtechSettings(EnvSettings):
    """Attribution window, budget pacing, CTR/viewability priors for the bid factor, dedup lifetime."""

    model_config = EnvConfig(env_prefix="PLUTUS_ADTECH_", frozen=True)

    attribution_window_seconds: int = Field(default=7 * 86_400, ge=60)
    clicks_remembered: int = Field(default=5, ge=1, le=50)
    default_daily_budget_micros: int = Field(default=100_000_000, gt=0)
    spend_shards: int = Field(default=4, ge=1, le=32)
    pacing_min_multiplier: float = Field(default=0.25, ge=0, le=1)
    pacing_max_multiplier: float = Field(default=2.0, ge=1)
    stats_lookback_days: int = Field(default=7, ge=1, le=31)
    target_ctr: float = Field(default=0.002, gt=0, lt=1)
    target_viewability: float = Field(default=0.7, gt=0, le=1)
    prior_impressions: int = Field(default=1_000, ge=0)
    dedup_ttl_seconds: int = Field(default=3 * 86_400, ge=3_600)
