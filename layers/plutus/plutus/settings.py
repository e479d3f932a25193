"""Validated runtime settings, read from the environment (``PLUTUS_*``) once, by :mod:`plutus.bootstrap`.

``Settings`` holds the core's knobs. Each domain pack owns its own settings model (``FintechSettings`` in
``plutus/domains/fintech/settings.py``, environment ``PLUTUS_FINTECH_*``), which handlers and read endpoints
reach, typed, through ``plutus.core.pack_settings.PackSettings`` (``ctx.settings_of(FintechSettings)``).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from plutus.core.env_settings import EnvConfig, EnvSettings, NoDecode
from plutus.core.policy import ProducerPolicy
from plutus.core.providers import WebhookSources


class Settings(EnvSettings):
    """Everything a function needs to know about its environment.

    Table and queue names have no default: a function deployed without them fails at init, loudly,
    instead of on the first request.
    """

    model_config = EnvConfig(env_prefix="PLUTUS_", frozen=True)

    environment: str = "dev"
    events_table: str = Field(min_length=1)
    state_table: str = Field(min_length=1)
    queue_url: str = Field(min_length=1)
    # Where a permanent failure is dead-lettered on its first attempt; unset, SQS's redrive policy does it
    # after MaxReceiveCount receives.
    dead_letter_queue_url: str | None = Field(default=None, min_length=1)
    # Template parameter QueueMode: "fifo" orders each key's events (plutus.core.ordering); "standard" shares
    # the queue fairly between sources.
    queue_mode: Literal["standard", "fifo"] = "standard"

    # Event records' TTL (template parameters EventRetentionDays, FailedRetentionDays): PROCESSED ones after
    # the first, RECEIVED/PROCESSING/FAILED ones after the second, counted from their last write. A key's
    # idempotency record lives on its event's item (plutus.adapters.idempotency_records), so this is also how
    # long a duplicate is answered from the event instead of being accepted again.
    event_retention_days: int = Field(default=30, ge=1, le=3_650)
    failed_retention_days: int = Field(default=90, ge=1, le=3_650)
    # The largest request body (template parameter MaxBodyBytes). API Gateway takes 10 MB, but a Lambda
    # synchronous invocation takes 6 MB (6,291,456 bytes) of event, in which the body is a JSON-escaped string
    # next to the headers: hence at most 6,000,000, and 5 MiB in the template, which leaves a fifth for
    # escaping. Larger payloads: see docs/payload-sizes.md.
    max_body_bytes: int = Field(default=262_144, ge=1_024, le=6_000_000)
    # Large payloads (plutus/core/payloads.py): a queued message (body and attributes) above
    # inline_message_max_bytes carries a pointer to its payload, stored in payload_bucket (template
    # PayloadBucket, InlineMessageMaxBytes). SQS takes 1 MiB per message; 1 KiB of it stays free for the
    # attributes replay and redrive add. Without a bucket every event travels inline, up to SQS's limit.
    payload_bucket: str | None = Field(default=None, min_length=3, max_length=63)
    inline_message_max_bytes: int = Field(default=262_144, ge=1_024, le=1_047_552)
    max_payload_depth: int = Field(default=32, ge=1, le=256)
    # POST /api/v1/ingest/batch: events per request, and the request's size (each event is also held to
    # max_body_bytes once queued). Lambda's synchronous payload limit is 6 MB.
    max_batch_events: int = Field(default=100, ge=1, le=1_000)
    max_batch_body_bytes: int = Field(default=1_048_576, ge=1_024, le=6_000_000)
    max_receive_count: int = Field(default=5, ge=1)
    allow_unregistered_types: bool = False

    # The window of a payload's own times around the receive time (plutus/core/times.py); outside it an event
    # is refused with a 422, never clamped. 7 days back covers a device or a handheld scanner that was offline
    # for a week and matches adtech's attribution window; 5 minutes ahead is clock skew (Kerberos' default
    # tolerance, and the webhook signature's), not a reading from the future.
    # Planned times (a package's promise, a dose's next due time) may lie up to a year ahead.
    event_time_max_past_seconds: int = Field(default=7 * 86_400, ge=60, le=10 * 366 * 86_400)
    event_time_max_future_seconds: int = Field(default=300, ge=0, le=86_400)
    planned_time_max_future_seconds: int = Field(default=366 * 86_400, ge=3_600, le=10 * 366 * 86_400)

    # Producer authentication (template parameter AuthMode; see plutus/ingest/auth.py).
    auth_mode: Literal["NONE", "IAM", "WEBHOOK_SIGNATURE"] = "NONE"
    webhook_secret_store: Literal["SECRETS_MANAGER", "SSM"] = "SECRETS_MANAGER"
    webhook_secret_prefix: str = Field(default="/plutus/webhooks/", pattern=r"^/([A-Za-z0-9_.\-]+/)+$")
    webhook_tolerance_seconds: int = Field(default=300, ge=1, le=3600)
    webhook_secret_max_age_seconds: int = Field(default=300, ge=1, le=3600)
    # Producer authorization (template parameter ProducerPolicy, JSON; see plutus/core/policy.py). None
    # (empty) denies every event in WEBHOOK_SIGNATURE and IAM modes; in NONE mode ingest is open (dev only).
    producer_policy: Annotated[ProducerPolicy | None, NoDecode] = None
    # POST /api/v1/webhooks/{source}: the provider sources it serves and how each signs (template parameter
    # WebhookSources, JSON; see plutus/core/providers.py). Empty: the route serves none (404).
    webhook_sources: Annotated[WebhookSources, NoDecode] = Field(default_factory=dict)

    # Fan-out (template parameters FanOutBus, FanOutIncludePayload; docs/fanout.md): the EventBridge bus
    # (name or ARN) the consumer announces PROCESSED events on; unset, fan-out is off and costs nothing. The
    # payload goes along only when allowed, and never past EventBridge's 256 KB entry limit.
    fanout_bus: str | None = Field(default=None, min_length=1, max_length=1600)
    fanout_include_payload: bool = False

    # Bounded retries: one call's worst case, 3 x (1 s + 2 s) + at most 3 s of throttling backoff = 12 s,
    # fits inside ingest's 15 s, so a dead dependency is answered with a 503 rather than a Lambda timeout
    # (tests/unit/test_retry_budget.py checks this against template.yaml).
    aws_max_attempts: int = Field(default=3, ge=1, le=10)
    aws_connect_timeout: float = Field(default=1.0, gt=0)
    aws_read_timeout: float = Field(default=2.0, gt=0)

    @field_validator("producer_policy", mode="before")
    @classmethod
    def _policy_from_json(cls, value: Any) -> Any:
        if isinstance(value, str):
            return json.loads(value) if value.strip() else None
        return value

    @field_validator("webhook_sources", mode="before")
    @classmethod
    def _sources_from_json(cls, value: Any) -> Any:
        if isinstance(value, str):
            return json.loads(value) if value.strip() else {}
        return value

    @model_validator(mode="after")
    def _queue_mode_matches_the_queue(self) -> Settings:
        # SQS names every FIFO queue *.fifo: a mode that disagrees with the queue would fail on every send.
        if (self.queue_mode == "fifo") != self.queue_url.endswith(".fifo"):
            raise ValueError(f"queue_mode {self.queue_mode} does not match the queue {self.queue_url}")
        return self

    @model_validator(mode="after")
    def _retention_is_consistent(self) -> Settings:
        if self.failed_retention_days < self.event_retention_days:
            raise ValueError("failed_retention_days must not be shorter than event_retention_days")
        return self
