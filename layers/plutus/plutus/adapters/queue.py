"""The events queue as batch ingest uses it: ``SendMessageBatch`` by 10 and by SQS's request size."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from plutus.adapters.retry import until_done
from plutus.core import chunking
from plutus.observability import logger

MAX_SEND_ENTRIES = 10
MAX_SEND_BYTES = 262_144


@dataclass(frozen=True, slots=True)
class Message:
    """One message to send; ``id`` is unique within one call to :meth:`EventQueue.send`."""

    id: str
    body: str
    attributes: dict[str, Any]
    # Entry fields of this message alone: MessageGroupId, MessageDeduplicationId (plutus.core.ordering).
    fields: dict[str, Any] = field(default_factory=dict)

    @property
    def size(self) -> int:
        """What the message counts towards SQS's per-request size."""
        return len(self.body) + sum(
            len(k) + len(v.get("StringValue", "")) + len(v["DataType"]) for k, v in self.attributes.items()
        )


def outcome_unknown(exc: BaseException) -> bool:
    """Whether a failed send may have queued its message(s) all the same.

    Only a refusal SQS answered on the call's one attempt (HTTP 4xx, no retry) is known to have queued
    nothing: botocore retries 5xx answers, throttling and lost connections, and any attempt before the last
    may have been applied with its answer lost.
    """
    if not isinstance(exc, ClientError):
        return True
    metadata = exc.response.get("ResponseMetadata", {})
    return int(metadata.get("HTTPStatusCode", 500)) >= 500 or int(metadata.get("RetryAttempts", 0)) > 0


@dataclass(frozen=True, slots=True)
class Sent:
    """What a send did: the ids SQS accepted, and those it may have (their call failed, outcome unknown)."""

    accepted: set[str] = field(default_factory=set)
    unknown: set[str] = field(default_factory=set)


class EventQueue:
    """Sends messages in batches, retrying entries SQS failed on its side."""

    def __init__(self, client: Any, url: str) -> None:
        self.client = client
        self.url = url

    def send(self, messages: Sequence[Message], extra: dict[str, Any] | None = None) -> Sent:
        """Send ``messages`` (each with the ``extra`` entry fields): which SQS accepted, which it may have."""
        out = Sent()
        current: list[Message] = []  # the entries of the call under way

        def send_batch(pending: list[Message]) -> list[Message] | None:
            current[:] = pending
            entries = [
                {
                    "Id": m.id,
                    "MessageBody": m.body,
                    "MessageAttributes": m.attributes,
                    **(extra or {}),
                    **m.fields,
                }
                for m in pending
            ]
            response = self.client.send_message_batch(QueueUrl=self.url, Entries=entries)
            out.accepted.update(entry["Id"] for entry in response.get("Successful", []))
            # An entry failed by the sender's fault would fail the same way again.
            again = {f["Id"] for f in response.get("Failed", []) if not f.get("SenderFault")}
            return [m for m in pending if m.id in again]

        for batch in chunking.calls(messages, MAX_SEND_ENTRIES, MAX_SEND_BYTES):
            try:
                until_done(send_batch, batch)
            except (ClientError, BotoCoreError) as exc:
                logger.warning("send failed", extra={"error": type(exc).__name__, "events": len(batch)})
                if outcome_unknown(exc):
                    out.unknown.update(m.id for m in current)
        return out
