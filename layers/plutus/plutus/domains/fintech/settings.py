"""Fintech pack settings: ``PLUTUS_FINTECH_<NAME>`` environment variables, validated once."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field

from plutus.core.env_settings import EnvConfig, EnvSettings


class FintechSettings(EnvSettings):
    """Limits, anomaly scoring and AML thresholds. Amounts are in each transaction's own currency (no FX)."""

    model_config = EnvConfig(env_prefix="PLUTUS_FINTECH_", frozen=True)

    overdraft_limit: Decimal = Field(default=Decimal(0), ge=0)
    unverified_debit_limit: Decimal = Field(default=Decimal(1000), ge=0)
    kyc_required: tuple[Literal["identity", "address", "liveness"], ...] = ("identity", "address")
    anomaly_min_history: int = Field(default=5, ge=2)
    anomaly_z_threshold: float = Field(default=3.0, gt=0)
    anomaly_min_std_ratio: float = Field(default=0.1, ge=0)
    velocity_window_seconds: int = Field(default=600, ge=1)
    velocity_limit: int = Field(default=6, ge=2, le=100)
    aml_reporting_threshold: Decimal = Field(default=Decimal(10_000), gt=0)
    aml_structuring_ratio: Decimal = Field(default=Decimal("0.9"), gt=0, lt=1)
    aml_structuring_count: int = Field(default=3, ge=2)
