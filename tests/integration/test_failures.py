"""A failing handler is reported in batchItemFailures, retried by SQS, recorded, and finally dead-lettered."""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import partial

import pytest

from plutus.core.registry import EventContext, EventModel, Router
from plutus_dev.emulator.resources import Emulator
from tests import tables
from tests.builders import an_event, an_sqs_event
from tests.integration.harness import Harness, harness

# Every event of this test comes from one producer.
ledger = partial(an_event, payload={"amount": 5}, source="ledger")


class AlwaysFailsV1(EventModel):
    event_type = "test_always_fails"
    schema_version = "1.0"


router = Router("test")


@router.on(AlwaysFailsV1)
def handle_fail_always(event: AlwaysFailsV1, ctx: EventContext) -> None:
    raise RuntimeError("downstream ledger unavailable")


@pytest.fixture
def failing(emulator: Emulator) -> Iterator[Harness]:
    with harness(emulator.url, parameters={"MaxReceiveCount": "3"}, routers=[router]) as h:
        yield h


def test_only_the_failed_record_comes_back_and_ends_in_the_dlq(failing: Harness) -> None:
    # Given one failing and one healthy event in the same batch
    bad = failing.post_event(ledger("k-bad", "test_always_fails")).json()["event_id"]
    good = failing.post_event(ledger("k-good")).json()["event_id"]

    # When the first batch is processed
    records, failed = failing.poller().poll_once()

    # Then only the failing record is reported, and the healthy one is PROCESSED and deleted
    assert len(records) == 2
    bad_message = next(r["messageId"] for r in records if json.loads(r["body"])["event_id"] == bad)
    assert failed == {bad_message}
    assert failing.get_event(good).json()["status"] == "PROCESSED"
    view = failing.get_event(bad).json()
    assert view["status"] == "PROCESSING"
    assert view["attempts"] == 1
    assert view["last_error"] == "RuntimeError: downstream ledger unavailable"

    # When SQS redelivers it until maxReceiveCount (3) is reached
    sqs = failing.client("sqs")
    handle = next(r["receiptHandle"] for r in records if r["messageId"] == bad_message)
    sqs.change_message_visibility(QueueUrl=failing.queue_url, ReceiptHandle=handle, VisibilityTimeout=0)
    failing.drain()

    # Then it is FAILED with its error and attempts recorded, and its message is in the DLQ
    view = failing.get_event(bad).json()
    assert view["status"] == "FAILED"
    assert view["attempts"] == 3
    assert view["last_error"] == "RuntimeError: downstream ledger unavailable"
    assert failing.queue_depth() == 0
    dead = tables.receive(sqs, failing.dlq_url, 10)
    assert [json.loads(m["Body"])["event_id"] for m in dead] == [bad]
    assert int(dead[0]["Attributes"]["ApproximateReceiveCount"]) >= 3


def test_an_entirely_failed_batch_reports_every_record_without_raising(failing: Harness) -> None:
    ids = {failing.post_event(ledger(f"k{i}", "test_always_fails")).json()["event_id"] for i in range(3)}

    records, failed = failing.poller().poll_once()

    assert len(records) == 3
    assert failed == {r["messageId"] for r in records}
    assert {failing.get_event(i).json()["status"] for i in ids} == {"PROCESSING"}


def test_a_redelivered_processed_event_is_acknowledged_without_running_handlers(stack: Harness) -> None:
    event_id = stack.post_event(ledger("k-once")).json()["event_id"]
    sqs = stack.client("sqs")
    # Given the message is received but its deletion is lost (as when a consumer times out after committing)
    [message] = tables.receive(sqs, stack.queue_url)
    status, result, _ = stack.consumer.invoke(an_sqs_event([message], stack.stack.arns["EventsQueue"]))
    assert status == "ok" and result == {"batchItemFailures": []}
    sqs.change_message_visibility(
        QueueUrl=stack.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
    )

    # When SQS delivers it again
    assert stack.drain() == 1

    # Then it is acknowledged, its effect was applied once, and its attempts were not bumped
    view = stack.get_event(event_id).json()
    assert view["status"] == "PROCESSED" and view["attempts"] == 1
    assert tables.applied(stack.scan("EventsTable"), event_id) == [1]
    assert stack.queue_depth() == 0
