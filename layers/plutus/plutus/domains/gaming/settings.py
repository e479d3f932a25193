"""Gaming pack settings: ``PLUTUS_GAMING_<NAME>`` environment variables, validated once."""

from __future__ import annotations

from pydantic import Field

from plutus.core.env_settings import EnvConfig, EnvSettings


class GamingSettings(EnvSettings):
    """Leaderboards, anti-cheat and the social feed.

    A match's effects: marker, profile, score, top-N, two histogram buckets, two flags and at most
    ``feed_fanout_cap`` feed entries: <= 99.
    """

    model_config = EnvConfig(env_prefix="PLUTUS_GAMING_", frozen=True)

    leaderboard_size: int = Field(default=100, ge=1, le=500)
    rank_bucket_width: int = Field(default=100, ge=1)
    rank_buckets: int = Field(default=1_000, ge=2, le=1_000)
    max_score_per_second: float = Field(default=50.0, gt=0)
    max_win_streak: int = Field(default=20, ge=2)
    withhold_flagged_scores: bool = True
    feed_fanout_cap: int = Field(default=50, ge=1, le=90)
    feed_ttl_seconds: int = Field(default=7 * 86_400, ge=3_600)
    feed_share_purchases: bool = True
