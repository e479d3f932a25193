"""The idempotent ingest use case (Powertools' idempotency protocol on DynamoDB, then SQS)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict

from plutus.adapters import events_store
from plutus.adapters.idempotency_store import IdempotencyStore
from plutus.adapters.payload_store import PayloadStore
from plutus.adapters.queue import outcome_unknown
from plutus.core.envelope import (
    IngestRequest,
    IngestResult,
    QueuedEvent,
    canonical_json,
    content_digest,
    derive_event_id,
    utc_now,
)
from plutus.core.errors import InvalidEventError, SendOutcomeUnknownError
from plutus.core.ordering import message_group_id
from plutus.core.payloads import PayloadPointer, payload_bytes, pointer_message
from plutus.ingest.idempotent import Invocation, idempotent
from plutus.observability.tracing import SQS_TRACE_HEADER, outgoing_trace_header
from plutus.settings import Settings

# SQS's limit on one message, body and attributes (the queues' MaximumMessageSize in template.yaml).
SQS_MAX_MESSAGE_BYTES = 1_048_576


class IngestCommand(BaseModel):
    """What the idempotent function receives: the key, the content digest and the event.

    The idempotency key is (source, idempotency_key), named by ``event_id``; the stored digest detects a key
    reused with new content.
    """

    model_config = ConfigDict(frozen=True)

    source: str
    idempotency_key: str
    digest: str
    event_id: str
    event_type: str | None
    schema_version: str
    payload: dict[str, Any]
    # The message's MessageGroupId (plutus.core.ordering), None for the source's; not part of the idempotency
    # key or the digest.
    message_group: str | None = None


def command_for(request: IngestRequest, message_group: str | None = None) -> IngestCommand:
    """The command of a validated request, with its content digest and derived event id."""
    digest = content_digest(request)
    return IngestCommand(
        source=request.source,
        idempotency_key=request.idempotency_key,
        digest=digest,
        event_id=derive_event_id(request.source, request.idempotency_key),
        event_type=request.event_type,
        schema_version=request.schema_version,
        payload=request.payload,
        message_group=message_group,
    )


def build_accept_event(
    settings: Settings,
    dynamodb: Any,
    sqs: Any,
    retention: events_store.Retention,
    payloads: PayloadStore | None = None,
) -> tuple[Callable[..., IngestResult], Invocation]:
    """The idempotent ``accept_event(command=...)`` and the invocation to register the Lambda context on.

    ``payloads``: where payloads above ``settings.inline_message_max_bytes`` are stored (none: all inline).
    The key's record lives on the event's item; it completes in the ``UpdateItem`` that writes the event
    RECEIVED, so the client never sees a 202 for an event whose status cannot be read.
    """
    store = IdempotencyStore(dynamodb, settings.events_table, retention)
    invocation = Invocation()

    def accept_event(command: IngestCommand) -> IngestResult:
        received_at = utc_now()
        # Raised inside the idempotent function (too large): its claim is deleted, the client gets a
        # 422. The payload is stored before its pointer is sent: a consumer never meets a dangling pointer.
        outgoing = queued_message(command, received_at, settings, payloads)
        outgoing.store(payloads)
        try:
            sqs.send_message(
                QueueUrl=settings.queue_url,
                MessageBody=outgoing.body,
                MessageAttributes=outgoing.attributes,
                **group_attributes(command, settings),
                **trace_attributes(),
            )
        except (ClientError, BotoCoreError) as exc:
            if outcome_unknown(exc):
                # The message may be queued: its claim must stay (see plutus.ingest.idempotent).
                raise SendOutcomeUnknownError("the event may be queued; retry it") from exc
            raise
        return IngestResult(
            event_id=command.event_id,
            source=command.source,
            event_type=command.event_type,
            schema_version=command.schema_version,
            received_at=received_at,
        )

    return idempotent(accept_event, store, invocation), invocation


def group_attributes(command: IngestCommand, settings: Settings) -> dict[str, Any]:
    """``MessageGroupId`` (the key on FIFO, the source on standard) and, on FIFO, ``MessageDeduplicationId``.

    The event id deduplicates: a client's retry after an ingest crash converges on the same event id, which
    SQS then drops within its 5-minute window instead of delivering twice.
    """
    # A path that derived no group (none does today) still sends one: a FIFO queue refuses a message without.
    fields: dict[str, Any] = {"MessageGroupId": command.message_group or message_group_id(command.source)}
    if settings.queue_mode == "fifo":
        fields["MessageDeduplicationId"] = command.event_id
    return fields


def trace_attributes() -> dict[str, Any]:
    """``MessageSystemAttributes`` that hand the current X-Ray trace to the consumer (none when not tracing).

    The consumer's trace is linked to this one through the message (see plutus.observability.tracing).
    """
    header = outgoing_trace_header()
    if not header:
        return {}
    return {"MessageSystemAttributes": {SQS_TRACE_HEADER: {"DataType": "String", "StringValue": header}}}


def queued_too_large(limit: int) -> InvalidEventError:
    """An event whose queued message would exceed ``limit`` (``max_body_bytes``). Non-ASCII text is escaped
    in the message (``\\u00e9``), so a body under the limit can still be too large once queued."""
    return InvalidEventError(
        "the event is too large",
        [{"field": "<event>", "pointer": "", "message": f"larger than {limit} bytes queued"}],
    )


@dataclass(frozen=True, slots=True)
class Outgoing:
    """An accepted event's SQS message, and the payload to store first when the message is a pointer."""

    body: str
    attributes: dict[str, Any]
    pointer: PayloadPointer | None = None
    data: bytes = b""

    def store(self, payloads: PayloadStore | None) -> None:
        """Store the payload the message points to (nothing when it travels inline); S3's errors propagate."""
        if self.pointer is not None and payloads is not None:
            payloads.put(self.pointer, self.data)

    def stored(self, payloads: PayloadStore | None) -> bool:
        """Whether the payload the message points to is stored now (always, when it travels inline)."""
        return self.pointer is None or payloads is None or payloads.try_put(self.pointer, self.data)


def message_size(body: str, attributes: dict[str, Any]) -> int:
    """What a message counts towards SQS's limit: its body and its attributes' names, types and values."""
    return len(body) + sum(len(k) + len(v["DataType"]) + len(v["StringValue"]) for k, v in attributes.items())


def queued_message(
    command: IngestCommand, received_at: str, settings: Settings, payloads: PayloadStore | None = None
) -> Outgoing:
    """The SQS message of an accepted event (single and batch paths alike), inline or a pointer.

    The payload is serialised once: the inline body's size is known from the payload's canonical text, so
    a 5 MB payload is not serialised again only to learn that it goes to S3.
    """
    envelope = QueuedEvent(
        event_id=command.event_id,
        source=command.source,
        event_type=command.event_type,
        schema_version=command.schema_version,
        received_at=received_at,
        payload={},
    )
    attributes = {"event_id": {"DataType": "String", "StringValue": command.event_id}}
    if command.event_type:
        attributes["event_type"] = {"DataType": "String", "StringValue": command.event_type}
    data = payload_bytes(command.payload)
    # canonical_json writes {"payload":{}} as "{}": the inline body is that text with the payload's in place.
    shell = envelope.to_message_body()
    inline_size = len(shell) - len(canonical_json({})) + len(data)
    # The body is ASCII (non-ASCII escaped as \uXXXX), so its length is its size in bytes: an event within
    # max_body_bytes can still outgrow it once escaped. Refused alike, single or batch, inline or stored.
    if inline_size > settings.max_body_bytes:
        raise queued_too_large(settings.max_body_bytes)
    size = inline_size + message_size("", attributes)
    if payloads is not None and size > settings.inline_message_max_bytes:
        pointer = payloads.pointer(command.event_id, data)
        return Outgoing(pointer_message(envelope, pointer).to_message_body(), attributes, pointer, data)
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
    return Outgoing(inline_body(shell, data), attributes)


# The payload's place in a queued event's canonical text: keys are sorted, so "payload" sits between
# "event_type" and "received_at", both always present.
_EMPTY_PAYLOAD = ',"payload":{},'


def inline_body(shell: str, data: bytes) -> str:
    """The inline message: ``shell`` (the event's canonical text with an empty payload) with the payload's
    canonical text ``data`` in place, so the payload is serialised once per event, not once more for the body.

    The marker cannot occur inside a string value: every ``"`` in one is escaped, so ``,"`` never appears
    there. ``tests/unit/test_payloads.py`` holds the result to ``to_message_body()`` of the whole event.
    """
    return shell.replace(_EMPTY_PAYLOAD, ',"payload":' + data.decode("ascii") + ",", 1)
