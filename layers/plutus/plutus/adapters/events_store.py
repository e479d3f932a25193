"""Adapter for the events table: one item per event, holding its status.

Every status change is a conditional write, so concurrent consumers cannot lose an update and nothing ever
moves an event out of PROCESSED.

The operators' index (``ops``) is sparse and spread. Only the states an operator lists (PROCESSING and FAILED)
carry its keys: ``ops_pk = "<STATUS>#<shard>"``, the shard a hash of the event id over :data:`OPS_SHARDS`, and
``ops_sk = "<received_at>#<event_id>"``. RECEIVED (every accepted event) and PROCESSED (nearly every event)
never enter it, and PROCESSED removes the keys, so the index holds the failing few and no partition key takes
more than 1/OPS_SHARDS of the failure writes. It projects the immutable ``source`` and ``event_type`` only: a
retry that changes ``attempts`` or ``last_error`` leaves the index entry as it is (no index write), and a
listing reads those from the table with ``BatchGetItem``.

Retention: every write sets ``expires_at`` (the table's TTL attribute, epoch seconds). PROCESSED events
expire ``Retention.processed_seconds`` after processing; RECEIVED, PROCESSING and FAILED ones
``Retention.failed_seconds`` after their last write, so a replay (its attempt writes again) restarts it.
"""

from __future__ import annotations

import heapq
import json
import uuid
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from plutus.adapters.retry import RETRIES, until_done
from plutus.adapters.state_store import transact_item
from plutus.core.effects import Effect, EventNote, NoteValue, StateEffect, fold_effects
from plutus.core.envelope import EventMetadata, IngestResult, QueuedEvent, parse_timestamp
from plutus.observability import logger

OPS_INDEX = "ops"
OPS_PK = "ops_pk"
OPS_SK = "ops_sk"
# Fixed for the life of the table: a query asks every shard, so lowering it would hide the items written to
# the shards it drops. 16 shards take 16,000 WCU/s of index writes before one partition reaches 1,000.
OPS_SHARDS = 16
EXPIRES_AT = "expires_at"
# A FAILED event keeps its queued message (compressed) so an operator can replay it by id. It lives in an item
# of its own, ``kept:<event_id>`` in this table (never on the event's item: a duplicate request's conditional
# write or read is billed by the event item's size, which must stay small). It expires with the FAILED event
# it belongs to. Items written before it moved still hold ``kept_message`` on the event, which readers fall
# back to and PROCESSED removes. DynamoDB items stop at 400 KB: a message that does not fit is not kept
# (redrive it). Reads never serve a kept item: its key is not an event id.
KEPT_MESSAGE = "kept_message"
KEPT_MESSAGE_MAX_BYTES = 300_000
KEPT_PREFIX = "kept:"
# Fan-out's publish marker (plutus/core/fanout.py): a PROCESSED event names its batch, and the batch's marker
# item, ``fanout:<batch>`` in this table, holds the ids published (a string set). Reads never serve it: its
# key is not an event id.
FANOUT_BATCH = "fanout_batch"
FANOUT_MARKER_PREFIX = "fanout:"
FANOUT_PUBLISHED = "published"


class EventStatus(StrEnum):
    """Lifecycle of an event. PROCESSED and FAILED are terminal until an operator replays."""

    RECEIVED = "RECEIVED"
    PROCESSING = "PROCESSING"
    PROCESSED = "PROCESSED"
    FAILED = "FAILED"


# The states the ops index holds (the ones an operator lists and acts on).
INDEXED_STATUSES = frozenset({EventStatus.PROCESSING, EventStatus.FAILED})
DAY_SECONDS = 86_400


@dataclass(frozen=True, slots=True)
class Retention:
    """How long event records live (template parameters EventRetentionDays and FailedRetentionDays)."""

    processed_seconds: int = 30 * DAY_SECONDS
    failed_seconds: int = 90 * DAY_SECONDS

    def expiry(self, status: EventStatus, now: str) -> int:
        """The ``expires_at`` (epoch seconds) a write of ``status`` at ``now`` sets."""
        keep = self.processed_seconds if status is EventStatus.PROCESSED else self.failed_seconds
        return int(parse_timestamp(now).timestamp()) + keep


def ops_shard(event_id: str) -> int:
    """The ops-index shard of an event: stable, and uniform over ids."""
    return zlib.crc32(event_id.encode("utf-8")) % OPS_SHARDS


def ops_keys(status: EventStatus, event_id: str, received_at: str) -> tuple[str, str]:
    """The ops index's partition and sort key of an event in ``status``."""
    return f"{status}#{ops_shard(event_id):02d}", f"{received_at}#{event_id}"


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


def accepted_update(table: str, result: IngestResult, retention: Retention) -> dict[str, Any]:
    """Transact item that records an accepted event as RECEIVED, unless the consumer got there first.

    RECEIVED carries no ops-index keys (every event passes through it), and its expiry is set only if the
    consumer has not set one: a stuck RECEIVED event still leaves after the failed-retention period.
    """
    clauses, values, names = _metadata_update(result)
    clauses += [
        "#status = if_not_exists(#status, :received)",
        "attempts = if_not_exists(attempts, :zero)",
        f"{EXPIRES_AT} = if_not_exists({EXPIRES_AT}, :expires)",
    ]
    values |= {
        ":received": {"S": EventStatus.RECEIVED},
        ":zero": {"N": "0"},
        ":expires": {"N": str(retention.expiry(EventStatus.RECEIVED, result.received_at))},
    }
    return {
        "TableName": table,
        "Key": {"event_id": {"S": result.event_id}},
        "UpdateExpression": "SET " + ", ".join(clauses),
        "ExpressionAttributeNames": names | {"#status": "status"},
        "ExpressionAttributeValues": values,
    }


def _attempt_update(
    table: str,
    event: EventMetadata,
    clauses: list[str],
    values: dict[str, Any],
    remove: str = "",
    adds: Sequence[str] = (),
    names: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An update counting one processing attempt; it never touches an event already PROCESSED."""
    meta_clauses, meta_values, meta_names = _metadata_update(event)
    expression = "SET " + ", ".join(meta_clauses + clauses) + " ADD " + ", ".join(["attempts :one", *adds])
    return {
        "TableName": table,
        "Key": {"event_id": {"S": event.event_id}},
        "UpdateExpression": expression + (f" REMOVE {remove}" if remove else ""),
        "ConditionExpression": "attribute_not_exists(#status) OR #status <> :processed",
        "ExpressionAttributeNames": meta_names | (names or {}) | {"#status": "status"},
        "ExpressionAttributeValues": meta_values
        | values
        | {":one": {"N": "1"}, ":processed": {"S": EventStatus.PROCESSED}},
    }


def _note_value(value: NoteValue) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, str):
        return {"S": value}
    return {"N": str(value)}


def _note_clauses(note: EventNote) -> tuple[list[str], list[str], dict[str, str], dict[str, Any]]:
    """(SET clauses, ADD clauses, names, values) writing ``note`` on the event's item.

    Its own placeholders (``#note<i>``, ``:note<i>``) cannot clash with the marker's; its names are ``note_``
    attributes only (:class:`EventNote` refuses any other), so it cannot touch what the marker writes.
    """
    sets: list[str] = []
    adds: list[str] = []
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    for i, (name, value) in enumerate([*note.set_if_absent.items(), *note.add.items()]):
        names[f"#note{i}"] = name
        values[f":note{i}"] = _note_value(value)
        if name in note.add:
            adds.append(f"#note{i} :note{i}")
        else:
            sets.append(f"#note{i} = if_not_exists(#note{i}, :note{i})")
    return sets, adds, names, values


def processed_update(
    table: str,
    event: QueuedEvent,
    now: str,
    retention: Retention,
    fanout_batch: str | None = None,
    note: EventNote | None = None,
) -> dict[str, Any]:
    """Transact item moving an event to PROCESSED; its condition is the consumer's exactly-once marker.

    It removes the ops-index keys (the event leaves the index) and starts the processed-retention clock.
    With fan-out on, it also names the batch whose publish marker will record the event (no extra write).
    ``note`` (the handlers' :class:`EventNote`) is written by the same update, under the same condition: it
    is applied exactly when the event moves to PROCESSED, and never again.
    """
    clauses = ["#status = :processed", "processed_at = :now", "updated_at = :now", f"{EXPIRES_AT} = :expires"]
    values = {
        ":now": {"S": now},
        ":expires": {"N": str(retention.expiry(EventStatus.PROCESSED, now))},
    }
    if fanout_batch is not None:
        clauses.append(f"{FANOUT_BATCH} = :fanout_batch")
        values[":fanout_batch"] = {"S": fanout_batch}
    sets, adds, names, note_values = _note_clauses(note) if note is not None else ([], [], {}, {})
    return _attempt_update(
        table,
        event,
        clauses + sets,
        values | note_values,
        remove=f"{KEPT_MESSAGE}, {OPS_PK}, {OPS_SK}",
        adds=adds,
        names=names,
    )


def compress_message(body: str) -> bytes | None:
    """The message as kept on a FAILED event, or ``None`` when it would not fit in the item."""
    packed = zlib.compress(body.encode("utf-8"))
    return packed if len(packed) <= KEPT_MESSAGE_MAX_BYTES else None


def kept_id(event_id: str) -> str:
    """The key of the item that holds the message a FAILED event kept."""
    return KEPT_PREFIX + event_id


def kept_put(table: str, event_id: str, packed: bytes, expires_at: int) -> dict[str, Any]:
    """PutItem keeping a FAILED event's compressed message in its own item (unconditional: idempotent)."""
    return {
        "TableName": table,
        "Item": {
            "event_id": {"S": kept_id(event_id)},
            KEPT_MESSAGE: {"B": packed},
            EXPIRES_AT: {"N": str(expires_at)},
        },
    }


def kept_message(item: dict[str, Any], kept: dict[str, Any] | None = None) -> str | None:
    """The queued message a FAILED event kept, if any: on its ``kept:`` item, or on the event's (legacy).

    ``item`` is the event's item (plain values), ``kept`` its ``kept:<event_id>`` item if read.
    """
    packed = item.get(KEPT_MESSAGE)
    if packed is None and kept is not None:
        packed = kept.get(KEPT_MESSAGE)
    if packed is None:
        return None
    return zlib.decompress(bytes(packed)).decode("utf-8")


def read_kept_message(client: Any, table: str, event_id: str, item: dict[str, Any]) -> str | None:
    """The message the event ``item`` kept: from the item itself if written so (legacy), else its kept item.

    One strongly consistent GetItem of ``kept:<event_id>`` when the event item holds none.
    """
    if KEPT_MESSAGE in item:
        return kept_message(item)
    return kept_message(item, get_event(client, table, kept_id(event_id), consistent=True))


def read_kept_items(
    client: Any, table: str, event_ids: Sequence[str], *, consistent: bool = False
) -> dict[str, dict[str, Any]]:
    """The ``kept:`` items of ``event_ids`` that exist, by event id (``BatchGetItem`` by 100)."""
    keys = [kept_id(i) for i in event_ids]
    return {
        str(i["event_id"]).removeprefix(KEPT_PREFIX): i
        for i in _read_items(client, table, keys, consistent=consistent)
    }


def failure_update(
    table: str,
    event: EventMetadata,
    error: str,
    status: EventStatus,
    now: str,
    retention: Retention,
) -> dict[str, Any]:
    """Update recording a failed attempt: PROCESSING while SQS will retry, FAILED on the last receive.

    The event enters (or moves within) the ops index and its failed-retention clock restarts. The message a
    FAILED event keeps is written apart, before it (:func:`kept_put`).
    """
    pk, sk = ops_keys(status, event.event_id, event.received_at)
    clauses = [
        "#status = :status",
        "last_error = :error",
        "updated_at = :now",
        f"{OPS_PK} = :ops_pk",
        f"{OPS_SK} = :ops_sk",
        f"{EXPIRES_AT} = :expires",
    ]
    values: dict[str, Any] = {
        ":status": {"S": status},
        ":error": {"S": error},
        ":now": {"S": now},
        ":ops_pk": {"S": pk},
        ":ops_sk": {"S": sk},
        ":expires": {"N": str(retention.expiry(status, now))},
    }
    return _attempt_update(table, event, clauses, values)


def poison_update(
    table: str, message_id: str, error: str, status: EventStatus, now: str, retention: Retention
) -> dict[str, Any]:
    """Update recording a message that is not an event at all, under ``message:<id>`` (``plutus events``)."""
    event_id = poison_id(message_id)
    pk, sk = ops_keys(status, event_id, now)
    return {
        "TableName": table,
        "Key": {"event_id": {"S": event_id}},
        "UpdateExpression": (
            "SET #status = :status, last_error = :error, updated_at = :now, #source = :unknown, "
            "received_at = if_not_exists(received_at, :now), schema_version = :unknown, "
            f"{OPS_PK} = :ops_pk, {OPS_SK} = if_not_exists({OPS_SK}, :ops_sk), {EXPIRES_AT} = :expires "
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
            ":ops_pk": {"S": pk},
            ":ops_sk": {"S": sk},
            ":expires": {"N": str(retention.expiry(status, now))},
        },
    }


def poison_id(message_id: str) -> str:
    """The events-table id under which an unparseable message's failures are recorded."""
    return f"message:{message_id}"


def deserialize(item: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB item as plain Python values (numbers as int where whole)."""
    # Here, not at import: boto3.dynamodb imports boto3 and s3transfer, which the ingest function (it writes
    # events, never reads them) would pay for on every cold start.
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    out: dict[str, Any] = {}
    for key, raw in item.items():
        value = deserializer.deserialize(raw)
        if key == "attempts":
            value = int(value)
        out[key] = value
    return out


def get_event(client: Any, table: str, event_id: str, *, consistent: bool = False) -> dict[str, Any] | None:
    """The event's item, or ``None``."""
    response = client.get_item(TableName=table, Key={"event_id": {"S": event_id}}, ConsistentRead=consistent)
    item = response.get("Item")
    return deserialize(item) if item else None


class NotIndexedError(ValueError):
    """A listing by a status the ops index does not hold (RECEIVED, PROCESSED)."""


def query_by_status(
    client: Any,
    table: str,
    status: EventStatus,
    since: str | None = None,
    page_size: int = 100,
    source: str | None = None,
) -> Iterator[dict[str, Any]]:
    """Events in ``status`` (received at or after ``since``, from ``source``), oldest first, never a Scan.

    Queries every shard of the ops index and merges them by receive time; each page's items are then read
    from the table (``BatchGetItem``) for their attempts and last error. ``source`` is a filter on the
    index's projected ``source``: the index only holds failing events, so the filter reads few it drops.
    """
    if status not in INDEXED_STATUSES:
        raise NotIndexedError(
            f"{status} events are not indexed (only {', '.join(sorted(INDEXED_STATUSES))}): "
            "look one up by id instead"
        )
    shards = [
        _query_shard(client, table, f"{status}#{shard:02d}", since, page_size, source)
        for shard in range(OPS_SHARDS)
    ]
    page: list[str] = []
    for entry in heapq.merge(*shards, key=lambda e: e[OPS_SK]["S"]):
        page.append(entry["event_id"]["S"])
        if len(page) == page_size:
            yield from _read_items(client, table, page)
            page = []
    yield from _read_items(client, table, page)


@dataclass(frozen=True, slots=True)
class OpsFilter:
    """A selection on the ops index: a received_at range on its sort key, source and type on its projection.

    ``since`` is inclusive and ``until`` exclusive (an ``ops_sk`` of ``<until>#<id>`` sorts after ``until``).
    ``source`` and ``event_type`` are a FilterExpression: DynamoDB reads (and bills) every index entry of the
    queried range and drops the others, which is cheap because the index holds only the failing few.
    """

    since: str | None = None
    until: str | None = None
    source: str | None = None
    event_type: str | None = None


def ops_query(table: str, pk: str, selection: OpsFilter, page_size: int = 100) -> dict[str, Any]:
    """``Query`` arguments for one ops-index partition (``<STATUS>#<shard>``) under ``selection``."""
    condition = "#pk = :pk"
    names = {"#pk": OPS_PK}
    values: dict[str, Any] = {":pk": {"S": pk}}
    if selection.since is not None and selection.until is not None:
        condition += " AND #sk BETWEEN :since AND :until"
    elif selection.since is not None:
        condition += " AND #sk >= :since"
    elif selection.until is not None:
        condition += " AND #sk < :until"
    if selection.since is not None:
        values[":since"] = {"S": selection.since}
    if selection.until is not None:
        values[":until"] = {"S": selection.until}
    if selection.since is not None or selection.until is not None:
        names["#sk"] = OPS_SK
    kwargs: dict[str, Any] = {
        "TableName": table,
        "IndexName": OPS_INDEX,
        "KeyConditionExpression": condition,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
        "Limit": page_size,
    }
    filters = []
    for name, value in (("source", selection.source), ("event_type", selection.event_type)):
        if value is not None:
            filters.append(f"#{name} = :{name}")
            names[f"#{name}"] = name
            values[f":{name}"] = {"S": value}
    if filters:
        kwargs["FilterExpression"] = " AND ".join(filters)
    return kwargs


def read_events(
    client: Any, table: str, event_ids: Sequence[str], *, consistent: bool = False
) -> dict[str, dict[str, Any]]:
    """The items of ``event_ids`` that exist, as plain values, by id (``BatchGetItem`` by 100)."""
    return {i["event_id"]: i for i in _read_items(client, table, event_ids, consistent=consistent)}


def _query_shard(
    client: Any, table: str, pk: str, since: str | None, page_size: int, source: str | None
) -> Iterator[dict[str, Any]]:
    kwargs = ops_query(table, pk, OpsFilter(since=since, source=source), page_size)
    while True:
        response = client.query(**kwargs)
        yield from response.get("Items", [])
        if "LastEvaluatedKey" not in response:
            return
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def _read_items(
    client: Any, table: str, event_ids: Sequence[str], *, consistent: bool = False
) -> Iterator[dict[str, Any]]:
    # The index is eventually consistent and projects little: the table has the current attempts and error.
    # An id whose item is gone (expired) or has left the listed state meanwhile is still shown as it is now.
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(event_ids), 100):  # BatchGetItem's limit
        chunk = event_ids[start : start + 100]
        request: dict[str, Any] = {
            table: {"Keys": [{"event_id": {"S": i}} for i in chunk], "ConsistentRead": consistent}
        }
        while request:
            response = client.batch_get_item(RequestItems=request)
            for item in response.get("Responses", {}).get(table, []):
                found[item["event_id"]["S"]] = item
            request = response.get("UnprocessedKeys") or {}
    for event_id in event_ids:
        if event_id in found:
            yield deserialize(found[event_id])


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


@dataclass(frozen=True, slots=True)
class Commit:
    """One event and the effects its handlers returned, to be committed with its move to PROCESSED."""

    event: QueuedEvent
    effects: Sequence[Effect]
    fanout_batch: str | None = None  # the fan-out batch its PROCESSED record names (fan-out on)


# TransactWriteItems' limits: 100 items and 4 MB of items per call (sized here with room to spare).
MAX_TRANSACT_ITEMS = 100
MAX_TRANSACT_BYTES = 4_000_000


def _item_key(item: dict[str, Any]) -> str:
    (request,) = item.values()
    key = request.get("Key") or {k: request["Item"][k] for k in ("pk", "sk")}
    return json.dumps([request["TableName"], key], sort_keys=True)


def _transactions(events: Sequence[list[dict[str, Any]]]) -> list[list[int]]:
    """Group events (each its list of transact items) into transactions, in order: at most 100 items and
    4 MB each, never two operations on one item in one transaction (DynamoDB rejects that), and an event
    that shares an item with an earlier one goes to a later transaction than it, so they commit in order.
    """
    groups: list[list[int]] = []
    sizes: list[tuple[int, int]] = []  # items, bytes
    keys: list[set[str]] = []
    for index, items in enumerate(events):
        own = {_item_key(item) for item in items}
        size = len(json.dumps(items))
        first = 1 + max((g for g, held in enumerate(keys) if held & own), default=-1)
        target = next(
            (
                g
                for g in range(first, len(groups))
                if sizes[g][0] + len(items) <= MAX_TRANSACT_ITEMS and sizes[g][1] + size <= MAX_TRANSACT_BYTES
            ),
            None,
        )
        if target is None:
            groups.append([])
            sizes.append((0, 0))
            keys.append(set())
            target = len(groups) - 1
        groups[target].append(index)
        sizes[target] = (sizes[target][0] + len(items), sizes[target][1] + size)
        keys[target] |= own
    return groups


def _code(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return type(exc).__name__


# The last receive's FAILED write is what tells an operator the message is in the DLQ; it gets a few more
# tries (each with botocore's own retries) than an intermediate PROCESSING write.
FINAL_FAILURE_WRITE_RETRIES = RETRIES


class EventsRepository:
    """The events table as the consumer uses it: commit, failure and poison writes, each with its guard."""

    def __init__(self, client: Any, table: str, state_table: str, retention: Retention) -> None:
        self.client = client
        self.table = table
        self.state_table = state_table
        self.retention = retention

    def get(self, event_id: str, *, consistent: bool = False) -> dict[str, Any] | None:
        """The event's item as plain values, or ``None``."""
        return get_event(self.client, self.table, event_id, consistent=consistent)

    def is_processed(self, event_id: str) -> bool:
        """Whether the event is PROCESSED (a strongly consistent read)."""
        item = self.get(event_id, consistent=True)
        return bool(item and item.get("status") == EventStatus.PROCESSED)

    def processed(self, event_ids: Sequence[str]) -> set[str]:
        """Which of ``event_ids`` are PROCESSED (strongly consistent ``BatchGetItem``, 100 keys per call).

        An id left unread after the retries is not in the answer: its record checks it alone.
        """
        found: set[str] = set()

        def read(request: dict[str, Any]) -> dict[str, Any] | None:
            response = self.client.batch_get_item(RequestItems=request)
            for item in response.get("Responses", {}).get(self.table, []):
                if item.get("status", {}).get("S") == EventStatus.PROCESSED:
                    found.add(item["event_id"]["S"])
            left: dict[str, Any] | None = response.get("UnprocessedKeys")
            return left

        for start in range(0, len(event_ids), 100):
            keys = [{"event_id": {"S": i}} for i in event_ids[start : start + 100]]
            until_done(
                read,
                {
                    self.table: {
                        "Keys": keys,
                        "ConsistentRead": True,
                        "ProjectionExpression": "event_id, #status",
                        "ExpressionAttributeNames": {"#status": "status"},
                    }
                },
            )
        return found

    def commit(
        self, event: QueuedEvent, effects: Sequence[Effect], now: str, fanout_batch: str | None = None
    ) -> CommitOutcome:
        """Write ``effects`` and move the event to PROCESSED in one transaction.

        The first item's condition (not PROCESSED yet) is the exactly-once marker: if it fails, the event was
        processed before and nothing is written. An :class:`EventNote` is part of the marker's own update.
        Without state-table effects there is nothing to make atomic: the marker (with its note) alone is one
        conditional ``UpdateItem`` (1 write unit instead of a transaction's 2).
        ``fanout_batch``: see :meth:`committed_batch`.
        """
        note, state = fold_effects(effects)
        marker = processed_update(self.table, event, now, self.retention, fanout_batch, note)
        if not state:
            try:
                self.client.update_item(**marker)
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
                return AlreadyProcessed()
            return Committed()
        items = [{"Update": marker}]
        items += [transact_item(self.state_table, e) for e in state]
        try:
            self.client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            reasons = [r.get("Code", "None") for r in exc.response.get("CancellationReasons", [])]
            if reasons and reasons[0] == "ConditionalCheckFailed":
                return AlreadyProcessed()
            if "TransactionConflict" in reasons or _version_conflict(state, reasons[1:]):
                return Contended()
            return Refused(tuple(reasons))
        return Committed()

    def commit_batch(self, commits: Sequence[Commit], now: str) -> list[CommitOutcome | None]:
        """Commit many events' effects, each with its exactly-once marker, in as few writes as limits allow.

        The caller hands in events that are independent of each other (distinct ids, no item written by two
        of them): each event's marker and effects go into the same ``TransactWriteItems`` (up to 100 items and
        4 MB each), so each event stays all-or-nothing exactly as :meth:`commit` makes it. An event whose
        effects all fold into its marker (notes, or none) is one item of it: a batch of 10 default-handler
        events is one call of 10 items (20 write units). A transaction that would hold one item only is the
        plain conditional ``UpdateItem`` instead (1 unit, same call). When a transaction is cancelled, its
        ``CancellationReasons`` say which events' conditions failed: an event whose marker failed was
        processed before (:class:`AlreadyProcessed`); one whose effect failed, conflicted or was throttled is
        answered ``None`` (commit it alone, with :meth:`commit`, after running its handlers again); the
        others, cancelled only because of them, are retried as one transaction. Any other error answers
        ``None`` for what it carried: a transaction whose outcome is unknown may have landed, and then the
        event's own commit finds its marker and writes nothing.
        """
        outcomes: list[CommitOutcome | None] = [None] * len(commits)
        per_event = [self._items(entry, now) for entry in commits]
        for group in _transactions(per_event):
            if len(group) == 1 and len(per_event[group[0]]) == 1:
                self._commit_marker(commits[group[0]], now, outcomes, group[0])
            else:
                self._commit_group(commits, group, now, outcomes)
        return outcomes

    def _items(self, entry: Commit, now: str) -> list[dict[str, Any]]:
        note, state = fold_effects(entry.effects)
        marker = processed_update(self.table, entry.event, now, self.retention, entry.fanout_batch, note)
        return [{"Update": marker}] + [transact_item(self.state_table, e) for e in state]

    def _commit_marker(
        self, entry: Commit, now: str, outcomes: list[CommitOutcome | None], index: int
    ) -> None:
        """An event alone in its transaction, with nothing but its marker: one conditional ``UpdateItem``."""
        try:
            outcomes[index] = self.commit(entry.event, entry.effects, now, entry.fanout_batch)
        except (ClientError, BotoCoreError) as exc:
            logger.warning("marker write failed; left to the event's own commit", extra={"error": _code(exc)})

    def _commit_group(
        self, commits: Sequence[Commit], pending: list[int], now: str, outcomes: list[CommitOutcome | None]
    ) -> None:
        """One transaction for ``pending``; on a cancellation, settle the culprits and retry the rest."""
        while pending:
            per_event = [self._items(commits[i], now) for i in pending]
            items = [item for event_items in per_event for item in event_items]
            try:
                # A fresh token per attempt: botocore's own retries of this call reuse it, so a transaction
                # that landed but whose answer was lost is not applied twice (DynamoDB keeps tokens 10 min).
                self.client.transact_write_items(TransactItems=items, ClientRequestToken=str(uuid.uuid4()))
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "TransactionCanceledException":
                    logger.warning("batch commit failed", extra={"error": _code(exc), "events": len(pending)})
                    return
                reasons = [r.get("Code") or "None" for r in exc.response.get("CancellationReasons", [])]
                if len(reasons) != len(items):
                    return  # nothing says which events failed: each commits alone
                retry: list[int] = []
                start = 0
                for index, event_items in zip(pending, per_event, strict=True):
                    codes = reasons[start : start + len(event_items)]
                    start += len(event_items)
                    if all(code == "None" for code in codes):
                        retry.append(index)  # cancelled only because another event failed
                    elif codes[0] == "ConditionalCheckFailed":
                        outcomes[index] = AlreadyProcessed()
                    # else: an effect's condition, a conflict or throttling: left to the event's own commit
                if len(retry) == len(pending):
                    return  # cancelled, yet no event's condition failed: each commits alone
                pending = retry
                continue
            except BotoCoreError as exc:
                logger.warning("batch commit failed", extra={"error": _code(exc), "events": len(pending)})
                return
            for index in pending:
                outcomes[index] = Committed()
            return

    def committed_batch(self, event_id: str) -> tuple[str | None, str] | None:
        """(The fan-out batch it was committed in, its processed_at) if the event is PROCESSED, else ``None``.

        A strongly consistent read, made only for a redelivered or duplicate message when fan-out is on.
        """
        item = self.get(event_id, consistent=True)
        if not item or item.get("status") != EventStatus.PROCESSED:
            return None
        return item.get(FANOUT_BATCH), str(item.get("processed_at", ""))

    def published_ids(self, batch: str) -> frozenset[str]:
        """The event ids the publish marker of ``batch`` holds (a strongly consistent read)."""
        item = self.get(FANOUT_MARKER_PREFIX + batch, consistent=True)
        return frozenset((item or {}).get(FANOUT_PUBLISHED, ()))

    def mark_published(self, batch: str, event_ids: Sequence[str], now: str) -> None:
        """Add ``event_ids`` to the publish marker of ``batch``: one write for the whole batch.

        It expires with the events it describes. Raises if DynamoDB refuses: the caller decides (the
        announcements are out already, so at worst a later redelivery publishes them again).
        """
        self.client.update_item(
            TableName=self.table,
            Key={"event_id": {"S": FANOUT_MARKER_PREFIX + batch}},
            UpdateExpression=f"ADD {FANOUT_PUBLISHED} :ids SET {EXPIRES_AT} = :expires",
            ExpressionAttributeValues={
                ":ids": {"SS": sorted(set(event_ids))},
                ":expires": {"N": str(self.retention.expiry(EventStatus.PROCESSED, now))},
            },
        )

    def record_failure(
        self, event: EventMetadata, error: str, status: EventStatus, now: str, message: str | None = None
    ) -> None:
        """Count a failed attempt (PROCESSING, or FAILED keeping ``message`` for replay). Never raises.

        The kept message goes first, into its own item: written before the status, a FAILED event is never
        seen without the message it keeps (unless that write failed, which is logged, as a message too large
        to keep is).
        """
        packed = compress_message(message) if message is not None else None
        if packed is not None:
            self._keep(event.event_id, packed, self.retention.expiry(EventStatus.FAILED, now))
        update = failure_update(self.table, event, error, status, now, self.retention)
        self._write_failure(update, final=status is EventStatus.FAILED)

    def _keep(self, event_id: str, packed: bytes, expires_at: int) -> None:
        self._retried(
            self.client.put_item, kept_put(self.table, event_id, packed, expires_at), "keep message", True
        )

    def record_poison(self, message_id: str, error: str, status: EventStatus, now: str) -> None:
        """Count a failed attempt of a message that is not an event. Never raises."""
        self._write_failure(
            poison_update(self.table, message_id, error, status, now, self.retention),
            final=status is EventStatus.FAILED,
        )

    def _write_failure(self, update: dict[str, Any], final: bool) -> None:
        # Whatever happens here, the record is still reported failed and SQS keeps the message. A refused
        # condition means the event is PROCESSED already: a concurrent delivery won.
        self._retried(
            self.client.update_item, update, "record failure", final, "ConditionalCheckFailedException"
        )

    @staticmethod
    def _retried(call: Any, request: dict[str, Any], what: str, final: bool, settled_by: str = "") -> None:
        """``call(**request)``, retried ``FINAL_FAILURE_WRITE_RETRIES`` more times if ``final``; an error is
        logged, never raised. ``settled_by``: an error code that means there is nothing left to do."""

        def send(pending: dict[str, Any]) -> dict[str, Any] | None:
            try:
                call(**pending)
            except ClientError as exc:
                code = exc.response["Error"]["Code"]
                if code == settled_by:
                    return None
                logger.warning(f"could not {what}", extra={"error": code})
                return pending
            except BotoCoreError as exc:
                logger.warning(f"could not {what}", extra={"error": type(exc).__name__})
                return pending
            return None

        until_done(send, request, retries=FINAL_FAILURE_WRITE_RETRIES if final else 0)


def _version_conflict(effects: Sequence[StateEffect], reasons: Sequence[str]) -> bool:
    # A failed condition on an effect that guards a version means state moved under the handler.
    return any(
        code == "ConditionalCheckFailed" and getattr(effect, "expect_version", None) is not None
        for effect, code in zip(effects, reasons, strict=False)
    )
