"""Builders of what tests send: the ingest envelope, a batch of them, a queued event, an SQS Lambda event.

Each builder fills in everything a test does not care about, so a test names only what is special about
its event: ``an_event("k-1", "page_view", {...}, source="storefront")``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from plutus.consumer.processor import REPLAY_ATTRIBUTE
from plutus_dev.emulator.poller import to_record

SOURCE = "payment_service"
PAYLOAD: Mapping[str, Any] = {"amount": 100, "currency": "KES"}
RECEIVED_AT = "2026-01-01T00:00:00.000000Z"
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:plutus-EventsQueue"


def an_event(
    key: str | None = "evt_1",
    event_type: str | None = None,
    payload: Mapping[str, Any] | None = None,
    *,
    source: str = SOURCE,
    schema_version: str = "1.0",
) -> dict[str, Any]:
    """An ingest envelope as a producer POSTs it.

    ``key=None`` leaves the idempotency key out (for the ``Idempotency-Key`` header or a 422), and
    ``event_type=None`` leaves the type out (the default handler's receipt).
    """
    event: dict[str, Any] = {"source": source, "schema_version": schema_version}
    if key is not None:
        event["idempotency_key"] = key
    if event_type is not None:
        event["event_type"] = event_type
    event["payload"] = dict(PAYLOAD if payload is None else payload)
    return event


def encoded(body: Mapping[str, Any]) -> bytes:
    """A body as the bytes on the wire (what a webhook signature covers)."""
    return json.dumps(body).encode()


def a_batch(events: Iterable[Any]) -> dict[str, Any]:
    """The body of ``POST /api/v1/ingest/batch``."""
    return {"events": list(events)}


def a_queued_event(
    event_id: str,
    event_type: str | None = None,
    payload: Mapping[str, Any] | None = None,
    *,
    source: str = SOURCE,
    schema_version: str = "1.0",
    received_at: str = RECEIVED_AT,
) -> dict[str, Any]:
    """The SQS message body ingest enqueues (``QueuedEvent``), for sending straight to the queue."""
    return {
        "event_id": event_id,
        "source": source,
        "event_type": event_type,
        "schema_version": schema_version,
        "received_at": received_at,
        "payload": dict(payload or {}),
    }


def an_sqs_record(
    body: str | Mapping[str, Any],
    *,
    receive_count: int = 1,
    message_id: str = "m-1",
    replay: bool = False,
) -> dict[str, Any]:
    """One record of the consumer's Lambda event, without a queue: ``body`` is a queued event (sent with its
    ``event_id`` attribute, as ingest sends it) or raw text; ``replay`` marks an operator's replay."""
    text = body if isinstance(body, str) else json.dumps(body)
    attributes: dict[str, Any] = {}
    if not isinstance(body, str):
        attributes["event_id"] = {"stringValue": body["event_id"], "dataType": "String"}
    if replay:
        attributes[REPLAY_ATTRIBUTE] = {"stringValue": "true", "dataType": "String"}
    return {
        "messageId": message_id,
        "receiptHandle": f"rh-{message_id}",
        "body": text,
        "attributes": {"ApproximateReceiveCount": str(receive_count)},
        "messageAttributes": attributes,
        "md5OfBody": hashlib.md5(text.encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": QUEUE_ARN,
        "awsRegion": "us-east-1",
    }


def an_sqs_event(messages: Iterable[Mapping[str, Any]], queue_arn: str) -> dict[str, Any]:
    """The Lambda event the event source mapping makes of received SQS ``messages``."""
    return {"Records": [to_record(dict(m), queue_arn, "us-east-1") for m in messages]}
