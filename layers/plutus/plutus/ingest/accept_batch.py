"""The batch ingest use case: many events, a handful of AWS calls, one outcome per event, in order.

For N new events it costs one ``BatchGetItem`` (which keys were seen), one ``TransactWriteItems`` claiming the
new keys (INPROGRESS records on the events' own items), ``SendMessageBatch`` by 10, and one
``TransactWriteItems`` per 100 events that completes their records and writes them RECEIVED, as the single
path does per event. The
partial failures of those batch calls are the adapters' business (:mod:`plutus.adapters.idempotency_store`,
:mod:`plutus.adapters.queue`); here each event gets its answer:

- a key already seen is answered from its record (200 replay, 409 in progress, 422 reused with new content);
- an event that could not be claimed or queued is answered 503 and its claim released (else it is free again
  at its deadline), so the client's retry works. An event queued but not completed, or whose send failed
  with an unknown outcome (:func:`plutus.adapters.queue.outcome_unknown`), is answered 503 and may be
  processed anyway; its claim is kept until its deadline (a retry is answered 409 until then), because its
  message may be on the queue: released, the key could be claimed again by other content.

No event is answered 202 unless its message was accepted by SQS and its record completed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from plutus.adapters.idempotency_records import Clock, Seen
from plutus.adapters.idempotency_store import Claim, IdempotencyStore
from plutus.adapters.payload_store import PayloadStore
from plutus.adapters.queue import EventQueue, Message
from plutus.core.envelope import IngestResult, utc_now
from plutus.core.errors import (
    EventNotQueuedError,
    IdempotencyKeyReusedError,
    InvalidEventError,
    RequestInProgressError,
)
from plutus.ingest.accept import IngestCommand, Outgoing, group_attributes, queued_message, trace_attributes
from plutus.ingest.idempotent import DEFAULT_IN_PROGRESS_MS
from plutus.observability import logger
from plutus.settings import Settings


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one event: accepted (new), replayed (seen before), or an error to answer."""

    event_id: str | None = None
    replayed: bool = False
    error: Exception | None = None


@dataclass(frozen=True, slots=True)
class _Event:
    index: int
    claim: Claim
    result: IngestResult
    message: Outgoing
    # MessageGroupId (and on FIFO MessageDeduplicationId), as the single path sends them.
    fields: dict[str, Any]


def _not_queued() -> Outcome:
    return Outcome(error=EventNotQueuedError("the event could not be stored or queued; retry it"))


def _answer(event: _Event, seen: Seen) -> Outcome:
    if seen is Seen.REPLAY:
        return Outcome(event_id=event.result.event_id, replayed=True)
    if seen is Seen.REUSED:
        return Outcome(error=IdempotencyKeyReusedError("Payload does not match stored record for this key"))
    return Outcome(error=RequestInProgressError("a request with this key is in progress"))


class BatchIngest:
    """``BatchIngest(...)(items)``: one :class:`Outcome` per item, in order."""

    def __init__(
        self,
        settings: Settings,
        store: IdempotencyStore,
        queue: EventQueue,
        remaining_ms: Callable[[], int | None],
        payloads: PayloadStore | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.queue = queue
        self.remaining_ms = remaining_ms
        self.payloads = payloads

    def __call__(self, items: Sequence[IngestCommand | Exception]) -> list[Outcome]:
        """Deduplicate, store and enqueue the valid items; invalid ones (exceptions) are answered as such."""
        outcomes: dict[int, Outcome] = {}
        firsts: dict[str, _Event] = {}
        followers: list[tuple[int, _Event, str]] = []
        received_at = utc_now()
        for index, item in enumerate(items):
            if isinstance(item, Exception):
                outcomes[index] = Outcome(error=item)
                continue
            event = self._event(index, item, received_at)
            if isinstance(event, Exception):
                outcomes[index] = Outcome(error=event)
            elif event.claim.event_id in firsts:
                followers.append((index, firsts[event.claim.event_id], event.claim.digest))
            else:
                firsts[event.claim.event_id] = event
        clock = Clock.read()
        # The claims' deadline, read with the clock it counts from: the invocation ends then, not later.
        deadline_ms = clock.now_ms + (self.remaining_ms() or DEFAULT_IN_PROGRESS_MS)
        fresh = self._screen(list(firsts.values()), clock, outcomes)
        claimed = self._claim(fresh, clock, deadline_ms, outcomes)
        queued = self._enqueue(self._store_payloads(claimed, outcomes), outcomes)
        self._complete(queued, outcomes)
        for index, first, digest in followers:
            outcomes[index] = self._follow(outcomes[first.index], digest == first.claim.digest)
        return [outcomes[index] for index in range(len(items))]

    def _event(self, index: int, command: IngestCommand, received_at: str) -> _Event | Exception:
        result = IngestResult(
            event_id=command.event_id,
            source=command.source,
            event_type=command.event_type,
            schema_version=command.schema_version,
            received_at=received_at,
        )
        # The event's own size was checked as the single endpoint checks it (parsing.event_size); here, as in
        # accept_event, its \u-escaped message is held to max_body_bytes and, above the inline threshold,
        # becomes a pointer to its stored payload.
        try:
            message = queued_message(command, received_at, self.settings, self.payloads)
        except InvalidEventError as exc:
            return exc
        return _Event(
            index,
            Claim(command.event_id, command.digest),
            result,
            message,
            group_attributes(command, self.settings),
        )

    @staticmethod
    def _follow(first: Outcome, same_content: bool) -> Outcome:
        # A key repeated inside one batch: the repeat is a duplicate of the first occurrence.
        if not same_content:
            return Outcome(error=IdempotencyKeyReusedError("Payload does not match an earlier event's"))
        if first.error is None:
            return Outcome(event_id=first.event_id, replayed=True)
        return first

    def _screen(self, events: list[_Event], clock: Clock, outcomes: dict[int, Outcome]) -> list[_Event]:
        """Answer the keys already seen; return the rest."""
        seen = self.store.seen([e.claim for e in events], clock)
        for event in events:
            if event.claim.event_id in seen:
                outcomes[event.index] = _answer(event, seen[event.claim.event_id])
        return [e for e in events if e.claim.event_id not in seen]

    def _claim(
        self, events: list[_Event], clock: Clock, deadline_ms: int, outcomes: dict[int, Outcome]
    ) -> list[_Event]:
        """Claim the new keys; answer the ones another request holds or that could not be claimed."""
        result = self.store.claim([e.claim for e in events], clock, deadline_ms)
        claimed = set(result.claimed)
        for event in events:
            key = event.claim.event_id
            if key in result.answered:
                outcomes[event.index] = _answer(event, result.answered[key])
            elif key not in claimed:
                outcomes[event.index] = _not_queued()
        return [e for e in events if e.claim.event_id in claimed]

    def _store_payloads(self, events: list[_Event], outcomes: dict[int, Outcome]) -> list[_Event]:
        """Store the payloads of the claimed events that travel as pointers; release those not stored."""
        stored: list[_Event] = []
        failed: list[_Event] = []
        for event in events:
            (stored if event.message.stored(self.payloads) else failed).append(event)
        if failed:
            logger.warning("payloads not stored", extra={"events": len(failed)})
            self._give_up(failed, outcomes)
        return stored

    def _enqueue(self, events: list[_Event], outcomes: dict[int, Outcome]) -> list[_Event]:
        """Queue the claimed events; release the claims of those SQS did not take."""
        # The same X-Ray hand-off as the single path, on every message.
        sent = self.queue.send(
            [Message(str(e.index), e.message.body, e.message.attributes, e.fields) for e in events],
            extra=trace_attributes(),
        )
        failed = [e for e in events if str(e.index) not in sent.accepted]
        if failed:
            logger.warning("events not queued", extra={"events": len(failed)})
            # A message whose send failed with an unknown outcome may be on the queue: its claim is kept until
            # its deadline, as for one queued but not completed; released, the key could be claimed by other
            # content, answered 202, and dropped as a duplicate of this message.
            self._give_up([e for e in failed if str(e.index) not in sent.unknown], outcomes)
            for event in failed:
                outcomes[event.index] = _not_queued()
        return [e for e in events if str(e.index) in sent.accepted]

    def _complete(self, events: list[_Event], outcomes: dict[int, Outcome]) -> None:
        """Complete the records and write the events RECEIVED; answer 503 for those that could not be.

        Their messages are queued, so their claims are kept (see the module's docstring).
        """
        done = self.store.complete(
            [e.result for e in events], {e.claim.event_id: e.claim.digest for e in events}
        )
        for event in events:
            outcomes[event.index] = (
                Outcome(event_id=event.result.event_id) if event.result.event_id in done else _not_queued()
            )
        failed = len(events) - len(done)
        if failed:
            logger.warning("events queued but not completed", extra={"events": failed})

    def _give_up(self, events: list[_Event], outcomes: dict[int, Outcome]) -> None:
        """Answer 503 for events that were claimed but not queued, and release their claims (these very
        claims, by their tokens: never a retry's that took one over)."""
        for event in events:
            outcomes[event.index] = _not_queued()
        self.store.release([e.claim for e in events])
