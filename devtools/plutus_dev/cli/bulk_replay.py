"""Bulk replay by filter: select events on the ops index, plan, then re-enqueue the messages FAILED ones kept.

The selection is a Query per ops-index shard (never a Scan): ``<STATUS>#<shard>`` as partition key, the
received_at range on the sort key (``<received_at>#<event_id>``), source and type as a FilterExpression on
the index's projection. Each shard's page of entries is then read from the table (``BatchGetItem``) for the
status and attempts, and the FAILED ones' kept messages from their ``kept:`` items (a second
``BatchGetItem``), which decide what happens to each event (:func:`classify`).

A run walks the shards one after the other and, after each event, writes a local checkpoint: per shard, the
index key of the last event handled (a valid ``ExclusiveStartKey``) and the counts so far. ``--resume``
starts each shard from there. The replay marker (:data:`replay.REPLAYED_ATTEMPT`) makes a second run over
the same selection send nothing new, checkpoint or not.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from plutus.adapters import events_store
from plutus.adapters.events_store import OPS_PK, OPS_SHARDS, OPS_SK, EventStatus, OpsFilter
from plutus.core.envelope import utc_now
from plutus_dev.cli import replay
from plutus_dev.cli.bulk import Estimate, TokenBucket, item_bytes
from plutus_dev.emulator.template import ROOT

CHECKPOINT_DIR_ENV = "PLUTUS_CHECKPOINT_DIR"
PAGE_SIZE = 100
# An index entry's size when a page returned none to measure (keys, source and type: about 150 bytes).
INDEX_ENTRY_BYTES = 150


def checkpoint_dir() -> Path:
    """Where checkpoints live: ``PLUTUS_CHECKPOINT_DIR``, else ``.plutus/replay`` in the repository."""
    configured = os.environ.get(CHECKPOINT_DIR_ENV)
    return Path(configured) if configured else ROOT / ".plutus" / "replay"


class Skip(StrEnum):
    """Why a selected event is not re-enqueued."""

    GONE = "gone from the table (expired) since the index listed it"
    PROCESSED = "PROCESSED (its effects are applied once; never re-enqueued)"
    RETRYING = "PROCESSING: SQS still holds and retries its message"
    NO_MESSAGE = "FAILED with no message kept (too large, or unparseable): redrive the DLQ instead"
    ALREADY = "re-enqueued by an earlier replay, no attempt since"


def classify(item: dict[str, Any] | None, kept: dict[str, Any] | None = None) -> Skip | None:
    """``None`` when the event's kept message is to be re-enqueued, else why not.

    ``kept`` is the event's ``kept:`` item, if it has one (an item written before the message moved there
    holds it itself).
    """
    if item is None:
        return Skip.GONE
    status = item.get("status")
    if status == EventStatus.PROCESSED:
        return Skip.PROCESSED
    if status != EventStatus.FAILED:
        return Skip.RETRYING
    if events_store.KEPT_MESSAGE not in item and events_store.KEPT_MESSAGE not in (kept or {}):
        return Skip.NO_MESSAGE
    marker = item.get(replay.REPLAYED_ATTEMPT)
    if marker is not None and int(marker) == int(item.get("attempts", 0)):
        return Skip.ALREADY
    return None


@dataclass(frozen=True)
class Selection:
    """What a bulk replay selects, with its time bounds resolved (received_at strings)."""

    status: EventStatus = EventStatus.FAILED
    source: str | None = None
    event_type: str | None = None
    since: str | None = None
    until: str | None = None

    def ops_filter(self) -> OpsFilter:
        return OpsFilter(since=self.since, until=self.until, source=self.source, event_type=self.event_type)

    def partitions(self) -> list[str]:
        """The ops-index partition keys the selection queries: one per shard of its status."""
        return [f"{self.status}#{shard:02d}" for shard in range(OPS_SHARDS)]

    def describe(self) -> str:
        parts = [f"status {self.status}"]
        parts += [f"source {self.source}"] if self.source else []
        parts += [f"type {self.event_type}"] if self.event_type else []
        parts += [f"received from {self.since}"] if self.since else []
        parts += [f"received before {self.until}"] if self.until else []
        return ", ".join(parts)


def checkpoint_key(events_table: str, options: dict[str, str | None]) -> str:
    """A checkpoint's name: the table and the selection as the operator typed it (``2h`` stays ``2h``).

    The bounds a relative time resolved to are kept in the checkpoint, so a resume selects what the
    interrupted run selected, however much later it runs.
    """
    canonical = json.dumps({"table": events_table, **options}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclass
class Checkpoint:
    """A run's position per shard (the last handled entry's index key) and its counts so far."""

    path: Path
    selection: Selection
    positions: dict[str, dict[str, Any]] = field(default_factory=dict)
    finished: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    complete: bool = False

    def save(self) -> None:
        """Write atomically (a crash leaves the previous checkpoint, never half of one)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "selection": asdict(self.selection),
            "positions": self.positions,
            "finished": self.finished,
            "counts": self.counts,
            "complete": self.complete,
            "updated_at": utc_now(),
        }
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(data, indent=2, sort_keys=True))
        os.replace(temporary, self.path)

    @classmethod
    def load(cls, path: Path) -> Checkpoint:
        data = json.loads(path.read_text())
        selection = data["selection"]
        return cls(
            path,
            Selection(**{**selection, "status": EventStatus(selection["status"])}),
            data["positions"],
            data["finished"],
            data["counts"],
            data["complete"],
        )


@dataclass(frozen=True)
class Page:
    """One Query page of one shard, with its entries' table items and their kept items, by event id."""

    partition: str
    entries: list[dict[str, Any]]
    items: dict[str, dict[str, Any]]
    scanned: int
    last: bool
    kept: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The event ids whose kept item was asked for (a FAILED event's item holding no message itself).
    kept_asked: list[str] = field(default_factory=list)


def walk(
    dynamodb: Any, events_table: str, checkpoint: Checkpoint, *, consistent: bool, page_size: int = PAGE_SIZE
) -> Iterator[Page]:
    """Each shard's pages from where the checkpoint left it; each page's items read from the table."""
    selection = checkpoint.selection
    for partition in selection.partitions():
        if partition in checkpoint.finished:
            continue
        kwargs = events_store.ops_query(events_table, partition, selection.ops_filter(), page_size)
        if partition in checkpoint.positions:
            kwargs["ExclusiveStartKey"] = checkpoint.positions[partition]
        while True:
            response = dynamodb.query(**kwargs)
            entries = response.get("Items", [])
            ids = [e["event_id"]["S"] for e in entries]
            items = (
                events_store.read_events(dynamodb, events_table, ids, consistent=consistent) if ids else {}
            )
            asked = [i for i, item in items.items() if _needs_kept(item)]
            kept = (
                events_store.read_kept_items(dynamodb, events_table, asked, consistent=consistent)
                if asked
                else {}
            )
            after = response.get("LastEvaluatedKey")
            scanned = int(response.get("ScannedCount", len(entries)))
            yield Page(partition, entries, items, scanned, after is None, kept, asked)
            if after is None:
                break
            kwargs["ExclusiveStartKey"] = after


def _needs_kept(item: dict[str, Any]) -> bool:
    # Only a FAILED event is re-enqueued, and one written before messages moved holds its own.
    return item.get("status") == EventStatus.FAILED and events_store.KEPT_MESSAGE not in item


@dataclass
class Plan:
    """What a run would do, and what it would cost."""

    selection: Selection
    selected: int = 0
    messages: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    oldest: str | None = None
    newest: str | None = None
    sample: list[str] = field(default_factory=list)
    run: Estimate = field(default_factory=Estimate)
    spent: Estimate = field(default_factory=Estimate)


def received_at(entry: dict[str, Any]) -> str:
    """An index entry's receive time (its sort key is ``<received_at>#<event_id>``)."""
    return str(entry[OPS_SK]["S"]).rsplit("#", 1)[0]


def plan(
    dynamodb: Any,
    events_table: str,
    checkpoint: Checkpoint,
    sample_size: int = 20,
    page_size: int = PAGE_SIZE,
) -> Plan:
    """Walk the (remaining) selection once with eventually consistent reads and price the run."""
    found = Plan(checkpoint.selection)
    for page in walk(dynamodb, events_table, checkpoint, consistent=False, page_size=page_size):
        entry_sizes = [item_bytes(events_store.deserialize(e)) for e in page.entries]
        average = sum(entry_sizes) // len(entry_sizes) if entry_sizes else INDEX_ENTRY_BYTES
        for estimate in (found.spent, found.run):
            estimate.query(page.scanned * average)
        if page.entries:
            sizes = [item_bytes(i) for i in page.items.values()]
            found.spent.read("BatchGetItem", sizes, consistent=False)
            found.run.read("BatchGetItem", sizes, consistent=True)
        if page.kept_asked:
            # A kept item not found still costs its read unit.
            kept_sizes = [item_bytes(page.kept[i]) if i in page.kept else 0 for i in page.kept_asked]
            found.spent.read("BatchGetItem", kept_sizes, consistent=False)
            found.run.read("BatchGetItem", kept_sizes, consistent=True)
        for entry in page.entries:
            event_id = entry["event_id"]["S"]
            _plan_entry(found, entry, page.items.get(event_id), page.kept.get(event_id), sample_size)
    return found


def _plan_entry(
    found: Plan,
    entry: dict[str, Any],
    item: dict[str, Any] | None,
    kept: dict[str, Any] | None,
    sample_size: int,
) -> None:
    found.selected += 1
    when = received_at(entry)
    found.oldest = min(found.oldest or when, when)
    found.newest = max(found.newest or when, when)
    reason = classify(item, kept)
    if reason is not None:
        found.skipped[reason.name] += 1
        return
    assert item is not None
    found.messages += 1
    if len(found.sample) < sample_size:
        found.sample.append(str(item["event_id"]))
    body = events_store.kept_message(item, kept) or ""
    found.run.sqs("SendMessage", len(body.encode()))
    found.run.write("UpdateItem", item_bytes(item) + 40)  # the marker adds about 40 bytes


@dataclass(frozen=True)
class Handled:
    """One event a run handled: re-enqueued, skipped (and why) or failed (and the error)."""

    event_id: str
    outcome: str
    detail: str = ""


def run(
    dynamodb: Any,
    sqs: Any,
    events_table: str,
    queue_url: str,
    checkpoint: Checkpoint,
    *,
    bucket: TokenBucket,
    stopped: Callable[[], bool],
    on_handled: Callable[[Handled], None] | None = None,
    page_size: int = PAGE_SIZE,
) -> bool:
    """Re-enqueue what the selection holds, from the checkpoint on; ``True`` if it ran to the end.

    The checkpoint is saved after every event, so an interrupted run resumes after the last one it handled.
    """
    counts = Counter(checkpoint.counts)
    for page in walk(dynamodb, events_table, checkpoint, consistent=True, page_size=page_size):
        for entry in page.entries:
            if stopped():
                return False
            item = page.items.get(entry["event_id"]["S"])
            kept = page.kept.get(entry["event_id"]["S"])
            reason = classify(item, kept)
            if reason is None and not bucket.take():
                return False  # stopped while waiting for a token: this event was not handled
            handled = _handle(dynamodb, sqs, events_table, queue_url, entry, item, kept, reason)
            counts["selected"] += 1
            counts[handled.outcome] += 1
            checkpoint.positions[page.partition] = {key: entry[key] for key in ("event_id", OPS_PK, OPS_SK)}
            checkpoint.counts = dict(counts)
            checkpoint.save()
            if on_handled:
                on_handled(handled)
        if page.last:
            checkpoint.finished.append(page.partition)
            checkpoint.positions.pop(page.partition, None)
            checkpoint.save()
    checkpoint.complete = True
    checkpoint.save()
    return True


def _handle(
    dynamodb: Any,
    sqs: Any,
    events_table: str,
    queue_url: str,
    entry: dict[str, Any],
    item: dict[str, Any] | None,
    kept: dict[str, Any] | None,
    reason: Skip | None,
) -> Handled:
    event_id = entry["event_id"]["S"]
    if reason is not None:
        return Handled(event_id, f"skipped:{reason.name}", str(reason))
    assert item is not None
    body = events_store.kept_message(item, kept)
    assert body is not None
    try:
        message_id = replay.resend(sqs, queue_url, item, body)
    except (ClientError, BotoCoreError) as exc:
        return Handled(event_id, "failed", _error(exc))
    # Sent first, marked second: a crash in between re-sends it on the next run, and the consumer absorbs the
    # extra copy; marking first could lose the message instead.
    try:
        replay.mark_replayed(dynamodb, events_table, item, utc_now())
    except (ClientError, BotoCoreError) as exc:
        return Handled(event_id, "re-enqueued", f"message {message_id}; marker not written ({_error(exc)})")
    return Handled(event_id, "re-enqueued", f"message {message_id}")


def _error(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", type(exc).__name__))
    return type(exc).__name__
