"""A dev-only event type that fails on purpose, registered only in the embedded stack's functions.

``make dev`` calls :func:`install` in its ingest and consumer environments (``lambda_runtime`` setup), so
a newcomer can walk failure -> FAILED -> dead-letter queue -> replay without editing code. It lives in
devtools: nothing deployed registers it, and a deployed stack answers 422 (unknown event_type) to it.

``{"event_type": "dev_failure_requested", "payload": {"fail_for_seconds": 20}}`` fails every attempt made
within 20 s of the event's receipt and succeeds afterwards (so a replay after that succeeds); without
``fail_for_seconds`` it fails on every attempt.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import ConfigDict, Field

from plutus.core.effects import Effect
from plutus.core.envelope import parse_timestamp, utc_now
from plutus.core.registry import EventContext, EventModel, Router
from plutus.domains.default import handle_record_receipt

EVENT_TYPE = "dev_failure_requested"

router = Router("dev")


class DevFailureError(Exception):
    """Raised by the dev-only failing event type: the failure asked for."""


class DevFailureRequestedV1(EventModel):
    """Asks the consumer to fail this event, for ``fail_for_seconds`` after its receipt or for ever."""

    event_type = EVENT_TYPE
    schema_version = "1.0"
    model_config = ConfigDict(json_schema_extra={"examples": [{"fail_for_seconds": 20}]})

    fail_for_seconds: float | None = Field(default=None, ge=0, le=86_400)


@router.on(DevFailureRequestedV1)
def handle_dev_failure(payload: DevFailureRequestedV1, ctx: EventContext) -> Iterable[Effect]:
    """Fail while the event is younger than ``fail_for_seconds`` (always, without it); else a receipt."""
    age = (parse_timestamp(utc_now()) - parse_timestamp(ctx.received_at)).total_seconds()
    if payload.fail_for_seconds is None or age < payload.fail_for_seconds:
        raise DevFailureError(f"{EVENT_TYPE}: failing on purpose (age {age:.0f}s)")
    return handle_record_receipt(payload, ctx)


def install() -> None:
    """Give this execution environment a root whose registry has every pack plus the dev router."""
    from plutus import bootstrap
    from plutus.domains import build_registry

    registry = build_registry()
    registry.include_router(router)
    bootstrap.reset(bootstrap.Root(registry=registry))
