"""Replay recorded events by id: re-enqueue the message a FAILED event kept.

A kept message with a payload pointer is re-enqueued as a pointer (the consumer fetches and checks the stored
payload, as for the first delivery); replay first checks that the stored payload is still there.

A PROCESSED event is never re-enqueued (and it keeps no message). Should a replayed message meet an event that
got PROCESSED meanwhile (its DLQ copy was also redriven, or it was replayed twice), the consumer's
``plutus-replay`` pre-check and its conditional commit absorb it: effects are applied once.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from plutus.adapters import events_store
from plutus.adapters.events_store import EventStatus
from plutus.core.envelope import QueuedEvent, utc_now
from plutus.core.payloads import PointerEvent, parse_message


class Outcome(StrEnum):
    """What replaying one event did."""

    REPLAYED = "replayed"
    SKIPPED = "skipped"
    NOT_FOUND = "not-found"
    NOT_REPLAYABLE = "not-replayable"


@dataclass(frozen=True)
class ReplayResult:
    """One event's replay."""

    event_id: str
    outcome: Outcome
    detail: str


_NOT_KEPT = {
    EventStatus.FAILED: "no message kept (too large, or unparseable): redrive the DLQ instead",
    EventStatus.PROCESSING: "SQS is still retrying it; no message kept yet",
}
# A RECEIVED event with no attempt after this long was not seen to fail by the consumer: its message is still
# queued behind a backlog, or every receive ended before an attempt was recorded (a timeout, a crash).
RECEIVED_STALE_AFTER = timedelta(minutes=15)


def _not_kept(item: dict[str, Any], now: datetime) -> str:
    status = str(item.get("status"))
    if status != EventStatus.RECEIVED:
        return _NOT_KEPT.get(status, "no message kept")
    received = item.get("received_at")
    age = now - datetime.fromisoformat(received.replace("Z", "+00:00")) if received else None
    if age is None or age < RECEIVED_STALE_AFTER:
        return "queued and not yet processed; no message kept"
    minutes = int(age.total_seconds() // 60)
    return (
        f"received {minutes} min ago and no attempt recorded since: still queued behind a backlog, or every "
        "receive ended before recording an attempt (see the consumer's errors, then `plutus dlq list`)"
    )


# On the event's item: the ``attempts`` it had when a replay re-enqueued its message. A bulk replay skips an
# event whose marker equals its attempts (re-enqueued, and no attempt since), so running it twice over the
# same selection sends nothing new; once the consumer tries the replayed message again, attempts move on.
REPLAYED_ATTEMPT = "replayed_attempt"
REPLAYED_AT = "replayed_at"


def replay_attributes(event_id: str, event_type: str | None) -> dict[str, Any]:
    """The message attributes of a replayed message: its id and type, and the consumer's replay flag."""
    # Imported here: plutus.consumer.processor builds the Logger and Metrics, which scripts that spawn the
    # embedded stack's workers must not do at import (see lambda_runtime._init).
    from plutus.consumer.processor import REPLAY_ATTRIBUTE

    attributes = {
        "event_id": {"DataType": "String", "StringValue": event_id},
        REPLAY_ATTRIBUTE: {"DataType": "String", "StringValue": "true"},
    }
    if event_type:
        attributes["event_type"] = {"DataType": "String", "StringValue": event_type}
    return attributes


def resend(sqs: Any, queue_url: str, item: dict[str, Any], body: str) -> str:
    """Send a FAILED event's kept message again, byte for byte; returns the new message id.

    The body is never parsed nor rebuilt: a message that carries a payload pointer (an S3 object) instead of
    its payload goes out as it came in, and the consumer resolves it as it did the first time.
    """
    attributes = replay_attributes(str(item["event_id"]), item.get("event_type"))
    group = _group_of_kept(item, body, fifo=queue_url.endswith(".fifo"))
    response = sqs.send_message(QueueUrl=queue_url, MessageBody=body, MessageAttributes=attributes, **group)
    return str(response["MessageId"])


def _group_of_kept(item: dict[str, Any], body: str, fifo: bool) -> dict[str, Any]:
    """The message group of a kept message: from its event when the body reads as one, else from the item's
    source (a body this version cannot read is still sent as it was kept)."""
    try:
        event = QueuedEvent.model_validate_json(body)
    except ValueError:
        event = None
    if event is not None:
        return replay_group(event, fifo)
    from plutus.core.ordering import message_group_id

    group: dict[str, Any] = {"MessageGroupId": message_group_id(str(item.get("source", "")))}
    if fifo:
        group["MessageDeduplicationId"] = f"replay:{uuid.uuid4()}"
    return group


def mark_replayed(dynamodb: Any, events_table: str, item: dict[str, Any], now: str) -> bool:
    """Record on a FAILED event that its message was re-enqueued at its current attempts.

    Conditional on the event being as read (FAILED, same attempts): ``False`` when it moved on meanwhile (the
    consumer took the replayed message already), which needs no marker.
    """
    try:
        dynamodb.update_item(
            TableName=events_table,
            Key={"event_id": {"S": str(item["event_id"])}},
            UpdateExpression=f"SET {REPLAYED_ATTEMPT} = :attempts, {REPLAYED_AT} = :now",
            ConditionExpression="#status = :failed AND attempts = :attempts",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":attempts": {"N": str(int(item.get("attempts", 0)))},
                ":now": {"S": now},
                ":failed": {"S": EventStatus.FAILED},
            },
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False
        raise
    return True


def replay_message(event: QueuedEvent, queue_url: str = "") -> dict[str, Any]:
    """``SendMessage`` arguments (minus the queue) that re-enqueue ``event`` as a replay on ``queue_url``."""
    return {
        "MessageBody": event.to_message_body(),
        "MessageAttributes": replay_attributes(event.event_id, event.event_type),
        **replay_group(event, fifo=queue_url.endswith(".fifo")),
    }


def replay_group(event: QueuedEvent, fifo: bool) -> dict[str, Any]:
    """The message group ingest gave ``event`` (plutus.core.ordering) and, on FIFO, a fresh deduplication id:
    the original's (the event id) would make SQS drop a replay sent within 5 minutes of it."""
    from plutus.core.errors import InvalidEventError
    from plutus.core.ordering import message_group, message_group_id

    if not fifo:
        return {"MessageGroupId": message_group_id(event.source)}
    from plutus.domains import build_registry

    try:
        group = message_group(
            event.source, event.event_type, event.schema_version, event.payload, build_registry(), "fifo"
        )
    except InvalidEventError:  # accepted while the queue was standard, or a payload kept by pointer
        group = message_group_id(event.source)
    return {"MessageGroupId": group, "MessageDeduplicationId": f"replay:{uuid.uuid4()}"}


def renew_stored_payload(s3: Any, event: PointerEvent) -> bool:
    """Whether ``event``'s stored payload is still there; if so, its expiry restarts now.

    The bucket's lifecycle counts an object's age from its last write, and a replay restarts the event
    record's retention: copying the object onto itself (same bytes, same digest) keeps the two together.
    """
    pointer = event.payload_ref
    try:
        s3.head_object(Bucket=pointer.bucket, Key=pointer.key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
            return False
        raise
    s3.copy_object(
        Bucket=pointer.bucket,
        Key=pointer.key,
        CopySource={"Bucket": pointer.bucket, "Key": pointer.key},
        MetadataDirective="REPLACE",
        ContentType="application/json",
    )
    return True


def _stored_payload_gone(s3: Any, body: str) -> str | None:
    """Why a kept pointer message cannot be replayed (its stored payload expired), else ``None``.

    Parsed only to find the pointer: the body itself is re-sent byte for byte.
    """
    try:
        message = parse_message(body)
    except ValueError:
        return None
    if isinstance(message, PointerEvent) and not renew_stored_payload(s3, message):
        return f"its stored payload {message.payload_ref.key} is gone (expired with its retention)"
    return None


def replay_one(
    dynamodb: Any, sqs: Any, events_table: str, queue_url: str, event_id: str, s3: Any | None = None
) -> ReplayResult:
    """Re-enqueue one event if it is replayable; say why not otherwise.

    By id is explicit: it re-enqueues even an event a replay re-enqueued before (the consumer absorbs the
    extra copy once one is processed), and marks it so a bulk replay does not send it once more. With ``s3``,
    a pointer's stored payload is checked (and its expiry restarted) before re-enqueueing.
    """
    item = events_store.get_event(dynamodb, events_table, event_id, consistent=True)
    if item is None or "status" not in item:  # nothing, or a key claimed by an ingest that has not answered
        return ReplayResult(event_id, Outcome.NOT_FOUND, "no such event")
    status = item.get("status")
    if status == EventStatus.PROCESSED:
        return ReplayResult(event_id, Outcome.SKIPPED, "already PROCESSED; its effects are applied once")
    body = events_store.read_kept_message(dynamodb, events_table, event_id, item)
    if body is None:
        return ReplayResult(
            event_id, Outcome.NOT_REPLAYABLE, f"{status}: {_not_kept(item, datetime.now(UTC))}"
        )
    gone = _stored_payload_gone(s3, body) if s3 is not None else None
    if gone:
        return ReplayResult(event_id, Outcome.NOT_REPLAYABLE, f"{status}: {gone}")
    message_id = resend(sqs, queue_url, item, body)
    try:
        mark_replayed(dynamodb, events_table, item, utc_now())
    except (ClientError, BotoCoreError) as exc:
        # Sent all the same; only a later bulk run may send it once more (the consumer absorbs the copy).
        return ReplayResult(event_id, Outcome.REPLAYED, f"message {message_id}; marker not written ({exc})")
    return ReplayResult(event_id, Outcome.REPLAYED, f"message {message_id}")


def replay_events(
    dynamodb: Any,
    sqs: Any,
    events_table: str,
    queue_url: str,
    event_ids: Iterable[str],
    on_result: Callable[[ReplayResult], None] | None = None,
    s3: Any | None = None,
) -> list[ReplayResult]:
    """Replay each of ``event_ids`` (see :func:`replay_one`)."""
    results = []
    for event_id in dict.fromkeys(event_ids):  # once each, in order
        result = replay_one(dynamodb, sqs, events_table, queue_url, event_id, s3)
        results.append(result)
        if on_result:
            on_result(result)
    return results


def event_ids_by_status(
    dynamodb: Any, events_table: str, status: EventStatus, since: str | None = None, source: str | None = None
) -> list[str]:
    """Ids of the events in ``status`` received since ``since`` (from ``source``), from the ops index."""
    found = events_store.query_by_status(dynamodb, events_table, status, since, source=source)
    return [i["event_id"] for i in found]


_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_since(value: str, now: datetime | None = None) -> str:
    """``2h``, ``30m``, ``7d`` (ago) or an ISO-8601 date/time, as a ``received_at`` bound."""
    now = now or datetime.now(UTC)
    match = _DURATION.match(value.strip())
    if match:
        moment = now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    else:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
