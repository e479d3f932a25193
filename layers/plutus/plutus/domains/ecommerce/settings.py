"""E-commerce pack settings: ``PLUTUS_ECOMMERCE_<NAME>`` environment variables, validated once."""

from __future__ import annotations

from pydantic import Field

from plutus.core.env_settings import EnvConfig, EnvSettings


class EcommerceSettings(EnvSettings):
    """Recommendation, view-history and fraud knobs.

    The caps keep one payment's effects within one transaction: at most 25 funnel counters + the order's
    marker + pairs + view window + 1 <= 99.
    """

    model_config = EnvConfig(env_prefix="PLUTUS_ECOMMERCE_", frozen=True)

    also_bought_top_n: int = Field(default=10, ge=1, le=50)
    view_history: int = Field(default=20, ge=1, le=100)
    also_bought_view_window: int = Field(default=10, ge=1, le=10)
    also_bought_max_pairs: int = Field(default=40, ge=1, le=60)
    credited_pairs_cap: int = Field(default=500, ge=10, le=2_000)
    fraud_checkouts: int = Field(default=3, ge=2, le=50)
    fraud_window_seconds: int = Field(default=600, ge=1)
