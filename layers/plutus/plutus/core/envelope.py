"""The ingest envelope, its canonical form, and the message the queue carries.

Pure functions and models only: nothing here talks to AWS.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

# Fixed namespace for event ids; changing it would change every id Plutus derives.
EVENT_ID_NAMESPACE = uuid.UUID("6f1c2a9e-3d4b-4c8e-9a57-0e1b2c3d4e5f")


_CONTROL = re.compile("[\x00-\x1f\x7f]")


def _no_control_characters(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters (NUL, newline, ...)")
    return value


Identifier = Annotated[
    str,
    StringConstraints(min_length=1, max_length=255, strip_whitespace=False),
    AfterValidator(_no_control_characters),
]
EventTypeName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_.\-]{0,63}$")]
SchemaVersion = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,4}(\.[0-9]{1,4}){0,2}$")]


class IngestRequest(BaseModel):
    """What a producer POSTs to ``/api/v1/ingest``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: Identifier = Field(description="The producing system, e.g. payment_service.")
    schema_version: SchemaVersion = Field(description="Version of the payload's schema, e.g. 1.0.")
    idempotency_key: Identifier = Field(description="Unique per source; retries reuse it.")
    payload: dict[str, Any] = Field(description="The event body. Never logged.")
    event_type: EventTypeName | None = Field(default=None, description="Registered event type, if any.")


def _normalise_numbers(value: Any) -> Any:
    # RFC 8785 (JCS): 100.0 and 100 are the same JSON number, so they must hash the same.
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("numbers must be finite")
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    if isinstance(value, dict):
        return {k: _normalise_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise_numbers(v) for v in value]
    return value


def canonical_json(value: Any) -> str:
    """Canonical JSON: sorted keys, no insignificant whitespace, JCS-normalised numbers.

    ``ensure_ascii`` keeps the text safe for SQS, which rejects some code points JSON allows (NUL, lone
    surrogates); it raises ``ValueError`` for values that cannot be encoded at all.
    """
    return json.dumps(_normalise_numbers(value), sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def content_digest(request: IngestRequest) -> str:
    """SHA-256 of what makes two requests with one key "the same event"."""
    body = {
        "event_type": request.event_type,
        "schema_version": request.schema_version,
        "payload": request.payload,
    }
    return hashlib.sha256(canonical_json(body).encode("ascii")).hexdigest()


def derive_event_id(source: str, idempotency_key: str) -> str:
    """A name-based UUID (RFC 9562 v5) of (source, idempotency key).

    Deterministic on purpose: an ingest that crashed after enqueueing and is retried by the client
    converges on the same event id, so the consumer's per-event idempotency absorbs the second message. And
    one key is one item: the key's idempotency record lives on its event's item
    (:mod:`plutus.adapters.idempotency_records`), so a key reused with other content meets the record of
    the first and is refused, for as long as the event is kept.
    """
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, "\x1f".join((source, idempotency_key))))


def utc_now() -> str:
    """Now, as a sortable ISO-8601 UTC timestamp with microseconds."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_timestamp(value: str) -> datetime:
    """Inverse of :func:`utc_now`."""
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


class EventMetadata(BaseModel):
    """What identifies an accepted event, whatever carries it (the queue message, the ingest result)."""

    model_config = ConfigDict(frozen=True)

    event_id: str
    source: str
    event_type: str | None = None
    schema_version: str
    received_at: str


class QueuedEvent(EventMetadata):
    """The SQS message body: everything the consumer needs, nothing it must look up."""

    payload: dict[str, Any]

    def to_message_body(self) -> str:
        """Serialise for SQS (ASCII-only canonical JSON)."""
        return canonical_json(self.model_dump())


class IngestResult(EventMetadata):
    """What the idempotent use case returns, and what Powertools stores for replays."""

    replayed: bool = False
