"""The EMF documents each path emits, read from the real handlers' stdout: names, dimensions and values."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest

from plutus.core.registry import EventContext, EventModel, Router
from plutus_dev.emulator.resources import Emulator
from tests import tables
from tests.builders import an_event, an_sqs_event
from tests.integration.capture import capture_output, dimension_sets, metric_names, values
from tests.integration.harness import Harness, harness

# Every event of this test comes from one producer.
ledger = partial(an_event, payload={"amount": 5}, source="ledger")

BASE = {"environment", "service"}
BY_TYPE = {"environment", "service", "event_type"}


class FlakyV1(EventModel):
    event_type = "test_metrics_flaky"
    schema_version = "1.0"


router = Router("test_metrics")


@router.on(FlakyV1)
def handle_fail_always(event: FlakyV1, ctx: EventContext) -> None:
    raise RuntimeError("downstream unavailable")


@pytest.fixture
def h(emulator: Emulator) -> Iterator[Harness]:
    with harness(emulator.url, parameters={"MaxReceiveCount": "3"}, routers=[router]) as stack:
        yield stack


def _only(docs: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(docs) == 1, docs
    return docs[0]


def test_new_event_emits_request_created_and_latency(h: Harness) -> None:
    with capture_output() as out:
        assert h.post_event(ledger("k-new")).status == 202

    doc = _only(out.emf)
    assert metric_names(doc) == {"ingest_requests_total", "raw_events_created_total", "ingest_latency_ms"}
    assert values(doc, "ingest_requests_total") == [1.0]
    assert values(doc, "raw_events_created_total") == [1.0]
    assert len(values(doc, "ingest_latency_ms")) == 1 and values(doc, "ingest_latency_ms")[0] > 0
    assert dimension_sets(doc) == [BASE]
    assert (doc["service"], doc["environment"]) == ("plutus", "dev")
    assert doc["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Plutus"
    units = {m["Name"]: m["Unit"] for m in doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert units["ingest_latency_ms"] == "Milliseconds" and units["raw_events_created_total"] == "Count"


def test_duplicate_emits_duplicate_not_created(h: Harness) -> None:
    h.post_event(ledger("k-dup"))
    with capture_output() as out:
        assert h.post_event(ledger("k-dup")).status == 200

    doc = _only(out.emf)
    assert metric_names(doc) == {"ingest_requests_total", "raw_events_duplicate_total", "ingest_latency_ms"}
    assert values(doc, "raw_events_duplicate_total") == [1.0]


def test_rejections_are_counted_by_reason_class(h: Harness) -> None:
    h.post_event(ledger("k-reused"))
    with capture_output() as out:
        assert h.request("POST", "/api/v1/ingest", b"{not json").status == 400
        assert h.post_event({"source": "ledger"}).status == 422
        assert h.post_event(ledger("k-reused", payload={"amount": 6})).status == 422
        assert h.request("POST", "/api/v1/ingest", "{}", headers={"Content-Type": "text/plain"}).status == 415

    rejected = out.documents_with("ingest_rejected_total")
    assert sorted(d["reason"] for d in rejected) == [
        "malformed",
        "media_type",
        "payload_mismatch",
        "validation",
    ]
    for doc in rejected:
        # A document of its own: the reason dimension applies to this metric only.
        assert metric_names(doc) == {"ingest_rejected_total"}
        assert dimension_sets(doc) == [BASE | {"reason"}]
        assert values(doc, "ingest_rejected_total") == [1.0]
        assert doc["environment"] == "dev"
    assert out.total("ingest_requests_total") == 4
    assert out.total("ingest_latency_ms") > 0
    assert out.documents_with("raw_events_created_total") == []


def test_in_flight_conflict_emits_conflict(h: Harness) -> None:
    from tests.integration.harness import app_client as client

    entered, release = threading.Event(), threading.Event()

    def hold(**_: object) -> None:
        entered.set()
        release.wait(10)

    sqs = client("sqs")
    with capture_output() as out:
        sqs.meta.events.register("before-call.sqs.SendMessage", hold)
        first = threading.Thread(target=lambda: h.post_event(ledger("k-409")))
        first.start()
        assert entered.wait(10)
        try:
            assert h.post_event(ledger("k-409")).status == 409
        finally:
            sqs.meta.events.unregister("before-call.sqs.SendMessage", hold)
            release.set()
            first.join(10)

    # Powertools' metric set is shared by the two threads, so only the totals are meaningful.
    assert out.total("ingest_conflict_total") == 1
    assert out.total("ingest_requests_total") == 2
    assert out.total("raw_events_created_total") == 1
    assert out.documents_with("ingest_rejected_total") == []


def test_processed_event_emits_success_and_lag_by_event_type(h: Harness) -> None:
    h.post_event(ledger("k-ok"))
    h.post_event(ledger("k-other", "test_not_registered"))
    with capture_output() as out:
        assert h.drain() == 2

    docs = {d["event_type"]: d for d in out.emf}
    assert set(docs) == {"default", "other"}  # an unregistered type is not a dimension value of its own
    for doc in docs.values():
        assert metric_names(doc) == {"processing_success_total", "event_processing_lag_ms"}
        assert values(doc, "processing_success_total") == [1.0]
        [lag] = values(doc, "event_processing_lag_ms")
        assert lag >= 0
        assert dimension_sets(doc) == [BASE, BY_TYPE]
        assert doc["environment"] == "dev"


def test_a_batch_sums_its_counts_into_one_document_per_type(h: Harness) -> None:
    for i in range(4):
        h.post_event(ledger(f"k-batch-{i}"))
    with capture_output() as out:
        records, _ = h.poller().poll_once()

    assert len(records) == 4
    doc = _only(out.emf)
    assert values(doc, "processing_success_total") == [4.0]
    assert len(values(doc, "event_processing_lag_ms")) == 4


def test_failure_retry_and_dead_letter_are_counted_per_delivery(h: Harness) -> None:
    h.post_event(ledger("k-flaky", "test_metrics_flaky"))
    poller, sqs = h.poller(), h.client("sqs")
    per_delivery = []
    for _ in range(3):  # MaxReceiveCount=3
        with capture_output() as out:
            records, failed = poller.poll_once()
        assert len(records) == 1 and failed == {records[0]["messageId"]}
        per_delivery.append(_only(out.emf))
        sqs.change_message_visibility(
            QueueUrl=h.queue_url, ReceiptHandle=records[0]["receiptHandle"], VisibilityTimeout=0
        )

    first, second, last = per_delivery
    assert metric_names(first) == {"processing_failure_total"}
    assert metric_names(second) == {"processing_failure_total", "processing_retry_total"}
    assert metric_names(last) == {"processing_failure_total", "processing_retry_total", "dlq_messages"}
    for doc in per_delivery:
        assert doc["event_type"] == "test_metrics_flaky"
        assert dimension_sets(doc) == [BASE, BY_TYPE]
        assert all(values(doc, name) == [1.0] for name in metric_names(doc))
    assert h.drain() == 0  # SQS moved it to the DLQ
    assert h.queue_depth(h.dlq_url) == 1


def test_redelivered_processed_event_emits_duplicate_and_retry(h: Harness) -> None:
    event_id = h.post_event(ledger("k-redeliver")).json()["event_id"]
    sqs = h.client("sqs")
    [message] = tables.receive(sqs, h.queue_url)
    h.consumer.invoke(an_sqs_event([message], h.stack.arns["EventsQueue"]))
    sqs.change_message_visibility(
        QueueUrl=h.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
    )
    with capture_output() as out:
        assert h.drain() == 1

    doc = _only(out.emf)
    assert metric_names(doc) == {"processing_duplicate_total", "processing_retry_total"}
    assert h.get_event(event_id).json()["attempts"] == 1


def test_unparseable_message_is_counted_as_unknown_type(h: Harness) -> None:
    h.client("sqs").send_message(QueueUrl=h.queue_url, MessageBody=json.dumps({"not": "an event"}))
    with capture_output() as out:
        h.poller().poll_once()

    doc = _only(out.emf)
    assert doc["event_type"] == "unknown"
    assert values(doc, "processing_failure_total") == [1.0]


def test_a_request_refused_by_authentication_is_counted(emulator: Emulator) -> None:
    parameters = {"AuthMode": "WEBHOOK_SIGNATURE", "WebhookSecretPrefix": "/tmetrics/wh/"}
    with harness(emulator.url, parameters=parameters) as h, capture_output() as out:
        assert h.post_event(ledger("k-unsigned")).status == 401

    [rejected] = out.documents_with("ingest_rejected_total")
    assert rejected["reason"] == "unauthenticated"
    assert out.total("ingest_requests_total") == 1
    assert len(out.documents_with("ingest_latency_ms")) == 1
