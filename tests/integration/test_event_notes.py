"""The default handler's receipt, a note on the event's own item: applied exactly once, whatever arrives.

Batches are built here and handed to the consumer as one invocation (``deliver``); the concurrent duplicate
commits through the consumer's own repository from several threads at once.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from plutus import bootstrap
from plutus.adapters.events_store import AlreadyProcessed, Commit, CommitOutcome, Committed
from plutus.core.effects import Effect, EventNote, Update
from plutus.core.envelope import QueuedEvent, utc_now
from plutus.core.registry import EventContext, EventModel, Router
from plutus.domains import default
from plutus_dev.emulator.resources import Emulator
from tests import tables
from tests.integration.harness import Harness, harness
from tests.integration.test_batch_commits import body, deliver, events
from tests.integration.test_call_budget import counting


class ForgedV1(EventModel):
    """An event whose handler tries to set one of the event's own attributes through a note."""

    event_type = "test_forged"
    schema_version = "1.0"

    attribute: str


class CreditedV1(EventModel):
    """Money credited to an account, guarded by a floor (a negative credit on an empty account is refused)."""

    event_type = "test_note_credited"
    schema_version = "1.0"

    account: str
    amount: int


router = Router("test")


@router.on(ForgedV1)
def handle_forge(event: ForgedV1, ctx: EventContext) -> Iterable[Effect]:
    yield EventNote(set_if_absent={event.attribute: "PROCESSED"})


@router.on(CreditedV1)
def handle_credit(event: CreditedV1, ctx: EventContext) -> Iterable[Effect]:
    yield Update(f"ACC#{event.account}", "BALANCE", add={"balance": event.amount}, floor=("balance", 0))


@pytest.fixture
def stack(emulator: Emulator) -> Iterator[Harness]:
    # moto can be slow to serve a transaction on a loaded machine: a long read timeout keeps the batch whole.
    with harness(emulator.url, environment={"PLUTUS_AWS_READ_TIMEOUT": "30"}, routers=[router]) as h:
        yield h


def test_a_receipt_is_applied_once_however_often_its_event_arrives(stack: Harness) -> None:
    # Given two default-handler events committed together
    batch = [body("evt-a"), body("evt-b")]
    assert deliver(stack, batch) == []
    committed = events(stack)
    assert {k: (v["status"], default.applied(v)) for k, v in committed.items()} == {
        "evt-a": ("PROCESSED", 1),
        "evt-b": ("PROCESSED", 1),
    }

    # When they arrive again: as first deliveries (an ingest retried), redelivered, and each alone both ways
    with counting() as calls:
        assert deliver(stack, batch) == []
        assert deliver(stack, batch, receive_count=2) == []
        assert deliver(stack, [batch[0]]) == []
        assert deliver(stack, [batch[0]], receive_count=2) == []

    # Then the markers' conditions (or one read) find them processed, and nothing is written again
    assert calls == {
        "dynamodb.TransactWriteItems": 1,  # both markers fail: both already processed
        "dynamodb.BatchGetItem": 1,
        "dynamodb.UpdateItem": 1,  # alone: the plain conditional write, refused
        "dynamodb.GetItem": 1,
    }
    assert events(stack) == committed
    assert stack.scan("StateTable") == []


def test_concurrent_commits_of_one_event_apply_its_receipt_once(stack: Harness) -> None:
    # Given the consumer's repository, and the default handler's effects for three events
    repository = bootstrap.root().events
    queued = [QueuedEvent.model_validate(body(f"evt-{i}")) for i in range(3)]
    receipt = [EventNote(add={default.APPLIED: 1})]
    threads = 4
    barrier = threading.Barrier(threads)

    def alone(_: int) -> CommitOutcome:
        barrier.wait()
        return repository.commit(queued[0], receipt, utc_now())

    def together(_: int) -> list[CommitOutcome | None]:
        barrier.wait()
        return repository.commit_batch([Commit(e, receipt) for e in queued[1:]], utc_now())

    # When four consumers commit the first event at once, then four commit the other two as a batch
    with ThreadPoolExecutor(threads) as pool:
        singles = list(pool.map(alone, range(threads)))
        batches = list(pool.map(together, range(threads)))

    # Then exactly one commit of each event landed, the others found its marker, and each receipt is 1
    assert sorted(type(o).__name__ for o in singles) == ["AlreadyProcessed"] * 3 + ["Committed"]
    for index in range(2):
        outcomes = [batch[index] for batch in batches]
        assert sum(isinstance(o, Committed) for o in outcomes) == 1
        assert all(isinstance(o, Committed | AlreadyProcessed) for o in outcomes)
    items = events(stack)
    assert {k: (v["status"], default.applied(v), int(v["attempts"])) for k, v in items.items()} == {
        f"evt-{i}": ("PROCESSED", 1, 1) for i in range(3)
    }


@pytest.mark.parametrize("attribute", ["status", "expires_at", "ops_pk"])
def test_a_note_naming_an_event_attribute_is_refused_and_the_rest_of_the_batch_commits(
    stack: Harness, attribute: str
) -> None:
    batch = [body("evt-0"), body("evt-1", "test_forged", {"attribute": attribute}), body("evt-2")]

    assert deliver(stack, batch) == []

    # The forged event is refused permanently: FAILED and dead-lettered, no note on its item
    items = events(stack)
    assert {k: v["status"] for k, v in items.items()} == {
        "evt-0": "PROCESSED",
        "evt-1": "FAILED",
        "evt-2": "PROCESSED",
    }
    assert "note_ attributes" in items["evt-1"]["last_error"]
    assert not [name for name in items["evt-1"] if name.startswith("note_")]
    assert tables.queue_depth(stack.client("sqs"), stack.dlq_url) == 1
    assert (default.applied(items["evt-0"]), default.applied(items["evt-2"])) == (1, 1)


def test_a_cancelled_batch_of_receipts_settles_each_event(stack: Harness) -> None:
    # Given one event processed before, arriving again as a first delivery
    assert deliver(stack, [body("evt-b"), body("evt-z")]) == []
    before = events(stack)["evt-b"]
    # and a batch with it, two new receipts, and a credit its floor refuses
    batch = [body("evt-a"), body("evt-b"), body("evt-c")]
    batch += [body("evt-d", "test_note_credited", {"account": "x", "amount": -5})]

    with counting() as calls:
        assert deliver(stack, batch) == []

    # Then: the batch (cancelled: evt-b's marker and evt-d's floor), evt-a and evt-c again as one
    # transaction, and evt-d alone (refused for good)
    assert calls["dynamodb.TransactWriteItems"] == 3
    items = events(stack)
    assert items["evt-b"] == before
    assert {k: (v["status"], default.applied(v)) for k, v in items.items() if k != "evt-b"} == {
        "evt-a": ("PROCESSED", 1),
        "evt-c": ("PROCESSED", 1),
        "evt-d": ("FAILED", None),
        "evt-z": ("PROCESSED", 1),
    }
    assert stack.scan("StateTable") == []
    assert tables.queue_depth(stack.client("sqs"), stack.dlq_url) == 1
