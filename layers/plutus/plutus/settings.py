"""Validated runtime settings, read lazily from the environment (``PLUTUS_*``)."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field
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

    idempotency_key_prefix: str = "plutus.ingest"
    idempotency_expiry_seconds: int = Field(default=86_400, ge=60)
    max_body_bytes: int = Field(default=262_144, ge=1_024, le=1_000_000)
    max_payload_depth: int = Field(default=32, ge=1, le=256)
    max_receive_count: int = Field(default=5, ge=1)
    allow_unregistered_types: bool = False
    receipt_ttl_seconds: int = Field(default=7 * 86_400, ge=60)

    # Producer authentication (template parameter AuthMode; see plutus/ingest/auth.py).
    auth_mode: Literal["NONE", "IAM", "WEBHOOK_SIGNATURE"] = "NONE"
    webhook_secret_store: Literal["SECRETS_MANAGER", "SSM"] = "SECRETS_MANAGER"
    webhook_secret_prefix: str = Field(default="/plutus/webhooks/", pattern=r"^/([A-Za-z0-9_.\-]+/)+$")
    webhook_tolerance_seconds: int = Field(default=300, ge=1, le=3600)
    webhook_secret_max_age_seconds: int = Field(default=300, ge=1, le=3600)

    # Bounded retries that fit inside the functions' timeouts (ingest 15 s, consumer 30 s).
    aws_max_attempts: int = Field(default=3, ge=1, le=10)
    aws_connect_timeout: float = Field(default=2.0, gt=0)
    aws_read_timeout: float = Field(default=3.0, gt=0)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this execution environment, validated once."""
    return Settings()  # fields come from the environment
