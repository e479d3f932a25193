"""Validated runtime settings, read from the environment (``PLUTUS_*``) once, by :mod:`plutus.bootstrap`.

``Settings`` holds the core's knobs. Each domain pack owns its own settings model (``FintechSettings`` in
``plutus/domains/fintech/settings.py``, environment ``PLUTUS_FINTECH_*``), which handlers and read endpoints
reach, typed, through ``plutus.core.pack_settings.PackSettings`` (``ctx.settings_of(FintechSettings)``).
"""

from __future__ import annotations

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
