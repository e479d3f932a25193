"""X-Ray across the queue: the ingest's trace header rides the SQS message, the consumer traces each record
against it. The real handlers run with the X-Ray SDK enabled and an emitter that keeps what would be sent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from aws_xray_sdk import global_sdk_config
from aws_xray_sdk.core import xray_recorder
from aws_xray_sdk.core.context import Context
from aws_xray_sdk.core.models.trace_header import TraceHeader

from tests import tables
from tests.builders import an_event
from tests.integration.harness import Harness


class KeepingEmitter:
    """Stands in for the UDP emitter to the X-Ray daemon."""

    def __init__(self) -> None:
        self.documents: list[dict[str, Any]] = []

    def send_entity(self, entity: Any) -> None:
        self.documents.append(json.loads(entity.serialize()))

    def set_daemon_address(self, address: str | None) -> None:
        return

    @property
    def ip(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        return 2000


@pytest.fixture
def xray(monkeypatch: pytest.MonkeyPatch) -> Iterator[KeepingEmitter]:
    """The X-Ray SDK and the Powertools tracer on, sampling everything, on a plain (non-Lambda) context."""
    from plutus.observability import tracer

    monkeypatch.setattr(tracer, "disabled", False)
    emitter = KeepingEmitter()
    saved = (xray_recorder.context, xray_recorder.emitter, xray_recorder.sampling)
    was_enabled = global_sdk_config.sdk_enabled()
    global_sdk_config.set_sdk_enabled(True)
    xray_recorder.configure(context=Context(), emitter=emitter, sampling=False)
    try:
        yield emitter
    finally:
        xray_recorder.clear_trace_entities()
        context, saved_emitter, sampling = saved
        xray_recorder.configure(context=context, emitter=saved_emitter, sampling=sampling)
        global_sdk_config.set_sdk_enabled(was_enabled)


def _subsegments(entity: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for sub in entity.get("subsegments", []):
        yield sub
        yield from _subsegments(sub)


def _ids(entity: dict[str, Any]) -> set[str]:
    return {entity["id"], *(s["id"] for s in _subsegments(entity))}


BODY = an_event("evt_trace_1")


def test_trace_continues_from_ingest_through_sqs_into_the_consumer(
    stack: Harness, xray: KeepingEmitter
) -> None:
    # Given an ingest request inside a trace (Lambda's segment in AWS; a plain segment here)
    with xray_recorder.in_segment("ingest") as ingest_segment:
        event_id = stack.post_event(BODY).json()["event_id"]
    producer_trace = ingest_segment.trace_id

    # Then the queued message carries the ingest's trace header, parented to an entity of the ingest trace
    [message] = tables.receive(stack.client("sqs"), stack.queue_url, visibility_timeout=0)
    header = TraceHeader.from_header_str(message["Attributes"]["AWSTraceHeader"])
    [ingest_doc] = [d for d in xray.documents if d["name"] == "ingest"]
    assert header.root == producer_trace
    assert header.parent in _ids(ingest_doc)
    assert header.sampled == 1

    # When the consumer processes it inside its own trace
    with xray_recorder.in_segment("consumer") as consumer_segment:
        assert stack.drain() == 1
    assert consumer_segment.trace_id != producer_trace

    # Then the record has a subsegment linked to the producer's trace and annotated with the event's ids
    [consumer_doc] = [d for d in xray.documents if d["name"] == "consumer"]
    [record] = [s for s in _subsegments(consumer_doc) if s["name"] == "## process_record"]
    assert record["annotations"] == {
        "producer_trace_id": producer_trace,
        "message_id": message["MessageId"],
        "event_id": event_id,
        "event_type": "default",
        "source": "payment_service",
    }
    assert not record.get("fault") and not record.get("error")
    # And the ingest trace is annotated with the same event id, so one search finds both
    [handler] = [s for s in _subsegments(ingest_doc) if s["name"] == "## handler"]
    assert handler["annotations"]["event_id"] == event_id
    assert handler["annotations"]["source"] == "payment_service"
    assert handler["annotations"]["event_type"] == "default"


def test_a_failing_record_is_a_fault_on_its_own_subsegment(stack: Harness, xray: KeepingEmitter) -> None:
    stack.client("sqs").send_message(QueueUrl=stack.queue_url, MessageBody="not an event")

    with xray_recorder.in_segment("consumer"):
        records, failed = stack.poller().poll_once()

    # A poison message is dead-lettered on its first attempt (not reported failed), still traced as a fault
    assert failed == set() and stack.queue_depth(stack.dlq_url) == 1
    [doc] = [d for d in xray.documents if d["name"] == "consumer"]
    [record] = [s for s in _subsegments(doc) if s["name"] == "## process_record"]
    assert record["fault"] is True
    assert record["cause"]["exceptions"][0]["type"] == "PoisonMessageError"
    assert "producer_trace_id" not in record["annotations"]  # sent without a trace


def test_no_trace_header_when_tracing_is_off(stack: Harness) -> None:
    stack.post_event(an_event("evt_trace_off"))
    [message] = tables.receive(stack.client("sqs"), stack.queue_url)
    assert "AWSTraceHeader" not in message["Attributes"]
