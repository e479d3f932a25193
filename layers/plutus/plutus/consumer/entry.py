"""The consumer Lambda's entry point: SQS batches in, partial batch responses out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    SqsFifoPartialProcessor,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from plutus import bootstrap
from plutus.observability import logger, tracer


def build_lambda_handler(
    wiring: bootstrap.Root | None = None,
) -> Callable[[dict[str, Any], LambdaContext], dict[str, Any]]:
    """The consumer's handler on ``wiring`` (default: this environment's root).

    It never raises for a whole batch: failed records are listed in ``batchItemFailures``.
    """
    consumer = (wiring or bootstrap.root()).consumer
    processor = batch_processor(consumer.settings.queue_mode)
    # Not on FIFO: there a record that fails must hold back the rest of its message group, and a batch commit
    # would already have committed the independent records after it.
    batch_commits = consumer.settings.queue_mode != "fifo"

    # log_event=False whatever POWERTOOLS_LOGGER_LOG_EVENT says: records carry payloads. Metrics are flushed
    # per event type by TypedMetrics, not by Powertools' log_metrics (one dimension value per document).
    @logger.inject_lambda_context(clear_state=True, log_event=False)
    @tracer.capture_lambda_handler(capture_response=False)
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        try:
            if batch_commits:
                # The batch's leading first deliveries commit together; each record is still reported alone.
                consumer.settle_batch([SQSRecord(r) for r in event.get("Records") or ()])
            response = process_partial_response(
                event=event, record_handler=consumer.process_record, processor=processor, context=context
            )
            # The one fan-out point: after every commit of the batch, before SQS learns what failed.
            return consumer.publish_processed(dict(response), event)
        finally:
            consumer.metrics.flush(consumer.settings.environment)

    return cast(Callable[[dict[str, Any], LambdaContext], dict[str, Any]], handler)


def batch_processor(queue_mode: str) -> BatchProcessor:
    """The standard queue's ``BatchProcessor``, or on FIFO the processor that keeps each group's order.

    On FIFO a failed record fails the rest of its message group in the batch (``skip_group_on_error``), so
    none of them overtakes it, while other groups (other accounts) go on.
    """
    processor = (
        SqsFifoPartialProcessor(skip_group_on_error=True)
        if queue_mode == "fifo"
        else BatchProcessor(event_type=EventType.SQS)
    )
    # Not raising on an entire-batch failure keeps Lambda from backing off the event source; every record is
    # still listed in batchItemFailures.
    processor.raise_on_entire_batch_failure = False
    return processor
