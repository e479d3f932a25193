"""Large payloads: the pointer a queued message carries instead of a payload stored in S3.

Pure models and functions; :mod:`plutus.adapters.payload_store` does the storing and fetching.

A queued message is either a :class:`~plutus.core.envelope.QueuedEvent` (the payload inline, as it always
was) or a :class:`PointerEvent`, whose ``payload_ref`` names the object holding the payload's canonical JSON
with its size and SHA-256. Up to ``Settings.inline_message_max_bytes`` the payload travels in the message;
above it, in the object. Handlers never see a pointer: the consumer resolves it, and checks the digest,
before dispatch.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter

from plutus.core.envelope import EventMetadata, QueuedEvent, canonical_json

# Objects live under one prefix, one per event id and content digest: a retried ingest of the same event
# rewrites the same object (the same bytes), so retries never orphan copies; and two renderings of one
# provider event (same event id, other bytes) never overwrite the object the other's pointer names.
PAYLOAD_PREFIX = "payloads/"
Sha256Hex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


def payload_prefix(event_id: str) -> str:
    """Where an event's stored payloads live (one per distinct content)."""
    return f"{PAYLOAD_PREFIX}{event_id}/"


def payload_key(event_id: str, sha256: str) -> str:
    """The object key of an event's stored payload whose SHA-256 is ``sha256``."""
    return f"{payload_prefix(event_id)}{sha256}.json"


def sha256_hex(data: bytes) -> str:
    """The SHA-256 of ``data``, as lowercase hex."""
    return hashlib.sha256(data).hexdigest()


class PayloadPointer(BaseModel):
    """Where an event's payload is stored, and what it must hash to."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    bucket: str = Field(min_length=3, max_length=63)
    key: str = Field(min_length=1, max_length=1024)
    size: int = Field(ge=0)
    sha256: Sha256Hex


class PointerEvent(EventMetadata):
    """The SQS message body of an event whose payload is stored in S3."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    payload_ref: PayloadPointer

    def to_message_body(self) -> str:
        """Serialise for SQS (ASCII-only canonical JSON), as :meth:`QueuedEvent.to_message_body`."""
        return canonical_json(self.model_dump())


QueuedMessage = QueuedEvent | PointerEvent
_MESSAGE: TypeAdapter[QueuedMessage] = TypeAdapter(QueuedMessage)


def parse_message(body: str | bytes) -> QueuedMessage:
    """A queued message body, inline or pointer; raises pydantic's ``ValidationError`` otherwise."""
    return _MESSAGE.validate_json(body)


def payload_bytes(payload: dict[str, Any]) -> bytes:
    """What is stored for a payload: its canonical JSON, the same text an inline message carries."""
    return canonical_json(payload).encode("ascii")


def pointer_for(bucket: str, event_id: str, data: bytes) -> PayloadPointer:
    """The pointer to ``data`` stored as the payload of ``event_id`` in ``bucket``."""
    digest = sha256_hex(data)
    return PayloadPointer(bucket=bucket, key=payload_key(event_id, digest), size=len(data), sha256=digest)


def pointer_message(event: QueuedEvent, pointer: PayloadPointer) -> PointerEvent:
    """``event``'s message with its payload replaced by ``pointer``."""
    return PointerEvent(**event.model_dump(exclude={"payload"}), payload_ref=pointer)


def resolved(message: PointerEvent, payload: dict[str, Any]) -> QueuedEvent:
    """The inline event a pointer message stands for, once its payload is fetched and checked."""
    return QueuedEvent(**message.model_dump(exclude={"payload_ref"}), payload=payload)
