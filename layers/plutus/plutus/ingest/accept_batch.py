"""The batch ingest use case: many events, a handful of AWS calls, one outcome per event, in order.

For N new events it costs one ``BatchGetItem`` (which keys were seen), one ``TransactWriteItems`` claiming the
new keys (Powertools-format INPROGRESS records, each under Powertools' own condition), ``SendMessageBatch`` by
10, and one ``TransactWriteItems`` per 50 events that completes their records and writes them RECEIVED, as the
single path does per event. Every batch API can fail in part, and each partial failure is handled:

- ``UnprocessedKeys``: retried; keys still unread are claimed like new ones, and their condition decides.
- a cancelled claim: the reasons say which keys conflicted. Keys whose stored record came back are answered
  from it; the rest of the batch is retried without them; only the conflicting keys are claimed one by one.
- ``Failed`` send entries: retried unless the sender is at fault; an event still not queued is answered 503
  and its claim deleted (it also expires at ``in_progress_expiration``), so the client's retry works.
- a failed completion: retried, then per event; an event still not completed is answered 503 and its claim
  deleted. Its message is queued, so the consumer processes it, and a retry converges on the same event id.

No event is answered 202 unless its message was accepted by SQS and its record completed.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard

from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from botocore.exceptions import BotoCoreError, ClientError

from plutus.adapters import events_store
from plutus.adapters import idempotency_records as records
from plutus.adapters.idempotency_records import Clock, Seen
from plutus.core.envelope import IngestResult, utc_now
from plutus.core.errors import EventNotQueuedError, InvalidEventError
from plutus.ingest.accept import IngestCommand, queued_message, trace_attributes
from plutus.observability import logger
from plutus.settings import Settings

# Service limits per call.
MAX_GET_KEYS = 100
MAX_TRANSACT_ITEMS = 100
MAX_SEND_ENTRIES = 10
MAX_SEND_BYTES = 262_144
MAX_DELETE_REQUESTS = 25
# Extra attempts after a partial failure, with a short exponential backoff.
RETRIES = 2
BACKOFF_SECONDS = 0.05
# An INPROGRESS claim outlives no invocation: without a Lambda context, the ingest function's timeout.
DEFAULT_IN_PROGRESS_MS = 15_000


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one event: accepted (new), replayed (seen before), or an error to answer."""

    event_id: str | None = None
    replayed: bool = False
    error: Exception | None = None


@dataclass(frozen=True, slots=True)
class _Event:
    index: int
    rid: str
    validation: str
    result: IngestResult
    body: str
    attributes: dict[str, Any]


def _chunks[T](items: Sequence[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _name(exc: Exception) -> str:
    return _code(exc) if isinstance(exc, ClientError) else type(exc).__name__


def _cancelled(exc: Exception) -> TypeGuard[ClientError]:
    return isinstance(exc, ClientError) and _code(exc) == "TransactionCanceledException"


def _backoff(attempt: int) -> None:
    time.sleep(BACKOFF_SECONDS * 2**attempt)


def _not_queued() -> Outcome:
    return Outcome(error=EventNotQueuedError("the event could not be stored or queued; retry it"))


def _answer(event: _Event, verdict: Seen, event_id: str | None) -> Outcome:
    if verdict is Seen.REPLAY:
        return Outcome(event_id=event_id or event.result.event_id, replayed=True)
    if verdict is Seen.REUSED:
        return Outcome(error=IdempotencyValidationError("Payload does not match stored record for this key"))
    return Outcome(error=IdempotencyAlreadyInProgressError("a request with this key is in progress"))


class BatchIngest:
    """``BatchIngest(...)(items)``: one :class:`Outcome` per item, in order."""

    def __init__(
        self, settings: Settings, dynamodb: Any, sqs: Any, remaining_ms: Callable[[], int | None]
    ) -> None:
        self.settings = settings
        self.dynamodb = dynamodb
        self.sqs = sqs
        self.remaining_ms = remaining_ms

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
            elif event.rid in firsts:
                followers.append((index, firsts[event.rid], event.validation))
            else:
                firsts[event.rid] = event
        clock = Clock.read()
        fresh = self._screen(list(firsts.values()), clock, outcomes)
        claimed = self._claim(fresh, clock, outcomes)
        queued = self._enqueue(claimed, outcomes)
        self._complete(queued, outcomes)
        for index, first, validation in followers:
            outcomes[index] = self._follow(outcomes[first.index], validation == first.validation)
        return [outcomes[index] for index in range(len(items))]

    def _event(self, index: int, command: IngestCommand, received_at: str) -> _Event | Exception:
        result = IngestResult(
            event_id=command.event_id,
            source=command.source,
            event_type=command.event_type,
            schema_version=command.schema_version,
            received_at=received_at,
        )
        # Its size was checked as the single endpoint checks it (parsing.event_size); what is left is the
        # queue's own limit on the ASCII-escaped message, checked by queued_message for both paths alike.
        try:
            body, attributes = queued_message(command, received_at)
        except InvalidEventError as exc:
            return exc
        return _Event(
            index,
            records.record_id(self.settings.idempotency_key_prefix, command.source, command.idempotency_key),
            records.validation_hash(command.digest),
            result,
            body,
            attributes,
        )

    @staticmethod
    def _follow(first: Outcome, same_content: bool) -> Outcome:
        # A key repeated inside one batch: the repeat is a duplicate of the first occurrence.
        if not same_content:
            return Outcome(error=IdempotencyValidationError("Payload does not match an earlier event's"))
        if first.error is None:
            return Outcome(event_id=first.event_id, replayed=True)
        return first

    def _screen(self, events: list[_Event], clock: Clock, outcomes: dict[int, Outcome]) -> list[_Event]:
        """One consistent ``BatchGetItem`` per 100 keys: answer the keys already seen, return the rest."""
        table = self.settings.idempotency_table
        found: dict[str, dict[str, Any]] = {}
        for chunk in _chunks([e.rid for e in events], MAX_GET_KEYS):
            request: dict[str, Any] = {
                table: {"Keys": [{records.KEY_ATTR: {"S": rid}} for rid in chunk], "ConsistentRead": True}
            }
            for attempt in range(1 + RETRIES):
                try:
                    response = self.dynamodb.batch_get_item(RequestItems=request)
                except (ClientError, BotoCoreError) as exc:
                    # Unread keys are claimed like new ones: the claim's condition is the real guard.
                    logger.warning("batch read failed", extra={"error": type(exc).__name__})
                    break
                for item in response.get("Responses", {}).get(table, []):
                    found[item[records.KEY_ATTR]["S"]] = item
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
                _backoff(attempt)
        fresh = []
        for event in events:
            verdict, event_id = records.classify(found.get(event.rid), event.validation, clock)
            if verdict is Seen.FREE:
                fresh.append(event)
            else:
                outcomes[event.index] = _answer(event, verdict, event_id)
        return fresh

    def _claim(self, events: list[_Event], clock: Clock, outcomes: dict[int, Outcome]) -> list[_Event]:
        """Write the INPROGRESS records in transactions; only keys that conflicted are claimed alone."""
        expiry = clock.now + self.settings.idempotency_expiry_seconds
        deadline_ms = clock.now_ms + (self.remaining_ms() or DEFAULT_IN_PROGRESS_MS)
        table = self.settings.idempotency_table
        puts = {
            e.rid: records.in_progress_put(table, e.rid, e.validation, expiry, deadline_ms, clock)
            for e in events
        }
        claimed: list[_Event] = []
        alone: list[_Event] = []
        for pending in _chunks(events, MAX_TRANSACT_ITEMS):
            for _attempt in range(1 + RETRIES):
                error = self._write([{"Put": puts[e.rid]} for e in pending], str(uuid.uuid4()))
                if error is None:
                    claimed += pending
                    pending = []
                    break
                if not _cancelled(error):
                    logger.warning("claim failed", extra={"error": _name(error)})
                    break
                pending = self._sort_cancelled(error, pending, puts, clock, outcomes, alone, claimed)
                if not pending:
                    break
            else:
                alone += pending  # cancelled again and again: the rest are claimed one by one
                pending = []
            # The service failed and the outcome is unknown: answered 503. A claim that did land expires at
            # in_progress_expiration.
            for event in pending:
                outcomes[event.index] = _not_queued()
        for event in alone:
            if self._claim_alone(event, puts[event.rid], outcomes):
                claimed.append(event)
        return claimed

    @staticmethod
    def _sort_cancelled(
        exc: ClientError,
        pending: list[_Event],
        puts: dict[str, dict[str, Any]],
        clock: Clock,
        outcomes: dict[int, Outcome],
        alone: list[_Event],
        claimed: list[_Event],
    ) -> list[_Event]:
        """Split a cancelled claim: answer keys whose record came back, set conflicts aside, retry others.

        A record identical to the one this claim writes is this claim's own: an earlier attempt landed and its
        answer was lost (DynamoDB would have honoured the ClientRequestToken; not every emulator does).
        """
        reasons = exc.response.get("CancellationReasons") or []
        if len(reasons) != len(pending):
            alone += pending  # reasons missing: nothing says which keys conflicted
            return []
        retry: list[_Event] = []
        for event, reason in zip(pending, reasons, strict=True):
            code = reason.get("Code") or "None"
            if code == "None":
                retry.append(event)  # cancelled only because another key failed
                continue
            if code == "ConditionalCheckFailed" and reason.get("Item") == puts[event.rid]["Item"]:
                claimed.append(event)
                continue
            if code == "ConditionalCheckFailed" and reason.get("Item"):
                verdict, event_id = records.classify(reason["Item"], event.validation, clock)
                if verdict is not Seen.FREE:
                    outcomes[event.index] = _answer(event, verdict, event_id)
                    continue
            alone.append(event)  # TransactionConflict, throttling, or a record that changed meanwhile
        return retry

    def _claim_alone(self, event: _Event, put: dict[str, Any], outcomes: dict[int, Outcome]) -> bool:
        """Powertools' own conditional put for one conflicting key; True if the key is now ours."""
        try:
            self.dynamodb.put_item(**put)
            return True
        except ClientError as exc:
            if _code(exc) != "ConditionalCheckFailedException":
                outcomes[event.index] = _not_queued()
                return False
            old: Any = exc.response.get("Item")  # ReturnValuesOnConditionCheckFailure
            if old == put["Item"]:
                return True  # this very put landed on an attempt whose answer was lost
            verdict, event_id = records.classify(old, event.validation, Clock.read())
            # A record that exists but looks free was rewritten while we looked: someone holds the key now.
            outcomes[event.index] = _answer(
                event, Seen.IN_PROGRESS if verdict is Seen.FREE else verdict, event_id
            )
            return False
        except BotoCoreError:
            outcomes[event.index] = _not_queued()
            return False

    def _enqueue(self, events: list[_Event], outcomes: dict[int, Outcome]) -> list[_Event]:
        """``SendMessageBatch`` by 10 (and by SQS's payload limit); retry failed entries; release the rest."""
        queued: list[_Event] = []
        failed: list[_Event] = []
        trace = trace_attributes()  # the same X-Ray hand-off as the single path, on every message
        for pending in self._send_batches(events):
            for attempt in range(1 + RETRIES):
                try:
                    response = self.sqs.send_message_batch(
                        QueueUrl=self.settings.queue_url,
                        Entries=[
                            {
                                "Id": str(e.index),
                                "MessageBody": e.body,
                                "MessageAttributes": e.attributes,
                                **trace,
                            }
                            for e in pending
                        ],
                    )
                except (ClientError, BotoCoreError) as exc:
                    logger.warning("send failed", extra={"error": type(exc).__name__, "events": len(pending)})
                    break
                sent = {entry["Id"] for entry in response.get("Successful", [])}
                again = {f["Id"] for f in response.get("Failed", []) if not f.get("SenderFault")}
                queued += [e for e in pending if str(e.index) in sent]
                failed += [e for e in pending if str(e.index) not in sent | again]
                pending = [e for e in pending if str(e.index) in again]
                if not pending:
                    break
                _backoff(attempt)
            failed += pending
        if failed:
            logger.warning("events not queued", extra={"events": len(failed)})
            for event in failed:
                outcomes[event.index] = _not_queued()
            self._release(failed)
        return queued

    @staticmethod
    def _send_batches(events: list[_Event]) -> Iterator[list[_Event]]:
        batch: list[_Event] = []
        size = 0
        for event in events:
            length = len(event.body) + sum(
                len(k) + len(v.get("StringValue", "")) + len(v["DataType"])
                for k, v in event.attributes.items()
            )
            if batch and (len(batch) == MAX_SEND_ENTRIES or size + length > MAX_SEND_BYTES):
                yield batch
                batch, size = [], 0
            batch.append(event)
            size += length
        if batch:
            yield batch

    def _complete(self, events: list[_Event], outcomes: dict[int, Outcome]) -> None:
        """Complete the records and write the events RECEIVED: two transact items per event, 50 per call."""
        expiry = Clock.read().now + self.settings.idempotency_expiry_seconds
        failed: list[_Event] = []
        for chunk in _chunks(events, MAX_TRANSACT_ITEMS // 2):
            error = self._transact([item for e in chunk for item in self._completion(e, expiry)])
            if error is None:
                done = chunk
            elif _cancelled(error):
                # e.g. a TransactionConflict with a consumer already writing one of the events: each event on
                # its own, so one event cannot hold back the other 49.
                done = [e for e in chunk if self._transact(self._completion(e, expiry), retries=0) is None]
            else:
                done = []
            finished = {e.index for e in done}
            failed += [e for e in chunk if e.index not in finished]
            for event in done:
                outcomes[event.index] = Outcome(event_id=event.result.event_id)
        if failed:
            logger.warning("events queued but not completed", extra={"events": len(failed)})
            for event in failed:
                outcomes[event.index] = _not_queued()
            self._release(failed)

    def _completion(self, event: _Event, expiry: int) -> list[dict[str, Any]]:
        data = records.response_data(event.result)
        return [
            {
                "Update": records.completed_update(
                    self.settings.idempotency_table, event.rid, expiry, data, event.validation
                )
            },
            {"Update": events_store.accepted_update(self.settings.events_table, event.result)},
        ]

    def _write(self, items: list[dict[str, Any]], token: str) -> ClientError | BotoCoreError | None:
        try:
            self.dynamodb.transact_write_items(TransactItems=items, ClientRequestToken=token)
        except (ClientError, BotoCoreError) as exc:
            return exc
        return None

    def _transact(
        self, items: list[dict[str, Any]], retries: int = RETRIES
    ) -> ClientError | BotoCoreError | None:
        """Unconditional writes, retried; returns the last error, or None once committed."""
        token = str(uuid.uuid4())
        error: ClientError | BotoCoreError | None = None
        for attempt in range(1 + retries):
            if attempt:
                _backoff(attempt - 1)
            # After an unknown outcome the same token makes the retry a no-op if the write landed; a
            # cancelled transaction wrote nothing, so it is simply sent again.
            if error is not None and _cancelled(error):
                token = str(uuid.uuid4())
            error = self._write(items, token)
            if error is None:
                return None
            logger.warning("completion failed", extra={"error": _name(error), "attempt": attempt + 1})
        return error

    def _release(self, events: list[_Event]) -> None:
        """Delete claims whose events were not accepted, so the client's retry is not answered 409."""
        table = self.settings.idempotency_table
        for chunk in _chunks(events, MAX_DELETE_REQUESTS):
            request: dict[str, Any] = {
                table: [{"DeleteRequest": {"Key": {records.KEY_ATTR: {"S": e.rid}}}} for e in chunk]
            }
            for attempt in range(1 + RETRIES):
                try:
                    response = self.dynamodb.batch_write_item(RequestItems=request)
                except (ClientError, BotoCoreError) as exc:
                    logger.warning("release failed", extra={"error": type(exc).__name__})
                    break
                request = response.get("UnprocessedItems") or {}
                if not request:
                    break
                _backoff(attempt)
            if request:
                # Left to expire at in_progress_expiration (the invocation's deadline), as Powertools' are.
                logger.warning(
                    "claims left to expire", extra={"events": sum(len(v) for v in request.values())}
                )
