"""Payloads too large for the queued message, stored in S3 (the template's ``PayloadBucket``).

The one place that knows how a large payload is stored and found again: ingest puts it before sending the
pointer message (:meth:`PayloadStore.put`), the consumer resolves a pointer before dispatch
(:meth:`PayloadStore.resolve`), and a FAILED event too large to keep on its item keeps a pointer instead
(:meth:`PayloadStore.keepable`). Nothing here logs a payload, not even on a digest mismatch.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from plutus.core.envelope import QueuedEvent
from plutus.core.errors import PayloadIntegrityError
from plutus.core.payloads import (
    PayloadPointer,
    PointerEvent,
    QueuedMessage,
    parse_message,
    payload_bytes,
    payload_key,
    pointer_for,
    pointer_message,
    resolved,
    sha256_hex,
)
from plutus.observability import logger

# A FAILED event keeps its message on its item up to this size (uncompressed; the item stops at 400 KB),
# above it a pointer message to a stored copy of the payload.
KEEP_ON_ITEM_MAX_BYTES = 300_000
_MISSING = {"NoSuchKey", "404", "NotFound"}


class PayloadStore:
    """Puts and fetches event payloads in one bucket, under ``payloads/<event_id>/<sha256>.json``.

    ``client`` is a getter: S3's client (its service model is large) is built on the first large payload,
    so a function that never meets one does not pay for it at cold start.
    """

    def __init__(self, client: Callable[[], Any], bucket: str) -> None:
        self._client = client
        self.bucket = bucket

    def pointer(self, event_id: str, data: bytes) -> PayloadPointer:
        """The pointer ``data`` gets once stored as ``event_id``'s payload (nothing is written)."""
        return pointer_for(self.bucket, event_id, data)

    def put(self, pointer: PayloadPointer, data: bytes) -> None:
        """Store ``data`` where ``pointer`` says. A retry rewrites the same key with the same bytes.

        S3 checks the SHA-256 on arrival (``ChecksumSHA256``), so a corrupted upload is refused, not stored.
        """
        self._client().put_object(
            Bucket=pointer.bucket,
            Key=pointer.key,
            Body=data,
            ContentType="application/json",
            ChecksumSHA256=base64.b64encode(bytes.fromhex(pointer.sha256)).decode("ascii"),
        )

    def try_put(self, pointer: PayloadPointer, data: bytes) -> bool:
        """:meth:`put`, answering whether it was stored (S3's errors are logged by class, not raised)."""
        try:
            self.put(pointer, data)
        except (ClientError, BotoCoreError) as exc:
            logger.warning("payload not stored", extra={"error": type(exc).__name__})
            return False
        return True

    def resolve(self, message: QueuedMessage) -> QueuedEvent:
        """The inline event a message stands for: itself, or its pointer's payload fetched and checked.

        Raises :class:`PayloadIntegrityError` (permanent) when the object is missing, is not the event's own,
        or does not match its size and digest; S3's other errors (throttling, timeouts) propagate for SQS to
        retry.
        """
        if isinstance(message, QueuedEvent):
            return message
        data = self.fetch(message)
        try:
            payload = json.loads(data)
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            raise PayloadIntegrityError("the stored payload is not a JSON object")
        return resolved(message, payload)

    def fetch(self, message: PointerEvent) -> bytes:
        """The stored payload's bytes, checked against the pointer's size and SHA-256."""
        pointer = message.payload_ref
        # Deny by default: a pointer may only name this bucket and its own event's key, so a forged message
        # cannot make the consumer read (and a handler act on) any other object the function may read.
        if pointer.bucket != self.bucket or pointer.key != payload_key(message.event_id, pointer.sha256):
            raise PayloadIntegrityError("the payload pointer names another bucket or key than its event's")
        try:
            response = self._client().get_object(Bucket=pointer.bucket, Key=pointer.key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                raise PayloadIntegrityError("the stored payload is missing (expired or deleted)") from None
            raise
        # At most one byte more than promised: enough to tell a longer object, never an unbounded read.
        data: bytes = response["Body"].read(pointer.size + 1)
        if len(data) != pointer.size:
            raise PayloadIntegrityError(
                f"the stored payload has {len(data)}{'+' if len(data) > pointer.size else ''} bytes; "
                f"its pointer says {pointer.size}"
            )
        if sha256_hex(data) != pointer.sha256:
            raise PayloadIntegrityError(f"the stored payload does not match its sha256 {pointer.sha256}")
        return data

    def keepable(self, body: str) -> str:
        """What a FAILED event keeps for replay: its message, or a pointer message when it is too large.

        A pointer message is kept as it is (replay re-enqueues the pointer). An inline message too large for
        the item has its payload stored, as ingest would have stored it; if that fails, the message is
        returned as it is (the events table keeps it if it fits, and the DLQ copy remains).
        """
        if len(body) <= KEEP_ON_ITEM_MAX_BYTES:
            return body
        try:
            message = parse_message(body)
        except ValidationError:
            return body
        if not isinstance(message, QueuedEvent):
            return body
        data = payload_bytes(message.payload)
        pointer = self.pointer(message.event_id, data)
        if not self.try_put(pointer, data):
            return body
        return pointer_message(message, pointer).to_message_body()
