"""The idempotent ingest use case (Powertools' idempotency protocol on DynamoDB, then SQS)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict

from plutus.adapters import events_store
from plutus.adapters.idempotency_store import IdempotencyStore
from plutus.core.envelope import (
    IngestRequest,
    IngestResult,
    QueuedEvent,
    content_digest,
    derive_event_id,
    utc_now,
)
from plutus.core.errors import InvalidEventError
from plutus.ingest.idempotent import Invocation, idempotent
from plutus.observability.tracing import SQS_TRACE_HEADER, outgoing_trace_header
from plutus.settings import Settings

# The idempotency key is (source, idempotency_key); the stored digest detects a reused key with new content.
# As Powertools' IdempotencyConfig would say it: tests/unit/test_records.py holds the records to its output.
EVENT_KEY_JMESPATH = "[source, idempotency_key]"
VALIDATION_JMESPATH = "digest"
# SQS's limit on one message, body and attributes (the queues keep the default MaximumMessageSize).
SQS_MAX_MESSAGE_BYTES = 262_144


class IngestCommand(BaseModel):
    """What the idempotent function receives: the key, the content digest and the event."""

    model_config = ConfigDict(frozen=True)

    source: str
    idempotency_key: str
    digest: str
    event_id: str
    event_type: str | None
    schema_version: str
    payload: dict[str, Any]


def command_for(request: IngestRequest) -> IngestCommand:
    """The command of a validated request, with its content digest and derived event id."""
    digest = content_digest(request)
    return IngestCommand(
        source=request.source,
        idempotency_key=request.idempotency_key,
        digest=digest,
        event_id=derive_event_id(request.source, request.idempotency_key, digest),
        event_type=request.event_type,
        schema_version=request.schema_version,
        payload=request.payload,
    )


def build_accept_event(
    settings: Settings, dynamodb: Any, sqs: Any, retention: events_store.Retention
) -> tuple[Callable[..., IngestResult], Invocation]:
    """The idempotent ``accept_event(command=...)`` and the invocation to register the Lambda context on.

    The key is ``settings.idempotency_key_prefix`` (fixed: renaming the function must not silently reset
    deduplication) with (source, idempotency_key); the record completes in the transaction that writes the
    event RECEIVED, so the client never sees a 202 for an event whose status cannot be read.
    """
    store = IdempotencyStore(dynamodb, settings.idempotency_table, settings.events_table, retention)
    invocation = Invocation()

    def accept_event(command: IngestCommand) -> IngestResult:
        received_at = utc_now()
        body, attributes = queued_message(command, received_at)
        if len(body) > settings.max_body_bytes:
            # Raised inside the idempotent function: its claim is deleted, and the client gets a 422.
            raise queued_too_large(settings.max_body_bytes)
        sqs.send_message(
            QueueUrl=settings.queue_url, MessageBody=body, MessageAttributes=attributes, **trace_attributes()
        )
        return IngestResult(
            event_id=command.event_id,
            source=command.source,
            event_type=command.event_type,
            schema_version=command.schema_version,
            received_at=received_at,
        )

    return idempotent(accept_event, store, settings, invocation), invocation


def trace_attributes() -> dict[str, Any]:
    """``MessageSystemAttributes`` that hand the current X-Ray trace to the consumer (none when not tracing).

    The consumer's trace is linked to this one through the message (see plutus.observability.tracing).
    """
    header = outgoing_trace_header()
    if not header:
        return {}
    return {"MessageSystemAttributes": {SQS_TRACE_HEADER: {"DataType": "String", "StringValue": header}}}


def queued_too_large(limit: int) -> InvalidEventError:
    """An event whose queued message would exceed ``limit`` (SQS takes 256 KiB). Non-ASCII text is escaped
    in the message (``\\u00e9``), so a body under the limit can still be too large once queued."""
    return InvalidEventError(
        "the event is too large",
        [{"field": "<event>", "pointer": "", "message": f"larger than {limit} bytes queued"}],
    )


def queued_message(command: IngestCommand, received_at: str) -> tuple[str, dict[str, Any]]:
    """The SQS message body and attributes of an accepted event (single and batch paths alike)."""
    message = QueuedEvent(
        event_id=command.event_id,
        source=command.source,
        event_type=command.event_type,
        schema_version=command.schema_version,
        received_at=received_at,
        payload=command.payload,
    )
    attributes = {"event_id": {"DataType": "String", "StringValue": command.event_id}}
    if command.event_type:
        attributes["event_type"] = {"DataType": "String", "StringValue": command.event_type}
    body = message.to_message_body()
    # The body is ASCII (non-ASCII escaped as \uXXXX), so its length is its size in bytes: an event within
    # max_body_bytes can still outgrow SQS's message limit once escaped. Refused alike, single or batch.
    size = len(body) + sum(len(k) + len(v["DataType"]) + len(v["StringValue"]) for k, v in attributes.items())
    if size > SQS_MAX_MESSAGE_BYTES:
        raise InvalidEventError(
            "the event is too large to queue",
            [
                {
                    "field": "<event>",
                    "pointer": "",
                    "message": f"{size} bytes once queued; SQS takes {SQS_MAX_MESSAGE_BYTES}",
                }
            ],
        )
    return body, attributes
