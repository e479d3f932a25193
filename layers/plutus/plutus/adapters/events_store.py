"""Adapter for the events table: one item per event, holding its status.

Every status change is a conditional write, so concurrent consumers cannot lose an update and nothing ever
moves an event out of PROCESSED.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import BotoCoreError, ClientError

from plutus.adapters.retry import RETRIES, until_done
from plutus.adapters.state_store import transact_item
from plutus.core.effects import Effect
from plutus.core.envelope import EventMetadata, IngestResult, QueuedEvent
from plutus.observability import logger

STATUS_INDEX = "by-status"
# A FAILED event keeps its queued message (compressed) so an operator can replay it by id; a processed
# event drops it. DynamoDB items stop at 400 KB: a message that does not fit is not kept (redrive it).
KEPT_MESSAGE = "kept_message"
KEPT_MESSAGE_MAX_BYTES = 300_000
_deserializer = TypeDeserializer()


class EventStatus(StrEnum):
    """Lifecycle of an event. PROCESSED and FAILED are terminal until an operator replays."""

    RECEIVED = "RECEIVED"
    PROCESSING = "PROCESSING"
    PROCESSED = "PROCESSED"
    FAILED = "FAILED"


def _metadata_update(event: EventMetadata) -> tuple[list[str], dict[str, Any], dict[str, str]]:
    # Both ingest and consumer may write an event's item first (the consumer can win the race on a crash
    # retry), so each writes the immutable metadata with if_not_exists and never overwrites the other.
    clauses = [
        "#source = if_not_exists(#source, :source)",
        "schema_version = if_not_exists(schema_version, :schema_version)",
        "received_at = if_not_exists(received_at, :received_at)",
    ]
    values: dict[str, Any] = {
        ":source": {"S": event.source},
        ":schema_version": {"S": event.schema_version},
        ":received_at": {"S": event.received_at},
    }
    if event.event_type is not None:
        clauses.append("event_type = if_not_exists(event_type, :event_type)")
        values[":event_type"] = {"S": event.event_type}
    return clauses, values, {"#source": "source"}


def accepted_update(table: str, result: IngestResult) -> dict[str, Any]:
    """Transact item that records an accepted event as RECEIVED, unless the consumer got there first."""
    clauses, values, names = _metadata_update(result)
    clauses += ["#status = if_not_exists(#status, :received)", "attempts = if_not_exists(attempts, :zero)"]
    values |= {":received": {"S": EventStatus.RECEIVED}, ":zero": {"N": "0"}}
    return {
        "TableName": table,
        "Key": {"event_id": {"S": result.event_id}},
        "UpdateExpression": "SET " + ", ".join(clauses),
        "ExpressionAttributeNames": names | {"#status": "status"},
        "ExpressionAttributeValues": values,
    }


def _attempt_update(
    table: str, event: QueuedEvent, clauses: list[str], values: dict[str, Any], remove: str = ""
) -> dict[str, Any]:
    """An update counting one processing attempt; it never touches an event already PROCESSED."""
    meta_clauses, meta_values, names = _metadata_update(event)
    expression = "SET " + ", ".join(meta_clauses + clauses) + " ADD attempts :one"
    return {
        "TableName": table,
        "Key": {"event_id": {"S": event.event_id}},
        "UpdateExpression": expression + (f" REMOVE {remove}" if remove else ""),
        "ConditionExpression": "attribute_not_exists(#status) OR #status <> :processed",
        "ExpressionAttributeNames": names | {"#status": "status"},
        "ExpressionAttributeValues": meta_values
        | values
        | {":one": {"N": "1"}, ":processed": {"S": EventStatus.PROCESSED}},
    }


def processed_update(table: str, event: QueuedEvent, now: str) -> dict[str, Any]:
    """Transact item moving an event to PROCESSED; its condition is the consumer's exactly-once marker."""
    clauses = ["#status = :processed", "processed_at = :now", "updated_at = :now"]
    return _attempt_update(table, event, clauses, {":now": {"S": now}}, remove=KEPT_MESSAGE)


def compress_message(body: str) -> bytes | None:
    """The message as kept on a FAILED event, or ``None`` when it would not fit in the item."""
    packed = zlib.compress(body.encode("utf-8"))
    return packed if len(packed) <= KEPT_MESSAGE_MAX_BYTES else None


def kept_message(item: dict[str, Any]) -> str | None:
    """The queued message a FAILED event kept (see :func:`failure_update`), if any."""
    packed = item.get(KEPT_MESSAGE)
    if packed is None:
        return None
    return zlib.decompress(bytes(packed)).decode("utf-8")


def failure_update(
    table: str,
    event: QueuedEvent,
    error: str,
    status: EventStatus,
    now: str,
    message: str | None = None,
) -> dict[str, Any]:
    """Update recording a failed attempt: PROCESSING while SQS will retry, FAILED on the last receive.

    ``message`` (the queued body, given on the last receive) is kept so the event can be replayed by id.
    """
    clauses = ["#status = :status", "last_error = :error", "updated_at = :now"]
    values: dict[str, Any] = {":status": {"S": status}, ":error": {"S": error}, ":now": {"S": now}}
    packed = compress_message(message) if message is not None else None
    if packed is not None:
        clauses.append(f"{KEPT_MESSAGE} = :message")
        values[":message"] = {"B": packed}
    return _attempt_update(table, event, clauses, values)


def poison_update(table: str, message_id: str, error: str, status: EventStatus, now: str) -> dict[str, Any]:
    """Update recording a message that is not an event at all, under ``message:<id>`` (``plutus events``)."""
    return {
        "TableName": table,
        "Key": {"event_id": {"S": poison_id(message_id)}},
        "UpdateExpression": (
            "SET #status = :status, last_error = :error, updated_at = :now, #source = :unknown, "
            "received_at = if_not_exists(received_at, :now), schema_version = :unknown "
            "ADD attempts :one"
        ),
        # The same guard as every other status write: nothing moves an item out of PROCESSED.
        "ConditionExpression": "attribute_not_exists(#status) OR #status <> :processed",
        "ExpressionAttributeNames": {"#status": "status", "#source": "source"},
        "ExpressionAttributeValues": {
            ":status": {"S": status},
            ":error": {"S": error},
            ":now": {"S": now},
            ":unknown": {"S": "unknown"},
            ":one": {"N": "1"},
            ":processed": {"S": EventStatus.PROCESSED},
        },
    }


def poison_id(message_id: str) -> str:
    """The events-table id under which an unparseable message's failures are recorded."""
    return f"message:{message_id}"


def deserialize(item: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB item as plain Python values (numbers as int where whole)."""
    out: dict[str, Any] = {}
    for key, raw in item.items():
        value = _deserializer.deserialize(raw)
        if key == "attempts":
            value = int(value)
        out[key] = value
    return out


def get_event(client: Any, table: str, event_id: str, *, consistent: bool = False) -> dict[str, Any] | None:
    """The event's item, or ``None``."""
    response = client.get_item(TableName=table, Key={"event_id": {"S": event_id}}, ConsistentRead=consistent)
    item = response.get("Item")
    return deserialize(item) if item else None


def query_by_status(
    client: Any, table: str, status: EventStatus, since: str | None = None, page_size: int = 100
) -> Iterator[dict[str, Any]]:
    """Events in ``status`` (received at or after ``since``), oldest first, from the by-status index."""
    condition = "#status = :status"
    values: dict[str, Any] = {":status": {"S": status}}
    if since is not None:
        condition += " AND received_at >= :since"
        values[":since"] = {"S": since}
    kwargs: dict[str, Any] = {
        "TableName": table,
        "IndexName": STATUS_INDEX,
        "KeyConditionExpression": condition,
        "ExpressionAttributeNames": {"#status": "status"},
        "ExpressionAttributeValues": values,
        "Limit": page_size,
    }
    while True:
        page = client.query(**kwargs)
        for item in page.get("Items", []):
            yield deserialize(item)
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def public_view(item: dict[str, Any]) -> dict[str, Any]:
    """The event as ``GET /api/v1/events/{id}`` shows it."""
    return {
        "event_id": item["event_id"],
        "source": item.get("source"),
        "event_type": item.get("event_type"),
        "schema_version": item.get("schema_version"),
        "status": item.get("status"),
        "attempts": int(item.get("attempts", 0)),
        "last_error": item.get("last_error"),
        "received_at": item.get("received_at"),
        "processed_at": item.get("processed_at"),
    }


# What a commit of an event's effects came to (the consumer's answer, in domain terms).
@dataclass(frozen=True, slots=True)
class Committed:
    """The effects and the move to PROCESSED were written together."""


@dataclass(frozen=True, slots=True)
class AlreadyProcessed:
    """The event was PROCESSED before: nothing was written (the exactly-once marker held)."""


@dataclass(frozen=True, slots=True)
class Contended:
    """State changed under the handler (a version guard failed, or a concurrent transaction): run it again."""


@dataclass(frozen=True, slots=True)
class Refused:
    """An effect's own condition refused it (a floor, a create-only item): running again cannot help."""

    reasons: tuple[str, ...]


CommitOutcome = Committed | AlreadyProcessed | Contended | Refused
# The last receive's FAILED write is what tells an operator the message is in the DLQ; it gets a few more
# tries (each with botocore's own retries) than an intermediate PROCESSING write.
FINAL_FAILURE_WRITE_RETRIES = RETRIES


class EventsRepository:
    """The events table as the consumer uses it: commit, failure and poison writes, each with its guard."""

    def __init__(self, client: Any, table: str, state_table: str) -> None:
        self.client = client
        self.table = table
        self.state_table = state_table

    def get(self, event_id: str, *, consistent: bool = False) -> dict[str, Any] | None:
        """The event's item as plain values, or ``None``."""
        return get_event(self.client, self.table, event_id, consistent=consistent)

    def is_processed(self, event_id: str) -> bool:
        """Whether the event is PROCESSED (a strongly consistent read)."""
        item = self.get(event_id, consistent=True)
        return bool(item and item.get("status") == EventStatus.PROCESSED)

    def commit(self, event: QueuedEvent, effects: Sequence[Effect], now: str) -> CommitOutcome:
        """Write ``effects`` and move the event to PROCESSED in one transaction.

        The first item's condition (not PROCESSED yet) is the exactly-once marker: if it fails, the event was
        processed before and nothing is written.
        """
        items = [{"Update": processed_update(self.table, event, now)}]
        items += [transact_item(self.state_table, e) for e in effects]
        try:
            self.client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            reasons = [r.get("Code", "None") for r in exc.response.get("CancellationReasons", [])]
            if reasons and reasons[0] == "ConditionalCheckFailed":
                return AlreadyProcessed()
            if "TransactionConflict" in reasons or _version_conflict(effects, reasons[1:]):
                return Contended()
            return Refused(tuple(reasons))
        return Committed()

    def record_failure(
        self, event: QueuedEvent, error: str, status: EventStatus, now: str, message: str | None = None
    ) -> None:
        """Count a failed attempt (PROCESSING, or FAILED keeping ``message`` for replay). Never raises."""
        update = failure_update(self.table, event, error, status, now, message=message)
        self._write_failure(update, final=status is EventStatus.FAILED)

    def record_poison(self, message_id: str, error: str, status: EventStatus, now: str) -> None:
        """Count a failed attempt of a message that is not an event. Never raises."""
        self._write_failure(
            poison_update(self.table, message_id, error, status, now), final=status is EventStatus.FAILED
        )

    def _write_failure(self, update: dict[str, Any], final: bool) -> None:
        # Whatever happens here, the record is still reported failed and SQS keeps the message.
        def send(pending: dict[str, Any]) -> dict[str, Any] | None:
            try:
                self.client.update_item(**pending)
            except ClientError as exc:
                if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                    return None  # already PROCESSED: a concurrent delivery won
                logger.warning("could not record failure", extra={"error": exc.response["Error"]["Code"]})
                return pending
            except BotoCoreError as exc:
                logger.warning("could not record failure", extra={"error": type(exc).__name__})
                return pending
            return None

        until_done(send, update, retries=FINAL_FAILURE_WRITE_RETRIES if final else 0)


def _version_conflict(effects: Sequence[Effect], reasons: Sequence[str]) -> bool:
    # A failed condition on an effect that guards a version means state moved under the handler.
    return any(
        code == "ConditionalCheckFailed" and getattr(effect, "expect_version", None) is not None
        for effect, code in zip(effects, reasons, strict=False)
    )
