"""Fan-out of PROCESSED events, collected over one SQS batch and published after its commits.

The exactly-once-ish bookkeeping, where it is enforced:

- A commit names this invocation's batch id on the event's record (:attr:`FanOut.batch_id`, folded into the
  write that moves it to PROCESSED). After the batch's commits, its announcements go out in ``PutEvents``
  calls, and then one write adds the published ids to the batch's publish marker. With fan-out off there is
  no batch id, no marker and no extra write.
- A redelivered (or duplicate) message of a PROCESSED event runs no handler (the consumer's "already
  processed" path); it is announced again only if its batch's marker does not hold it: published once, or
  published now if its first publish failed or never happened (a crash after the commit).
- A record whose announcement could not be published is reported in ``batchItemFailures``: SQS redelivers it
  after the visibility timeout, and the path above publishes it. Acknowledging it instead would lose the
  announcement for good (nothing else lists PROCESSED events). If the bus stays down for ``MaxReceiveCount``
  receives, the message reaches the DLQ; a redrive publishes it, still without running a handler.
- At least once, not exactly once: a crash between ``PutEvents`` and the marker write, or two deliveries of
  one message in flight together, publish twice. Subscribers deduplicate on ``detail.event_id``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from plutus.core.envelope import QueuedEvent, utc_now
from plutus.core.fanout import Announcement, Publisher, PublishLedger, announce
from plutus.observability import logger
from plutus.observability.telemetry import FANOUT_FAILURE, FANOUT_PUBLISHED, TypedMetrics

# Ids per publish marker: well inside DynamoDB's 400 KB item (a batch of 10,000 records uses ten markers).
MARKER_CAPACITY = 1_000


@dataclass
class _Staged:
    announcement: Announcement
    batch: str
    label: str
    message_ids: list[str] = field(default_factory=list)


class FanOut:
    """Collects the announcements of one invocation, then publishes them and records the publish marker.

    One execution environment runs one invocation at a time, so the pending announcements are per
    invocation, like the consumer's :class:`TypedMetrics`.
    """

    def __init__(self, publisher: Publisher, ledger: PublishLedger, *, include_payload: bool) -> None:
        self.publisher = publisher
        self.ledger = ledger
        self.include_payload = include_payload
        self._pending: dict[str, _Staged] = {}
        self._batch = uuid.uuid4().hex
        self._in_batch = 0

    def batch_for_commit(self) -> str:
        """The batch id a commit writes on the event's record (a new one every :data:`MARKER_CAPACITY`)."""
        if self._in_batch == MARKER_CAPACITY:
            self._batch, self._in_batch = uuid.uuid4().hex, 0
        self._in_batch += 1
        return self._batch

    def committed(
        self, message_id: str, event: QueuedEvent, processed_at: str, batch: str, label: str
    ) -> None:
        """Stage the announcement of an event this invocation committed in ``batch``."""
        self._stage(message_id, event, processed_at, batch, label)

    def already_processed(self, message_id: str, event: QueuedEvent, label: str) -> None:
        """Stage the announcement of an event processed before, unless its publish marker holds it."""
        found = self.ledger.committed_batch(event.event_id)
        if found is None:
            return  # not PROCESSED after all (expired): nothing to announce
        batch, processed_at = found
        if batch is not None and event.event_id in self.ledger.published_ids(batch):
            logger.info("already published; not announced again")
            return
        # Processed before fan-out was on (no batch named): announced now, and recorded in this batch.
        self._stage(message_id, event, processed_at, batch or self._batch, label)

    def _stage(self, message_id: str, event: QueuedEvent, processed_at: str, batch: str, label: str) -> None:
        staged = self._pending.get(event.event_id)
        if staged is None:
            announcement = announce(event, processed_at, include_payload=self.include_payload)
            staged = self._pending[event.event_id] = _Staged(announcement, batch, label)
        staged.message_ids.append(message_id)

    def flush(self, metrics: TypedMetrics) -> list[str]:
        """Publish what this invocation staged; returns the message ids whose announcement was not published.

        Called once per invocation, after every record's commit; starts the next invocation's batch.
        """
        pending, self._pending = self._pending, {}
        self._batch, self._in_batch = uuid.uuid4().hex, 0
        if not pending:
            return []
        unpublished = self.publisher.publish([s.announcement for s in pending.values()])
        published: dict[str, list[str]] = {}
        failed: list[str] = []
        for event_id, staged in pending.items():
            if event_id in unpublished:
                metrics.count(staged.label, FANOUT_FAILURE)
                failed.extend(staged.message_ids)
            else:
                metrics.count(staged.label, FANOUT_PUBLISHED)
                published.setdefault(staged.batch, []).append(event_id)
        self._mark(published)
        if failed:
            logger.warning("fan-out failed; records left for redelivery", extra={"unpublished": len(failed)})
        return failed

    def _mark(self, published: dict[str, list[str]]) -> None:
        now = utc_now()
        for batch, event_ids in published.items():
            try:
                self.ledger.mark_published(batch, event_ids, now)
            except Exception as exc:  # the announcements are out: acknowledge, at worst publish again later
                logger.warning("could not record the publish marker", extra={"error": type(exc).__name__})
