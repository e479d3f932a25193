"""Fan-out: what the consumer announces on an event bus once an event is PROCESSED, and the bus's limits.

Pure: the announcement's shape, EventBridge's size rules and how announcements are grouped into calls. The
adapter (:mod:`plutus.adapters.fanout`) sends them; :mod:`plutus.consumer.fanout` decides when.

An announcement carries the event's metadata (id, source, type, schema version, received and processed
times) and, only when a setting allows it, its payload. Subscribers deduplicate on ``detail.event_id``:
EventBridge delivers at least once, and so does the publish path (a crash between ``PutEvents`` and the
publish marker publishes again on redelivery).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from plutus.core import chunking
from plutus.core.envelope import QueuedEvent, canonical_json

# PutEvents: at most 10 entries per call, and 256 KB for one entry and for all of a call's entries together.
MAX_ENTRIES_PER_CALL = 10
MAX_REQUEST_BYTES = 256 * 1024
# EventBridge's Source: 1-256 characters from a small alphabet, never starting "aws.".
SOURCE_PREFIX = "plutus."
MAX_SOURCE_CHARS = 256
UNTYPED = "untyped"
_NOT_IN_SOURCE_ALPHABET = re.compile(r"[^A-Za-z0-9._/\-]")


@dataclass(frozen=True, slots=True)
class Announcement:
    """One PutEvents entry: who announces (``source``), what (``detail_type``), and the JSON ``detail``."""

    event_id: str
    source: str
    detail_type: str
    detail: str

    @property
    def size(self) -> int:
        """The entry's size as EventBridge counts it: Source, DetailType and Detail, in UTF-8 bytes."""
        return sum(len(part.encode("utf-8")) for part in (self.source, self.detail_type, self.detail))


def bus_source(source: str) -> str:
    """``plutus.<source>``, kept to EventBridge's alphabet and length (the exact source is in the detail)."""
    return (SOURCE_PREFIX + _NOT_IN_SOURCE_ALPHABET.sub("_", source))[:MAX_SOURCE_CHARS]


def announce(event: QueuedEvent, processed_at: str, *, include_payload: bool) -> Announcement:
    """The announcement of a PROCESSED event.

    With ``include_payload`` the payload goes along unless the entry would exceed EventBridge's 256 KB: then
    the metadata goes alone, flagged ``payload_omitted: "too_large"`` (a subscriber that needs the payload
    reads the event by id instead). The payload is never logged here or by the adapter.
    """
    metadata = {
        "event_id": event.event_id,
        "source": event.source,
        "event_type": event.event_type,
        "schema_version": event.schema_version,
        "received_at": event.received_at,
        "processed_at": processed_at,
        "payload_included": False,
    }
    source, detail_type = bus_source(event.source), event.event_type or UNTYPED
    if include_payload:
        full = Announcement(
            event.event_id,
            source,
            detail_type,
            canonical_json(metadata | {"payload_included": True, "payload": event.payload}),
        )
        if full.size <= MAX_REQUEST_BYTES:
            return full
        metadata["payload_omitted"] = "too_large"
    return Announcement(event.event_id, source, detail_type, canonical_json(metadata))


def calls(announcements: Sequence[Announcement]) -> Iterator[list[Announcement]]:
    """The announcements grouped into PutEvents calls, in order: 10 entries and 256 KB per call at most."""
    return chunking.calls(announcements, MAX_ENTRIES_PER_CALL, MAX_REQUEST_BYTES)


class Publisher(Protocol):
    """Where announcements go (an EventBridge bus); the consumer never sees the client."""

    def publish(self, announcements: Sequence[Announcement]) -> frozenset[str]:
        """Publish ``announcements``; returns the event ids that could not be published (after retries)."""
        ...


class PublishLedger(Protocol):
    """The publish marker: which PROCESSED events were published, kept next to the events' records.

    A commit names the batch it belongs to (a short id on the event's own record, folded into the write
    that moves it to PROCESSED); once a batch's announcements are published, one write records their ids
    under that batch. So fan-out costs one write per batch, not one per event.
    """

    def committed_batch(self, event_id: str) -> tuple[str | None, str] | None:
        """(The batch an event was committed in, its processed_at) if it is PROCESSED, else ``None``."""
        ...

    def published_ids(self, batch: str) -> frozenset[str]:
        """The event ids recorded as published under ``batch``."""
        ...

    def mark_published(self, batch: str, event_ids: Sequence[str], now: str) -> None:
        """Record ``event_ids`` as published under ``batch`` (raises if the write fails)."""
        ...
