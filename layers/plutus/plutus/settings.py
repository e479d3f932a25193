"""Validated runtime settings, read from the environment (``PLUTUS_*``) once, by :mod:`plutus.bootstrap`."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything a function needs to know about its environment.

    Table and queue names have no default: a function deployed without them fails at init, loudly,
    instead of on the first request.
    """

    model_config = SettingsConfigDict(env_prefix="PLUTUS_", frozen=True)

    environment: str = "dev"
    events_table: str = Field(min_length=1)
    state_table: str = Field(min_length=1)
    idempotency_table: str = Field(min_length=1)
    queue_url: str = Field(min_length=1)
    # Where a permanent failure is dead-lettered on its first attempt; unset, SQS's redrive policy does it
    # after MaxReceiveCount receives.
    dead_letter_queue_url: str | None = Field(default=None, min_length=1)

    idempotency_key_prefix: str = "plutus.ingest"
    idempotency_expiry_seconds: int = Field(default=86_400, ge=60)
    max_body_bytes: int = Field(default=262_144, ge=1_024, le=1_000_000)
    max_payload_depth: int = Field(default=32, ge=1, le=256)
    # POST /api/v1/ingest/batch: events per request, and the request's size (each event is also held to
    # max_body_bytes once queued). Lambda's synchronous payload limit is 6 MB.
    max_batch_events: int = Field(default=100, ge=1, le=1_000)
    max_batch_body_bytes: int = Field(default=1_048_576, ge=1_024, le=6_000_000)
    max_receive_count: int = Field(default=5, ge=1)
    allow_unregistered_types: bool = False
    receipt_ttl_seconds: int = Field(default=7 * 86_400, ge=60)

    # Producer authentication (template parameter AuthMode; see plutus/ingest/auth.py).
    auth_mode: Literal["NONE", "IAM", "WEBHOOK_SIGNATURE"] = "NONE"
    webhook_secret_store: Literal["SECRETS_MANAGER", "SSM"] = "SECRETS_MANAGER"
    webhook_secret_prefix: str = Field(default="/plutus/webhooks/", pattern=r"^/([A-Za-z0-9_.\-]+/)+$")
    webhook_tolerance_seconds: int = Field(default=300, ge=1, le=3600)
    webhook_secret_max_age_seconds: int = Field(default=300, ge=1, le=3600)

    # Bounded retries: one call's worst case, 3 x (1 s + 2 s) + at most 3 s of throttling backoff = 12 s,
    # fits inside ingest's 15 s, so a dead dependency is answered with a 503 rather than a Lambda timeout
    # (tests/unit/test_retry_budget.py checks this against template.yaml).
    aws_max_attempts: int = Field(default=3, ge=1, le=10)
    aws_connect_timeout: float = Field(default=1.0, gt=0)
    aws_read_timeout: float = Field(default=2.0, gt=0)

    # E-commerce pack (domains/ecommerce). The caps keep one payment's effects within one transaction:
    # at most 25 funnel counters + pairs + view window + 1 <= 99.
    ecommerce_also_bought_top_n: int = Field(default=10, ge=1, le=50)
    ecommerce_view_history: int = Field(default=20, ge=1, le=100)
    ecommerce_also_bought_view_window: int = Field(default=10, ge=1, le=10)
    ecommerce_also_bought_max_pairs: int = Field(default=40, ge=1, le=60)
    ecommerce_credited_pairs_cap: int = Field(default=500, ge=10, le=2_000)
    ecommerce_fraud_checkouts: int = Field(default=3, ge=2, le=50)
    ecommerce_fraud_window_seconds: int = Field(default=600, ge=1)

    # Fintech pack (domains/fintech). Amounts are in each transaction's own currency (no FX).
    fintech_overdraft_limit: Decimal = Field(default=Decimal(0), ge=0)
    fintech_unverified_debit_limit: Decimal = Field(default=Decimal(1000), ge=0)
    fintech_kyc_required: tuple[Literal["identity", "address", "liveness"], ...] = ("identity", "address")
    fintech_anomaly_min_history: int = Field(default=5, ge=2)
    fintech_anomaly_z_threshold: float = Field(default=3.0, gt=0)
    fintech_anomaly_min_std_ratio: float = Field(default=0.1, ge=0)
    fintech_velocity_window_seconds: int = Field(default=600, ge=1)
    fintech_velocity_limit: int = Field(default=6, ge=2, le=100)
    fintech_aml_reporting_threshold: Decimal = Field(default=Decimal(10_000), gt=0)
    fintech_aml_structuring_ratio: Decimal = Field(default=Decimal("0.9"), gt=0, lt=1)
    fintech_aml_structuring_count: int = Field(default=3, ge=2)

    # IoT / fleet pack (domains/iot). Temperatures in degrees Celsius, fuel in percent of the tank.
    iot_temperature_window: int = Field(default=12, ge=2, le=200)
    iot_trend_min_readings: int = Field(default=5, ge=2)
    iot_engine_overheat_c: float = 110.0
    iot_engine_hysteresis_c: float = Field(default=5.0, ge=0)
    iot_engine_trend_c_per_min: float = Field(default=1.0, gt=0)
    iot_engine_operating_c: float = 85.0
    iot_fuel_low_pct: float = Field(default=15.0, ge=0, le=100)
    iot_fuel_drop_pct: float = Field(default=20.0, gt=0, le=100)
    iot_fuel_drop_window_seconds: int = Field(default=900, ge=1)
    iot_max_plausible_kph: float = Field(default=300.0, gt=0)
    iot_speeding_kph: float = Field(default=120.0, gt=0)
    iot_harsh_brake_mps2: float = Field(default=3.0, gt=0)
    iot_harsh_accel_mps2: float = Field(default=3.0, gt=0)
    iot_harsh_max_gap_seconds: float = Field(default=10.0, gt=0)
    iot_night_start_hour: int = Field(default=22, ge=0, le=23)
    iot_night_end_hour: int = Field(default=5, ge=0, le=23)
    iot_ubi_min_km: float = Field(default=10.0, gt=0)
    iot_ubi_harsh_penalty_per_100km: float = Field(default=5.0, ge=0)
    iot_ubi_night_weight: float = Field(default=20.0, ge=0)
    iot_ubi_speeding_weight: float = Field(default=30.0, ge=0)

    # Gaming pack (domains/gaming). A match's effects: marker, profile, score, top-N, two histogram buckets,
    # two flags and at most gaming_feed_fanout_cap feed entries: <= 99.
    gaming_leaderboard_size: int = Field(default=100, ge=1, le=500)
    gaming_rank_bucket_width: int = Field(default=100, ge=1)
    gaming_rank_buckets: int = Field(default=1_000, ge=2, le=1_000)
    gaming_max_score_per_second: float = Field(default=50.0, gt=0)
    gaming_max_win_streak: int = Field(default=20, ge=2)
    gaming_withhold_flagged_scores: bool = True
    gaming_feed_fanout_cap: int = Field(default=50, ge=1, le=90)
    gaming_feed_ttl_seconds: int = Field(default=7 * 86_400, ge=3_600)
    gaming_feed_share_purchases: bool = True

    # Healthcare pack: heart-rate ranges (bpm), sustained-abnormal readings before a warning, dose windows.
    healthcare_hr_low_bpm: int = Field(default=50, ge=1)
    healthcare_hr_high_bpm: int = Field(default=120, ge=1)
    healthcare_hr_critical_low_bpm: int = Field(default=40, ge=1)
    healthcare_hr_critical_high_bpm: int = Field(default=150, ge=1)
    healthcare_hr_sustained_readings: int = Field(default=3, ge=1)
    healthcare_dose_window_minutes: int = Field(default=60, ge=0, le=1_440)
    healthcare_max_orders_per_patient: int = Field(default=200, ge=1, le=1_000)

    # Adtech pack: attribution window, budget pacing, CTR/viewability priors for the bid factor.
    adtech_attribution_window_seconds: int = Field(default=7 * 86_400, ge=60)
    adtech_clicks_remembered: int = Field(default=5, ge=1, le=50)
    adtech_default_daily_budget_micros: int = Field(default=100_000_000, gt=0)
    adtech_spend_shards: int = Field(default=4, ge=1, le=32)
    adtech_pacing_min_multiplier: float = Field(default=0.25, ge=0, le=1)
    adtech_pacing_max_multiplier: float = Field(default=2.0, ge=1)
    adtech_stats_lookback_days: int = Field(default=7, ge=1, le=31)
    adtech_target_ctr: float = Field(default=0.002, gt=0, lt=1)
    adtech_target_viewability: float = Field(default=0.7, gt=0, le=1)
    adtech_prior_impressions: int = Field(default=1_000, ge=0)
    adtech_dedup_ttl_seconds: int = Field(default=3 * 86_400, ge=3_600)

    # Logistics pack: lane ETA histogram and percentile, reroute triggers, SLA index shards.
    logistics_eta_percentile: float = Field(default=0.8, ge=0.5, le=0.99)
    logistics_eta_min_samples: int = Field(default=5, ge=1)
    logistics_eta_bucket_minutes: int = Field(default=60, ge=5, le=1_440)
    logistics_eta_max_buckets: int = Field(default=336, ge=10, le=2_000)
    logistics_breach_reroute_seconds: int = Field(default=900, ge=0)
    logistics_breach_reroute_excursion_c: float = Field(default=2.0, ge=0)
    logistics_reroute_after_failed_attempts: int = Field(default=1, ge=1, le=10)
    logistics_sla_index_shards: int = Field(default=4, ge=1, le=32)

    # SaaS pack: the feature catalogue, metered features, billing close, health-score windows/weights/bands.
    saas_feature_catalogue: tuple[str, ...] = (
        "dashboards",
        "exports",
        "team_invites",
        "report_builder",
        "alerts",
        "api_access",
        "ai_summary",
        "sso",
    )
    saas_metered_features: tuple[str, ...] = ("api_access", "ai_summary")
    saas_billing_grace_days: int = Field(default=3, ge=0, le=31)
    saas_recency_horizon_days: int = Field(default=30, ge=1, le=365)
    saas_breadth_window_days: int = Field(default=30, ge=1, le=90)
    saas_trend_window_days: int = Field(default=14, ge=1, le=45)
    saas_weight_recency: float = Field(default=0.4, ge=0)
    saas_weight_breadth: float = Field(default=0.3, ge=0)
    saas_weight_trend: float = Field(default=0.3, ge=0)
    saas_healthy_min_score: int = Field(default=70, ge=0, le=100)
    saas_at_risk_min_score: int = Field(default=40, ge=0, le=100)

    @model_validator(mode="after")
    def _pack_settings_are_consistent(self) -> Settings:
        if not (
            self.healthcare_hr_critical_low_bpm
            <= self.healthcare_hr_low_bpm
            < self.healthcare_hr_high_bpm
            <= self.healthcare_hr_critical_high_bpm
        ):
            raise ValueError("heart-rate ranges must nest: critical_low <= low < high <= critical_high")
        if self.saas_at_risk_min_score > self.saas_healthy_min_score:
            raise ValueError("saas_at_risk_min_score must not exceed saas_healthy_min_score")
        if self.saas_weight_recency + self.saas_weight_breadth + self.saas_weight_trend <= 0:
            raise ValueError("at least one saas health weight must be positive")
        return self
