"""The consumer use case: one SQS record in, one committed transaction (or a recorded failure) out."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any, cast

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from plutus.adapters import events_store
from plutus.adapters.aws import client
from plutus.adapters.events_store import EventStatus
from plutus.adapters.state_store import DynamoStateReader, transact_item
from plutus.core.effects import Effect
from plutus.core.envelope import QueuedEvent, parse_timestamp, utc_now
from plutus.core.errors import ConcurrentUpdateError, EffectRejectedError, PoisonMessageError, describe
from plutus.core.registry import EventContext, Handler, Registry
from plutus.core.times import CONSUMER_SLACK, validation_context
from plutus.observability import logger, tracer
from plutus.observability.telemetry import (
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
from plutus.observability.tracing import record_trace
from plutus.settings import Settings, get_settings

REPLAY_ATTRIBUTE = "plutus-replay"
# Items per TransactWriteItems call; one is the event's own marker.
MAX_EFFECTS = 99
OPTIMISTIC_ATTEMPTS = 3
# The last receive's FAILED write is what tells an operator the message is in the DLQ; it gets a few more
# tries (each with botocore's own retries) than an intermediate PROCESSING write.
FINAL_FAILURE_WRITE_ATTEMPTS = 3


class Consumer:
    """Processes queued events against the registry, exactly once per event id."""

    def __init__(self, settings: Settings, registry: Registry, dynamodb: Any) -> None:
        self.settings = settings
        self.registry = registry
        self.dynamodb = dynamodb
        self.state = DynamoStateReader(dynamodb, settings.state_table)
        self.metrics = TypedMetrics()

    def process_record(self, record: SQSRecord) -> str:
        """Handle one record; raises so the batch processor reports it in ``batchItemFailures``."""
        receive_count = int(record.attributes.approximate_receive_count or 1)
        final = receive_count >= self.settings.max_receive_count
        with record_trace(record) as trace:
            try:
                event = QueuedEvent.model_validate_json(record.body)
            except ValidationError as exc:
                self._count_delivery(UNKNOWN_TYPE, receive_count)
                self._record_poison(record, exc, final)
                raise PoisonMessageError(describe(exc)) from exc

            self._count_delivery(self._label(event), receive_count)
            trace.annotate(
                event_id=event.event_id, event_type=event.event_type or DEFAULT_TYPE, source=event.source
            )
            logger.append_keys(
                event_id=event.event_id, event_type=event.event_type, message_id=record.message_id
            )
            logger.debug("record received", extra={"receive_count": receive_count})
            try:
                return self._process(event, record, receive_count)
            except Exception as exc:
                self._record_failure(event, exc, final, record.body)
                raise
            finally:
                logger.remove_keys(["event_id", "event_type", "message_id"])

    def _label(self, event: QueuedEvent) -> str:
        return event_type_label(event.event_type, self.registry)

    def _count_delivery(self, label: str, receive_count: int) -> None:
        if receive_count > 1:
            self.metrics.count(label, PROCESSING_RETRY)

    def _process(self, event: QueuedEvent, record: SQSRecord, receive_count: int) -> str:
        # A first delivery cannot have been processed yet, except for a replay, so only redeliveries and
        # replays pay for the read; the transaction's condition guards every case anyway.
        maybe_done = receive_count > 1 or REPLAY_ATTRIBUTE in (record.message_attributes or {})
        if maybe_done and self._already_processed(event.event_id):
            return self._skip_duplicate(event)

        handlers, parsed = self._handlers_for(event)
        ctx = EventContext(
            event.event_id,
            event.source,
            event.event_type,
            event.schema_version,
            event.received_at,
            self.state,
            self.settings,
        )
        for attempt in range(1, OPTIMISTIC_ATTEMPTS + 1):
            effects: list[Effect] = []
            for handler in handlers:
                effects.extend(handler(parsed, ctx) or ())
            if len(effects) > MAX_EFFECTS:
                raise EffectRejectedError(f"{len(effects)} effects exceed one transaction ({MAX_EFFECTS})")
            now = utc_now()
            items = [{"Update": events_store.processed_update(self.settings.events_table, event, now)}]
            items += [transact_item(self.settings.state_table, e) for e in effects]
            try:
                self.dynamodb.transact_write_items(TransactItems=items)
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "TransactionCanceledException":
                    raise
                reasons = [r.get("Code", "None") for r in exc.response.get("CancellationReasons", [])]
                if reasons and reasons[0] == "ConditionalCheckFailed":
                    return self._skip_duplicate(event)
                if "TransactionConflict" in reasons or self._version_conflict(effects, reasons):
                    if attempt < OPTIMISTIC_ATTEMPTS:
                        continue
                    raise ConcurrentUpdateError(f"state changed under the handler {attempt} times") from exc
                raise EffectRejectedError(f"effect refused by its condition: {reasons}") from exc
            self._record_success(event, now)
            return "processed"
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _version_conflict(effects: list[Effect], reasons: list[str]) -> bool:
        return any(
            code == "ConditionalCheckFailed" and getattr(effect, "expect_version", None) is not None
            for effect, code in zip(effects, reasons[1:], strict=False)
        )

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
            if self.settings.allow_unregistered_types:
                return (self.registry.default_handler,), event.payload
            raise PoisonMessageError(
                f"event_type {event.event_type!r} v{event.schema_version} is not registered"
            ) from None
        return registration.handlers or (self.registry.default_handler,), parsed

    def _already_processed(self, event_id: str) -> bool:
        item = events_store.get_event(self.dynamodb, self.settings.events_table, event_id, consistent=True)
        return bool(item and item.get("status") == EventStatus.PROCESSED)

    def _skip_duplicate(self, event: QueuedEvent) -> str:
        self.metrics.count(self._label(event), PROCESSING_DUPLICATE)
        logger.info("already processed; acknowledged without running handlers again")
        return "duplicate"

    def _record_success(self, event: QueuedEvent, now: str) -> None:
        label = self._label(event)
        self.metrics.count(label, PROCESSING_SUCCESS)
        lag = (parse_timestamp(now) - parse_timestamp(event.received_at)).total_seconds() * 1000
        self.metrics.observe(label, PROCESSING_LAG, MetricUnit.Milliseconds, lag)
        logger.info("processed")

    def _record_failure(self, event: QueuedEvent, exc: BaseException, final: bool, body: str) -> None:
        status = EventStatus.FAILED if final else EventStatus.PROCESSING
        error = describe(exc)
        self._count_failure(self._label(event), final)
        logger.warning("processing failed", extra={"error": error, "final": final})
        # The last receive keeps the message on the event, so a FAILED event can be replayed by id.
        update = events_store.failure_update(
            self.settings.events_table, event, error, status, utc_now(), message=body if final else None
        )
        self._write_failure(update, final)

    def _count_failure(self, label: str, final: bool) -> None:
        self.metrics.count(label, PROCESSING_FAILURE)
        if final:
            # This was the last receive SQS allows: the message goes to the dead-letter queue next.
            self.metrics.count(label, DLQ_MESSAGES)

    def _record_poison(self, record: SQSRecord, exc: BaseException, final: bool) -> None:
        status = EventStatus.FAILED if final else EventStatus.PROCESSING
        self._count_failure(UNKNOWN_TYPE, final)
        poison_id = f"message:{record.message_id}"
        logger.warning("unparseable message", extra={"poison_id": poison_id, "error": describe(exc)})
        update = {
            "TableName": self.settings.events_table,
            "Key": {"event_id": {"S": poison_id}},
            "UpdateExpression": (
                "SET #status = :status, last_error = :error, updated_at = :now, #source = :unknown, "
                "received_at = if_not_exists(received_at, :now), schema_version = :unknown "
                "ADD attempts :one"
            ),
            "ExpressionAttributeNames": {"#status": "status", "#source": "source"},
            "ExpressionAttributeValues": {
                ":status": {"S": status},
                ":error": {"S": describe(exc)},
                ":now": {"S": utc_now()},
                ":unknown": {"S": "unknown"},
                ":one": {"N": "1"},
            },
        }
        self._write_failure(update, final)

    def _write_failure(self, update: dict[str, Any], final: bool) -> None:
        # Whatever happens here, the record is still reported failed and SQS keeps the message.
        attempts = FINAL_FAILURE_WRITE_ATTEMPTS if final else 1
        for attempt in range(1, attempts + 1):
            try:
                self.dynamodb.update_item(**update)
                return
            except ClientError as exc:
                if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                    return  # already PROCESSED: a concurrent delivery won
                error = describe(exc)
            except BotoCoreError as exc:
                error = describe(exc)
            logger.warning("could not record failure", extra={"error": error, "attempt": attempt})


@lru_cache(maxsize=1)
def get_consumer() -> Consumer:
    """The consumer of this execution environment (composition root)."""
    from plutus.domains import get_registry

    return Consumer(get_settings(), get_registry(), client("dynamodb"))


def build_lambda_handler(
    consumer_factory: Callable[[], Consumer] = get_consumer,
) -> Callable[[dict[str, Any], LambdaContext], dict[str, Any]]:
    """The consumer Lambda's entry point: partial batch responses, never a whole-batch exception."""
    # Not raising on an entire-batch failure keeps Lambda from backing off the event source; every record is
    # still listed in batchItemFailures.
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

    # log_event=False whatever POWERTOOLS_LOGGER_LOG_EVENT says: records carry payloads. Metrics are flushed
    # per event type by TypedMetrics, not by Powertools' log_metrics (one dimension value per document).
    @logger.inject_lambda_context(clear_state=True, log_event=False)
    @tracer.capture_lambda_handler(capture_response=False)
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        consumer = consumer_factory()
        try:
            response = process_partial_response(
                event=event, record_handler=consumer.process_record, processor=processor, context=context
            )
        finally:
            consumer.metrics.flush(get_settings().environment)
        return dict(response)

    return cast(Callable[[dict[str, Any], LambdaContext], dict[str, Any]], handler)
