"""Ordering per key on a FIFO stack, fair sharing by source on a standard one (template parameter QueueMode).

The queues come from template.yaml with QueueMode=fifo (FIFO, high-throughput mode), moto serves them over
HTTP, and the real ingest and consumer handlers run against them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from pydantic import Field

from plutus.core.registry import EventContext, EventModel, Router
from plutus_dev.emulator.resources import Emulator
from tests import tables
from tests.builders import an_event
from tests.integration.harness import Harness, harness, registry_of


class StepRecordedV1(EventModel):
    """A step of an account's life: its steps must be applied in order."""

    event_type = "test_step_recorded"
    schema_version = "1.0"
    ordering_key = "account"

    account: str = Field(min_length=1)
    step: int


router = Router("test")
# What the handler applied, in order, and the steps that fail on their first attempt.
applied: list[tuple[str, int]] = []
fail_once: set[tuple[str, int]] = set()


@router.on(StepRecordedV1)
def handle_record_step(event: StepRecordedV1, ctx: EventContext) -> None:
    key = (event.account, event.step)
    if key in fail_once:
        fail_once.discard(key)
        raise RuntimeError("the ledger is unavailable, once")
    applied.append(key)


def step(account: str, n: int) -> dict[str, object]:
    return an_event(f"{account}-{n}", "test_step_recorded", {"account": account, "step": n}, source="ledger")


@pytest.fixture
def fifo(emulator: Emulator) -> Iterator[Harness]:
    applied.clear()
    fail_once.clear()
    params = {"QueueMode": "fifo", "MaxReceiveCount": "3"}
    with harness(emulator.url, parameters=params, registry=registry_of(router)) as h:
        yield h


def steps_of(account: str) -> list[int]:
    return [n for a, n in applied if a == account]


def test_the_template_makes_both_queues_fifo_in_high_throughput_mode(fifo: Harness) -> None:
    sqs = fifo.client("sqs")
    attrs = sqs.get_queue_attributes(QueueUrl=fifo.queue_url, AttributeNames=["All"])["Attributes"]
    assert fifo.queue_url.endswith(".fifo") and fifo.dlq_url.endswith(".fifo")
    assert attrs["FifoQueue"] == "true"
    assert attrs["ContentBasedDeduplication"] == "false"
    assert attrs["DeduplicationScope"] == "messageGroup"
    assert attrs["FifoThroughputLimit"] == "perMessageGroupId"
    assert fifo.env["PLUTUS_QUEUE_MODE"] == "fifo"


def test_one_key_stays_in_order_through_a_redelivery_while_other_keys_proceed(fifo: Harness) -> None:
    # Given two accounts' steps, interleaved, and account A's second step failing once
    fail_once.add(("A", 2))
    for n in range(1, 4):
        assert fifo.post_event(step("A", n)).status == 202
        assert fifo.post_event(step("B", n)).status == 202
    assert fifo.post_event(step("A", 4)).status == 202

    # When the event source mapping delivers the first batch
    records, failed = fifo.poller().poll_once()

    # Then A's failed step and every later step of A come back, unapplied; B's steps all went through
    assert len(records) == 7
    failed_steps = sorted(
        json.loads(r["body"])["payload"]["step"] for r in records if r["messageId"] in failed
    )
    assert failed_steps == [2, 3, 4]
    assert {json.loads(r["body"])["payload"]["account"] for r in records if r["messageId"] in failed} == {"A"}
    assert steps_of("A") == [1]
    assert steps_of("B") == [1, 2, 3]

    # When SQS redelivers A's messages (their visibility timeout elapses) and the queue drains
    sqs = fifo.client("sqs")
    sqs.change_message_visibility_batch(
        QueueUrl=fifo.queue_url,
        Entries=[
            {"Id": str(i), "ReceiptHandle": r["receiptHandle"], "VisibilityTimeout": 0}
            for i, r in enumerate(records)
            if r["messageId"] in failed
        ],
    )
    fifo.drain()

    # Then A's steps were applied in order, each once, and nothing is left queued or dead-lettered
    assert steps_of("A") == [1, 2, 3, 4]
    assert steps_of("B") == [1, 2, 3]
    assert fifo.queue_depth() == 0 and fifo.queue_depth(fifo.dlq_url) == 0


def test_each_message_carries_its_key_as_group_and_its_event_id_as_deduplication_id(fifo: Harness) -> None:
    event_id = fifo.post_event(step("acct-9", 1)).json()["event_id"]

    [message] = tables.receive(fifo.client("sqs"), fifo.queue_url)

    assert message["Attributes"]["MessageGroupId"] == "acct-9"
    assert message["Attributes"]["MessageDeduplicationId"] == event_id


def test_an_event_without_its_ordering_field_is_refused_before_anything_is_queued(fifo: Harness) -> None:
    keyless = an_event("no-account", "test_step_recorded", {"step": 1}, source="ledger")

    response = fifo.post_event(keyless)

    assert response.status == 422
    assert [e["pointer"] for e in response.json()["errors"]] == ["/payload/account"]
    assert fifo.queue_depth() == 0


def test_batch_ingest_groups_by_key_and_refuses_only_the_event_without_one(fifo: Harness) -> None:
    events = [
        step("A", 1),
        an_event("k-none", "test_step_recorded", {"step": 9}, source="ledger"),
        step("B", 1),
    ]

    results = fifo.post_batch(events).json()["results"]

    assert [r["status"] for r in results] == [202, 422, 202]
    messages = tables.receive(fifo.client("sqs"), fifo.queue_url, 10)
    groups = {
        json.loads(m["Body"])["payload"]["account"]: m["Attributes"]["MessageGroupId"] for m in messages
    }
    assert groups == {"A": "A", "B": "B"}


def test_a_permanent_failure_is_dead_lettered_to_the_fifo_dlq_and_its_group_goes_on(fifo: Harness) -> None:
    # Given a step whose payload breaks its model (a permanent failure) queued ahead of a valid one
    sqs = fifo.client("sqs")
    bad = {
        "event_id": "00000000-0000-5000-8000-000000000001",
        "source": "ledger",
        "event_type": "test_step_recorded",
        "schema_version": "1.0",
        "received_at": "2026-01-01T00:00:00.000000Z",
        "payload": {"account": "C", "step": "not a number"},
    }
    sqs.send_message(
        QueueUrl=fifo.queue_url,
        MessageBody=json.dumps(bad),
        MessageGroupId="C",
        MessageDeduplicationId=bad["event_id"],
    )
    assert fifo.post_event(step("C", 2)).status == 202

    # When the queue drains
    fifo.drain()

    # Then the bad step went to the FIFO DLQ with its group at once, and the next one of C was applied
    dead = tables.receive(sqs, fifo.dlq_url, 10)
    assert [m["Attributes"]["MessageGroupId"] for m in dead] == ["C"]
    assert steps_of("C") == [2]


@pytest.fixture
def standard(emulator: Emulator) -> Iterator[Harness]:
    with harness(emulator.url, parameters={"MaxReceiveCount": "3"}) as h:
        yield h


def test_standard_mode_sends_the_source_as_message_group_for_fair_queues(standard: Harness) -> None:
    # Given two producers, one of them sending through the batch route
    standard.post_event(an_event("k-1", source="payment_service"))
    standard.post_batch(
        [an_event("k-2", source="flooding_producer"), an_event("k-3", source="flooding_producer")]
    )

    # Then each message's group is its source, and the standard queue takes no deduplication id
    messages = tables.receive(standard.client("sqs"), standard.queue_url, 10)
    assert not standard.queue_url.endswith(".fifo")
    assert sorted(m["Attributes"]["MessageGroupId"] for m in messages) == [
        "flooding_producer",
        "flooding_producer",
        "payment_service",
    ]
    assert all("MessageDeduplicationId" not in m["Attributes"] for m in messages)
    assert standard.drain() == 0  # received above and still in flight: nothing else was queued


def test_the_emulator_resumes_a_group_at_its_oldest_message_once_visibility_lapses(fifo: Harness) -> None:
    # moto alone hands out A3 here: it counted A2, visible again, as still in flight (moto_server fixes it).
    sqs = fifo.client("sqs")
    for n in (1, 2, 3):
        sqs.send_message(
            QueueUrl=fifo.queue_url, MessageBody=f"A{n}", MessageGroupId="A", MessageDeduplicationId=f"A{n}"
        )
    first = tables.receive(sqs, fifo.queue_url, 10, visibility_timeout=1)
    assert [m["Body"] for m in first] == ["A1", "A2", "A3"]
    sqs.delete_message(QueueUrl=fifo.queue_url, ReceiptHandle=first[0]["ReceiptHandle"])

    # When A2 and A3's visibility timeout lapses (as it does for a failed batch on the event source mapping)
    time.sleep(1.2)
    again = tables.receive(sqs, fifo.queue_url, 10)

    # Then the group resumes at its oldest message
    assert [m["Body"] for m in again][:1] == ["A2"]
