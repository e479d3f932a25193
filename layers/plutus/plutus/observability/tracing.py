"""X-Ray across the queue: ingest hands its trace to SQS, and the consumer traces each record against it.

On AWS, X-Ray links the trace of an SQS-triggered Lambda invocation to the traces of its records' producers
(trace linking), provided each message carries the ``AWSTraceHeader`` system attribute. Lambda owns the
invocation's segment and the SDK discards any segment created inside a function, so the consumer does not
re-parent work into the producer's trace: each record gets its own subsegment of the consumer's trace,
annotated with the producer's trace id and the event's ids. ``annotation.event_id = "<id>"`` then finds the
ingest trace and the consumer trace of one event; ``annotation.producer_trace_id`` leads from one to the
other.

Everything here is a no-op when tracing is disabled (tests, the embedded stack).
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

# Only the SDK's switch here: aws_xray_sdk.core builds an X-Ray client when imported (as long as an import of
# boto3 on a cold start), so it is imported where it is used, once tracing is known to be on.
from aws_xray_sdk import global_sdk_config

# Type-only: ingest imports this module for the outgoing header, and Powertools' data classes are the
# consumer's (about 15 ms of a cold start).
if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

SQS_TRACE_HEADER = "AWSTraceHeader"
RECORD_SUBSEGMENT = "## process_record"


def outgoing_trace_header() -> str | None:
    """The X-Ray header of the current trace entity, for a message's ``AWSTraceHeader`` (None if not tracing).

    The patched botocore already sends ``X-Amzn-Trace-Id`` with ``SendMessage``; the explicit attribute takes
    precedence over it in SQS, keeps the hand-off working if auto-patching is turned off, and is what
    AWS-compatible emulators (which ignore the HTTP header) store.
    """
    if not global_sdk_config.sdk_enabled():
        return None
    from aws_xray_sdk.core import xray_recorder
    from aws_xray_sdk.core.exceptions.exceptions import SegmentNotFoundException
    from aws_xray_sdk.core.models.dummy_entities import DummySegment
    from aws_xray_sdk.core.models.trace_header import TraceHeader

    try:
        entity = xray_recorder.get_trace_entity()
    except SegmentNotFoundException:
        return None
    if entity is None:
        return None
    segment = getattr(entity, "parent_segment", entity)
    if isinstance(segment, DummySegment):  # no trace id yet (init phase, or no header from Lambda)
        return None
    header = TraceHeader(root=entity.trace_id, parent=entity.id, sampled=1 if entity.sampled else 0)
    return str(header.to_header_str())


class RecordTrace:
    """The subsegment of one record, or nothing when tracing is off."""

    def __init__(self, subsegment: Any) -> None:
        self._subsegment = subsegment

    def annotate(self, **annotations: str) -> None:
        """Indexed, searchable key/values (ids and types only: never payload data)."""
        if self._subsegment is not None:
            for key, value in annotations.items():
                self._subsegment.put_annotation(key, value)

    def fault(self, exc: BaseException) -> None:
        """Mark the subsegment as a fault for ``exc`` that does not leave the block (dead-lettered)."""
        if self._subsegment is not None:
            self._subsegment.add_exception(exc, traceback.extract_stack())


@contextmanager
def record_trace(record: SQSRecord) -> Iterator[RecordTrace]:
    """A subsegment around one record's processing, annotated with the producer's trace id.

    An exception leaving the block is recorded on the subsegment (as a fault) and re-raised.
    """
    if not global_sdk_config.sdk_enabled():
        yield RecordTrace(None)
        return
    from aws_xray_sdk.core import xray_recorder
    from aws_xray_sdk.core.models.trace_header import TraceHeader

    with xray_recorder.in_subsegment(RECORD_SUBSEGMENT) as subsegment:
        trace = RecordTrace(subsegment)
        producer = TraceHeader.from_header_str(record.attributes.aws_trace_header)
        if producer.root:
            trace.annotate(producer_trace_id=producer.root)
        trace.annotate(message_id=record.message_id)
        yield trace
