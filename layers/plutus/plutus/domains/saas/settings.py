"""SaaS pack settings: ``PLUTUS_SAAS_<NAME>`` environment variables, validated once."""

from __future__ import annotations

from pydantic import Field, model_validator

from plutus.core.env_settings import EnvConfig, EnvSettings


class SaasSettings(EnvSettings):
    """The feature catalogue, metered features, billing close, health-score windows, weights and bands."""

    model_config = EnvConfig(env_prefix="PLUTUS_SAAS_", frozen=True)

    feature_catalogue: tuple[str, ...] = (
        "dashboards",
        "exports",
        "team_invites",
        "report_builder",
        "alerts",
        "api_access",
        "ai_summary",
        "sso",
    )
    metered_features: tuple[str, ...] = ("api_access", "ai_summary")
    billing_grace_days: int = Field(default=3, ge=0, le=31)
    recency_horizon_days: int = Field(default=30, ge=1, le=365)
    breadth_window_days: int = Field(default=30, ge=1, le=90)
    trend_window_days: int = Field(default=14, ge=1, le=45)
    weight_recency: float = Field(default=0.4, ge=0)
    weight_breadth: float = Field(default=0.3, ge=0)
    weight_trend: float = Field(default=0.3, ge=0)
    healthy_min_score: int = Field(default=70, ge=0, le=100)
    at_risk_min_score: int = Field(default=40, ge=0, le=100)

    @model_validator(mode="after")
    def _health_is_consistent(self) -> SaasSettings:
        if self.at_risk_min_score > self.healthy_min_score:
            raise ValueError("at_risk_min_score must not exceed healthy_min_score")
        if self.weight_recency + self.weight_breadth + self.weight_trend <= 0:
            raise ValueError("at least one health weight must be positive")
        return self
