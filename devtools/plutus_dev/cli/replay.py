"""Replay recorded events by id: re-enqueue the message a FAILED event kept.

A kept message with a payload pointer is re-enqueued as a pointer (the consumer fetches and checks the stored
payload, as for the first delivery); replay first checks that the stored payload is still there.

A PROCESSED event is never re-enqueued (and it keeps no message). Should a replayed message meet an event that
got PROCESSED meanwhile (its DLQ copy was also redriven, or it was replayed twice), the consumer's
``plutus-replay`` pre-check and its conditional commit absorb it: effects are applied once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError

from plutus.adapters import events_store
from plutus.adapters.events_store import EventStatus
from plutus.core.payloads import PointerEvent, QueuedMessage, parse_message


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


def replay_message(event: QueuedMessage) -> dict[str, Any]:
    """``SendMessage`` arguments (minus the queue) that re-enqueue ``event`` as a replay."""
    # Imported here: plutus.consumer.processor builds the Logger and Metrics, which scripts that spawn the
    # embedded stack's workers must not do at import (see lambda_runtime._init).
    from plutus.consumer.processor import REPLAY_ATTRIBUTE

    attributes = {
        "event_id": {"DataType": "String", "StringValue": event.event_id},
        REPLAY_ATTRIBUTE: {"DataType": "String", "StringValue": "true"},
    }
    if event.event_type:
        attributes["event_type"] = {"DataType": "String", "StringValue": event.event_type}
    return {"MessageBody": event.to_message_body(), "MessageAttributes": attributes}


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


def replay_one(
    dynamodb: Any, sqs: Any, events_table: str, queue_url: str, event_id: str, s3: Any | None = None
) -> ReplayResult:
    """Re-enqueue one event if it is replayable; say why not otherwise.

    With ``s3``, a pointer's stored payload is checked (and its expiry restarted) before re-enqueueing.
    """
    item = events_store.get_event(dynamodb, events_table, event_id, consistent=True)
    if item is None:
        return ReplayResult(event_id, Outcome.NOT_FOUND, "no such event")
    status = item.get("status")
    if status == EventStatus.PROCESSED:
        return ReplayResult(event_id, Outcome.SKIPPED, "already PROCESSED; its effects are applied once")
    body = events_store.kept_message(item)
    if body is None:
        return ReplayResult(
            event_id, Outcome.NOT_REPLAYABLE, f"{status}: {_not_kept(item, datetime.now(UTC))}"
        )
    event = parse_message(body)
    if isinstance(event, PointerEvent) and s3 is not None and not renew_stored_payload(s3, event):
        return ReplayResult(
            event_id,
            Outcome.NOT_REPLAYABLE,
            f"{status}: its stored payload {event.payload_ref.key} is gone (expired with its retention)",
        )
    response = sqs.send_message(QueueUrl=queue_url, **replay_message(event))
    return ReplayResult(event_id, Outcome.REPLAYED, f"message {response['MessageId']}")


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
