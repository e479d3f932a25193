"""The consumer use case: one SQS record in, one committed transaction (or a recorded failure) out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from pydantic import ValidationError

from plutus.adapters.dead_letters import DeadLetterQueue
from plutus.adapters.events_store import (
    AlreadyProcessed,
    Commit,
    Committed,
    Contended,
    EventsRepository,
    EventStatus,
    Refused,
)
from plutus.adapters.payload_store import PayloadStore
from plutus.consumer.fanout import FanOut
from plutus.core.effects import Effect, EventNote, StateReader, fold_effects
from plutus.core.envelope import EventMetadata, QueuedEvent, parse_timestamp, utc_now
from plutus.core.errors import (
    BusinessIdConflictError,
    ConcurrentUpdateError,
    EffectRejectedError,
    PayloadIntegrityError,
    PoisonMessageError,
    describe,
    is_permanent,
)
from plutus.core.pack_settings import PackSettings
from plutus.core.payloads import QueuedMessage, parse_message
from plutus.core.registry import EventContext, Handler, Registry
from plutus.core.times import CONSUMER_SLACK, validation_context
from plutus.observability import logger
from plutus.observability.telemetry import (
    BUSINESS_ID_CONFLICT,
    DEFAULT_TYPE,
    DLQ_MESSAGES,
    PROCESSING_DUPLICATE,
    PROCESSING_FAILURE,
    PROCESSING_LAG,
    PROCESSING_RETRY,
    PROCESSING_SUCCESS,
    UNKNOWN_TYPE,
    TypedMetrics,
    event_type_label,
)
from plutus.observability.tracing import RecordTrace, record_trace
from plutus.settings import Settings

REPLAY_ATTRIBUTE = "plutus-replay"
# Items per TransactWriteItems call; one is the event's own marker (which its notes are part of).
MAX_EFFECTS = 99
OPTIMISTIC_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class Settled:
    """A record the batch commit already settled: ``processed`` (committed at ``now``) or ``duplicate``."""

    outcome: str
    now: str
    fanout_batch: str | None = None  # the fan-out batch its commit named (fan-out on)


@dataclass
class ReadLog:
    """The state a handler read (as a ``StateReader``), so the batch commit can tell whether an event's
    handlers saw an item that an earlier event of the same batch writes."""

    state: StateReader
    keys: set[tuple[str, str]] = field(default_factory=set)
    prefixes: list[tuple[str, str]] = field(default_factory=list)

    def get(self, pk: str, sk: str) -> dict[str, Any] | None:
        """One item, or ``None``."""
        self.keys.add((pk, sk))
        return self.state.get(pk, sk)

    def query(
        self, pk: str, sk_prefix: str = "", *, limit: int = 100, newest_first: bool = False
    ) -> list[dict[str, Any]]:
        """Items of one partition whose sort key starts with ``sk_prefix``."""
        self.prefixes.append((pk, sk_prefix))
        return self.state.query(pk, sk_prefix, limit=limit, newest_first=newest_first)

    def saw_any(self, written: set[tuple[str, str]]) -> bool:
        """Whether any item in ``written`` is one this log read (or could have, through a query)."""
        if self.keys & written:
            return True
        return any(
            pk == w_pk and w_sk.startswith(prefix) for pk, prefix in self.prefixes for w_pk, w_sk in written
        )


class Consumer:
    """Processes queued events against the registry, exactly once per event id.

    A failure that no retry can cure (an invalid payload, a poison message, an effect refused by its own rule)
    is FAILED on its first attempt and dead-lettered at once, instead of being received ``MaxReceiveCount``
    times; anything else is left to SQS to retry.
    """

    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        events: EventsRepository,
        state: StateReader,
        dead_letters: DeadLetterQueue | None = None,
        packs: PackSettings | None = None,
        fanout: FanOut | None = None,
        payloads: PayloadStore | None = None,
    ) -> None:
        self.settings = settings
        self.registry = registry
        # Every pack's settings, validated now: a bad PLUTUS_<PACK>_* value fails at init, not per event.
        self.packs = packs if packs is not None else PackSettings.load(registry.settings_models)
        self.events = events
        self.state = state
        self.dead_letters = dead_letters
        # Where pointer messages' payloads are (none: a pointer message fails as permanently unresolvable).
        self.payloads = payloads
        self.metrics = TypedMetrics()
        # Announces PROCESSED events on the fan-out bus (None: fan-out is off, and costs nothing).
        self.fanout = fanout
        # Records of the current batch that settle_batch committed (or found processed), by message id.
        self.settled: dict[str, Settled] = {}

    def settle_batch(self, records: Sequence[SQSRecord]) -> None:
        """Run the handlers of a batch's leading first deliveries and commit them together.

        The batch's first records, as long as each is a first delivery (not a redelivery, not a replay) that
        parses, whose handlers succeed, and that neither reads nor writes an item an earlier one of them
        writes, are committed with :meth:`EventsRepository.commit_batch`: a whole SQS batch of default-handler
        events in one ``TransactWriteItems``. Redeliveries and replays whose event is PROCESSED are found with
        one read for the batch and acknowledged without running anything. Up to the first record that is not
        such, the result is what processing them one by one in order would have given, since no handler saw
        another's writes.
        :meth:`process_record` then only reports what was settled here; every other record (the rest of the
        batch, and any event the batch commit left unsettled) goes through :meth:`process`, one by one, as
        before. Never raises: whatever fails here is left to the per-record path.
        """
        self.settled = {}
        if len(records) < 2:
            return
        try:
            planned = self._plan_batch(records, self._processed_again(records))
            if not planned:
                return
            now = utc_now()
            outcomes = self.events.commit_batch([commit for _, commit in planned], now)
        except Exception as exc:  # the per-record path handles (and reports) every record instead
            logger.warning("batch commit skipped", extra={"error": type(exc).__name__})
            return
        for (message_id, commit), outcome in zip(planned, outcomes, strict=True):
            if isinstance(outcome, Committed):
                self.settled[message_id] = Settled("processed", now, commit.fanout_batch)
            elif isinstance(outcome, AlreadyProcessed):
                self.settled[message_id] = Settled("duplicate", now)

    def _processed_again(self, records: Sequence[SQSRecord]) -> set[str]:
        """Message ids of the batch's redeliveries and replays whose event is PROCESSED (one batched read)."""
        again: dict[str, str] = {}
        for record in records:
            if _first_delivery(record):
                continue
            try:
                again[record.message_id] = QueuedEvent.model_validate_json(record.body).event_id
            except ValidationError:
                continue
        processed = self.events.processed(list(set(again.values()))) if again else set()
        return {message_id for message_id, event_id in again.items() if event_id in processed}

    def _plan_batch(self, records: Sequence[SQSRecord], duplicates: set[str]) -> list[tuple[str, Commit]]:
        planned: list[tuple[str, Commit]] = []
        written: set[tuple[str, str]] = set()
        event_ids: set[str] = set()
        for record in records:
            if record.message_id in duplicates:
                # Processed before: acknowledged without running anything, so it changes nothing for the rest.
                self.settled[record.message_id] = Settled("duplicate", "")
                continue
            if not _first_delivery(record):
                break
            try:
                event = QueuedEvent.model_validate_json(record.body)
                handlers, parsed = self._handlers_for(event)
                reads = ReadLog(self.state)
                effects = run_handlers(handlers, parsed, self._context(event, reads))
            except Exception:  # noqa: BLE001 - this record is processed (and its failure recorded) alone
                break
            writes = {(e.pk, e.sk) for e in effects if not isinstance(e, EventNote)}
            if event.event_id in event_ids or writes & written or reads.saw_any(written):
                break
            event_ids.add(event.event_id)
            written |= writes
            batch = self.fanout.batch_for_commit() if self.fanout else None
            planned.append((record.message_id, Commit(event, effects, batch)))
        return planned

    def _context(self, event: QueuedEvent, state: StateReader) -> EventContext:
        return EventContext(
            event.event_id,
            event.source,
            event.event_type,
            event.schema_version,
            event.received_at,
            state,
            self.settings,
            self.packs,
        )

    def process_record(self, record: SQSRecord) -> str:
        """Handle one record; raises so the batch processor reports it in ``batchItemFailures``."""
        receive_count = int(record.attributes.approximate_receive_count or 1)
        with record_trace(record) as trace:
            try:
                event = parse_message(record.body)
            except ValidationError as exc:
                self._count_delivery(UNKNOWN_TYPE, receive_count)
                poison = PoisonMessageError(describe(exc))
                return self._fail_poison(record, poison, receive_count, trace)

            self._count_delivery(self._label(event), receive_count)
            trace.annotate(
                event_id=event.event_id, event_type=event.event_type or DEFAULT_TYPE, source=event.source
            )
            logger.append_keys(
                event_id=event.event_id, event_type=event.event_type, message_id=record.message_id
            )
            logger.debug("record received", extra={"receive_count": receive_count})
            replay = REPLAY_ATTRIBUTE in (record.message_attributes or {})
            try:
                settled = self.settled.pop(record.message_id, None)
                if settled is not None:
                    return self._report_settled(self._resolve(event), settled, record.message_id)
                # Handlers never see a pointer: its payload is fetched and its digest checked first.
                return self.process(
                    self._resolve(event),
                    receive_count=receive_count,
                    replay=replay,
                    message_id=record.message_id,
                )
            except Exception as exc:
                return self._fail(event, record, exc, receive_count, trace)
            finally:
                logger.remove_keys(["event_id", "event_type", "message_id"])

    def process(
        self,
        event: QueuedEvent,
        *,
        receive_count: int = 1,
        replay: bool = False,
        message_id: str | None = None,
    ) -> str:
        """Run the event's handlers and commit their effects with the exactly-once marker.

        Raises on failure; the caller records it. Domain tests call this with fake repositories.
        ``message_id``: the SQS record's, for fan-out (which reports a record whose publish failed).
        """
        # A first delivery cannot have been processed yet, except for a replay, so only redeliveries and
        # replays pay for the read; the transaction's condition guards every case anyway.
        if (receive_count > 1 or replay) and self.events.is_processed(event.event_id):
            return self._skip_duplicate(event, message_id)
        handlers, parsed = self._handlers_for(event)
        ctx = self._context(event, self.state)
        for attempt in range(1, OPTIMISTIC_ATTEMPTS + 1):
            effects = run_handlers(handlers, parsed, ctx)
            now = utc_now()
            batch = self.fanout.batch_for_commit() if self.fanout and message_id else None
            match self.events.commit(event, effects, now, fanout_batch=batch):
                case Committed():
                    self._record_success(event, now)
                    if self.fanout and message_id and batch:
                        self.fanout.committed(message_id, event, now, batch, self._label(event))
                    return "processed"
                case AlreadyProcessed():
                    return self._skip_duplicate(event, message_id)
                case Contended() if attempt < OPTIMISTIC_ATTEMPTS:
                    continue
                case Contended():
                    raise ConcurrentUpdateError(f"state changed under the handler {attempt} times")
                case Refused(reasons):
                    raise EffectRejectedError(f"effect refused by its condition: {list(reasons)}")
        raise AssertionError("unreachable")  # pragma: no cover

    def _report_settled(self, event: QueuedEvent, settled: Settled, message_id: str) -> str:
        if settled.outcome == "duplicate":
            return self._skip_duplicate(event, message_id)
        self._record_success(event, settled.now)
        if self.fanout and settled.fanout_batch:
            self.fanout.committed(message_id, event, settled.now, settled.fanout_batch, self._label(event))
        return "processed"

    def _resolve(self, message: QueuedMessage) -> QueuedEvent:
        if isinstance(message, QueuedEvent):
            return message
        if self.payloads is None:
            raise PayloadIntegrityError("a payload pointer arrived, and no payload bucket is configured")
        return self.payloads.resolve(message)

    def _label(self, event: EventMetadata) -> str:
        return event_type_label(event.event_type, self.registry)

    def _count_delivery(self, label: str, receive_count: int) -> None:
        if receive_count > 1:
            self.metrics.count(label, PROCESSING_RETRY)

    def _handlers_for(self, event: QueuedEvent) -> tuple[tuple[Handler, ...], Any]:
        if event.event_type is None:
            return (self.registry.default_handler,), event.payload
        try:
            # Payload times are judged against the stored received_at, as ingest judged them (core/times.py).
            window = validation_context(parse_timestamp(event.received_at), self.settings, CONSUMER_SLACK)
            registration, parsed = self.registry.resolve(
                event.event_type, event.schema_version, event.payload, window
            )
        except KeyError:
            # A provider webhook source's types are the provider's: the ones nobody registered get a receipt.
            if self.settings.allow_unregistered_types or event.source in self.settings.webhook_sources:
                return (self.registry.default_handler,), event.payload
            raise PoisonMessageError(
                f"event_type {event.event_type!r} v{event.schema_version} is not registered"
            ) from None
        return registration.handlers or (self.registry.default_handler,), parsed

    def _skip_duplicate(self, event: QueuedEvent, message_id: str | None = None) -> str:
        self.metrics.count(self._label(event), PROCESSING_DUPLICATE)
        logger.info("already processed; acknowledged without running handlers again")
        if self.fanout and message_id:
            # Announced again only if its first publish did not go out (plutus/consumer/fanout.py).
            self.fanout.already_processed(message_id, event, self._label(event))
        return "duplicate"

    def publish_processed(self, response: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
        """After a batch's commits: announce what it processed on the fan-out bus (if on).

        A record of ``event`` whose announcement could not be published joins ``batchItemFailures``: SQS
        redelivers it, and the "already processed" path publishes it without running its handlers again.
        """
        if self.fanout is None:
            return response
        failures = list(response.get("batchItemFailures", []))
        reported = {item["itemIdentifier"] for item in failures}
        # Only this batch's records: Lambda fails a whole batch whose response names a record not in it (one
        # staged by an invocation that raised would be).
        records = {r.get("messageId") for r in event.get("Records", [])} - reported
        failures += [{"itemIdentifier": m} for m in self.fanout.flush(self.metrics) if m in records]
        return response | {"batchItemFailures": failures}

    def _record_success(self, event: QueuedEvent, now: str) -> None:
        label = self._label(event)
        self.metrics.count(label, PROCESSING_SUCCESS)
        lag = (parse_timestamp(now) - parse_timestamp(event.received_at)).total_seconds() * 1000
        self.metrics.observe(label, PROCESSING_LAG, MetricUnit.Milliseconds, lag)
        logger.info("processed")

    def _final(self, exc: BaseException, receive_count: int) -> tuple[bool, bool]:
        """(FAILED now, dead-lettered by us): the last receive SQS allows, or a permanent failure."""
        last = receive_count >= self.settings.max_receive_count
        early = not last and self.dead_letters is not None and is_permanent(exc)
        return last or early, early

    def _fail(
        self, event: EventMetadata, record: SQSRecord, exc: Exception, receive_count: int, trace: RecordTrace
    ) -> str:
        final, early = self._final(exc, receive_count)
        error = describe(exc)
        self._count_failure(self._label(event), final)
        if final and isinstance(exc, BusinessIdConflictError):
            # Once per conflicting event: when it is FAILED (at once, being permanent, or on its last try).
            self.metrics.count(self._label(event), BUSINESS_ID_CONFLICT)
        logger.warning(
            "processing failed", extra={"error": error, "final": final, "permanent": is_permanent(exc)}
        )
        # A FAILED event keeps its message, so it can be replayed by id.
        status = EventStatus.FAILED if final else EventStatus.PROCESSING
        kept = self._kept(record.body) if final else None
        self.events.record_failure(event, error, status, utc_now(), message=kept)
        return self._dead_letter(record, exc, early, trace)

    def _kept(self, body: str) -> str:
        # Kept whatever its size: in its kept item, or as a pointer to a stored copy when too large for it.
        return self.payloads.keepable(body) if self.payloads is not None else body

    def _fail_poison(
        self, record: SQSRecord, exc: PoisonMessageError, receive_count: int, trace: RecordTrace
    ) -> str:
        final, early = self._final(exc, receive_count)
        self._count_failure(UNKNOWN_TYPE, final)
        message_id = record.message_id
        logger.warning("unparseable message", extra={"poison_id": f"message:{message_id}", "error": str(exc)})
        status = EventStatus.FAILED if final else EventStatus.PROCESSING
        self.events.record_poison(message_id, str(exc), status, utc_now())
        return self._dead_letter(record, exc, early, trace)

    def _dead_letter(self, record: SQSRecord, exc: Exception, early: bool, trace: RecordTrace) -> str:
        if not early or self.dead_letters is None:
            # Reported in batchItemFailures: SQS redelivers, then dead-letters after the last receive.
            raise exc
        trace.fault(exc)
        # Sent before the record is acknowledged: if the send fails, the record stays on the queue.
        self.dead_letters.send(record, type(exc).__name__)
        logger.info("permanent failure dead-lettered on its first attempt")
        return "dead-lettered"

    def _count_failure(self, label: str, final: bool) -> None:
        self.metrics.count(label, PROCESSING_FAILURE)
        if final:
            # This was the last receive SQS allows: the message goes to the dead-letter queue next.
            self.metrics.count(label, DLQ_MESSAGES)


def _first_delivery(record: SQSRecord) -> bool:
    """Neither a redelivery nor an operator's replay: the only records that may be processed already."""
    receive_count = int(record.attributes.approximate_receive_count or 1)
    return receive_count == 1 and REPLAY_ATTRIBUTE not in (record.message_attributes or {})


def run_handlers(handlers: tuple[Handler, ...], parsed: Any, ctx: EventContext) -> list[Effect]:
    """Every handler's effects for one event, bounded by what one transaction can commit.

    Notes fold into the event's marker (they take no item of their own); notes that cannot be combined are
    refused here, before anything is written.
    """
    effects: list[Effect] = []
    for handler in handlers:
        effects.extend(handler(parsed, ctx) or ())
    _, state = fold_effects(effects)
    if len(state) > MAX_EFFECTS:
        raise EffectRejectedError(f"{len(state)} effects exceed one transaction ({MAX_EFFECTS})")
    return effects
