"""Batch commits: a consumer batch's events commit together, each still exactly once and all or nothing.

The consumer is invoked with SQS batches built here (``an_sqs_record``), so each test says exactly which
records arrive together; calls are counted with botocore hooks on the function's own client.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import pytest

from plutus.core.effects import Effect, Update
from plutus.core.envelope import utc_now
from plutus.core.registry import EventContext, EventModel, Router
from plutus.domains import default
from plutus_dev.emulator.resources import Emulator
from tests import tables
from tests.builders import a_queued_event, an_sqs_record
from tests.integration.harness import Harness, app_client, harness
from tests.integration.test_call_budget import counting


class CreditedV1(EventModel):
    """Money credited to an account: one effect, guarded by a floor."""

    event_type = "test_credited"
    schema_version = "1.0"

    account: str
    amount: int


class NotedV1(EventModel):
    """An event whose handler decides there is nothing to write."""

    event_type = "test_noted"
    schema_version = "1.0"


class TalliedV1(EventModel):
    """A read-modify-write on a versioned tally; ``raced`` makes a concurrent writer move it once."""

    event_type = "test_tallied"
    schema_version = "1.0"

    tally: str
    raced: bool = False


router = Router("test")
# Tallies whose concurrent writer has already struck (once per tally).
RACED: set[str] = set()


@router.on(CreditedV1)
def handle_credited(event: CreditedV1, ctx: EventContext) -> Iterable[Effect]:
    yield Update(f"ACC#{event.account}", "BALANCE", add={"balance": event.amount}, floor=("balance", 0))


@router.on(NotedV1)
def handle_noted(event: NotedV1, ctx: EventContext) -> Iterable[Effect]:
    return ()


@router.on(TalliedV1)
def handle_tallied(event: TalliedV1, ctx: EventContext) -> Iterable[Effect]:
    item = ctx.state.get(f"TALLY#{event.tally}", "TALLY") or {}
    version = int(item.get("version", 0))
    if event.raced and event.tally not in RACED:
        # Another consumer commits to the same tally between this read and this event's commit.
        RACED.add(event.tally)
        app_client("dynamodb").update_item(
            TableName=ctx.settings.state_table,  # type: ignore[attr-defined]
            Key={"pk": {"S": f"TALLY#{event.tally}"}, "sk": {"S": "TALLY"}},
            UpdateExpression="ADD version :one, moved :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
        )
    yield Update(f"TALLY#{event.tally}", "TALLY", add={"count": 1}, expect_version=version)


@pytest.fixture
def stack(emulator: Emulator) -> Iterator[Harness]:
    RACED.clear()
    # moto serves a 100-item transaction far slower than DynamoDB: on a loaded machine it can outlast the
    # 2 s read timeout, and then the events (rightly) commit one by one, which is not what these tests count.
    with harness(emulator.url, environment={"PLUTUS_AWS_READ_TIMEOUT": "30"}, routers=[router]) as h:
        yield h


def body(
    event_id: str, event_type: str | None = None, payload: dict[str, Any] | None = None
) -> dict[str, Any]:
    return a_queued_event(event_id, event_type, payload, received_at=utc_now())


def credit(event_id: str, account: str, amount: int = 5) -> dict[str, Any]:
    return body(event_id, "test_credited", {"account": account, "amount": amount})


def deliver(stack: Harness, bodies: list[dict[str, Any]], **record: Any) -> list[dict[str, Any]]:
    """One consumer invocation with ``bodies`` as one SQS batch; returns its batchItemFailures."""
    records = [an_sqs_record(b, message_id=f"m-{i}-{b['event_id']}", **record) for i, b in enumerate(bodies)]
    status, result, _ = stack.consumer.invoke({"Records": records})
    assert status == "ok", result
    failures: list[dict[str, Any]] = result["batchItemFailures"]
    return failures


def events(stack: Harness) -> dict[str, dict[str, Any]]:
    # A FAILED event's kept message is an item of its own (kept:<event_id>), not an event.
    return {i["event_id"]: i for i in stack.scan("EventsTable") if not i["event_id"].startswith("kept:")}


def state(stack: Harness) -> dict[str, dict[str, Any]]:
    return {i["pk"]: i for i in stack.scan("StateTable")}


def test_a_batch_commits_in_one_transaction(stack: Harness) -> None:
    batch = [credit(f"evt-{i}", f"a{i}") for i in range(10)]

    with counting() as calls:
        assert deliver(stack, batch) == []

    assert calls == {"dynamodb.TransactWriteItems": 1}
    assert {k: v["status"] for k, v in events(stack).items()} == {f"evt-{i}": "PROCESSED" for i in range(10)}
    assert {k: int(v["balance"]) for k, v in state(stack).items()} == {f"ACC#a{i}": 5 for i in range(10)}


def test_a_cancelled_event_commits_alone_and_the_rest_as_one_batch(stack: Harness) -> None:
    # Given a batch where one event's version guard fails (a concurrent writer moves its tally)
    batch = [credit("evt-0", "a0"), body("evt-1", "test_tallied", {"tally": "t", "raced": True})]
    batch += [credit(f"evt-{i}", f"a{i}") for i in range(2, 5)]

    with counting() as calls:
        assert deliver(stack, batch) == []

    # Then: the batch (cancelled), the four others again as one batch, and the raced event alone
    assert calls["dynamodb.TransactWriteItems"] == 3
    assert {k: v["status"] for k, v in events(stack).items()} == {f"evt-{i}": "PROCESSED" for i in range(5)}
    assert {k: int(v["attempts"]) for k, v in events(stack).items()} == {f"evt-{i}": 1 for i in range(5)}
    items = state(stack)
    # the tally counts the event once, on top of the concurrent writer's move
    assert (int(items["TALLY#t"]["count"]), int(items["TALLY#t"]["version"])) == (1, 2)
    assert {k: int(v["balance"]) for k, v in items.items() if k.startswith("ACC#")} == {
        f"ACC#a{i}": 5 for i in (0, 2, 3, 4)
    }


def test_an_effect_refused_by_its_floor_fails_alone(stack: Harness) -> None:
    batch = [credit("evt-0", "a0"), credit("evt-1", "a1", amount=-5), credit("evt-2", "a2")]

    assert deliver(stack, batch) == []

    # The refused event is permanent: FAILED and dead-lettered at once; the other two commit
    assert {k: v["status"] for k, v in events(stack).items()} == {
        "evt-0": "PROCESSED",
        "evt-1": "FAILED",
        "evt-2": "PROCESSED",
    }
    assert tables.queue_depth(stack.client("sqs"), stack.dlq_url) == 1
    assert {k: int(v["balance"]) for k, v in state(stack).items()} == {"ACC#a0": 5, "ACC#a2": 5}


def test_an_already_processed_event_in_a_batch_is_found_by_its_marker(stack: Harness) -> None:
    # Given an event already processed, arriving again as a first delivery (an ingest retried after a crash)
    assert deliver(stack, [credit("evt-0", "a0"), credit("evt-9", "a9")]) == []
    before = events(stack)["evt-0"]

    with counting() as calls:
        assert deliver(stack, [credit("evt-0", "a0")] + [credit(f"evt-{i}", f"a{i}") for i in (1, 2)]) == []

    # Then its marker cancels the batch, the two others commit as one, and nothing is applied twice
    assert calls == {"dynamodb.TransactWriteItems": 2}
    assert events(stack)["evt-0"] == before
    assert {k: int(v["balance"]) for k, v in state(stack).items()} == {f"ACC#a{i}": 5 for i in (0, 1, 2, 9)}


def test_a_redelivered_batch_changes_nothing(stack: Harness) -> None:
    batch = [credit(f"evt-{i}", f"a{i}") for i in range(5)] + [body("evt-d")]
    assert deliver(stack, batch) == []
    before = (events(stack), state(stack))

    with counting() as calls:
        assert deliver(stack, batch, receive_count=2) == []

    # One consistent read finds the six processed: nothing runs, nothing is written
    assert calls == {"dynamodb.BatchGetItem": 1}
    assert (events(stack), state(stack)) == before


def test_two_events_on_one_item_keep_their_order(stack: Harness) -> None:
    # The second credit writes the item the first writes: it is processed alone, after the batch.
    batch = [credit("evt-0", "a0"), credit("evt-1", "a1"), credit("evt-2", "a0", amount=-5)]

    with counting() as calls:
        assert deliver(stack, batch) == []

    assert calls == {"dynamodb.TransactWriteItems": 2}
    assert {k: int(v["balance"]) for k, v in state(stack).items()} == {"ACC#a0": 0, "ACC#a1": 5}


def test_a_batch_over_100_items_splits(stack: Harness) -> None:
    # 60 credits: a marker and a balance each, 120 items, so two transactions
    batch = [credit(f"evt-{i:02d}", f"a{i:02d}") for i in range(60)]

    with counting() as calls:
        assert deliver(stack, batch) == []

    assert calls == {"dynamodb.TransactWriteItems": 2}
    assert sorted(int(v["balance"]) for v in state(stack).values()) == [5] * 60
    assert {v["status"] for v in events(stack).values()} == {"PROCESSED"}


def test_default_handler_events_are_one_item_each_and_split_at_100(stack: Harness) -> None:
    # 150 default-handler events: the receipt folds into the marker, so 150 items in two transactions
    batch = [body(f"evt-{i:03d}") for i in range(150)]

    with counting() as calls:
        assert deliver(stack, batch) == []

    assert calls == {"dynamodb.TransactWriteItems": 2}
    assert {k: (v["status"], default.applied(v)) for k, v in events(stack).items()} == {
        f"evt-{i:03d}": ("PROCESSED", 1) for i in range(150)
    }
    assert stack.scan("StateTable") == []


def test_events_without_effects_commit_in_the_batch_transaction(stack: Harness) -> None:
    with counting() as calls:
        assert deliver(stack, [body(f"evt-{i}", "test_noted") for i in range(3)]) == []

    # One call for the three markers, one item each (a marker alone would be one UpdateItem each)
    assert calls == {"dynamodb.TransactWriteItems": 1}
    assert {k: (v["status"], int(v["attempts"])) for k, v in events(stack).items()} == {
        f"evt-{i}": ("PROCESSED", 1) for i in range(3)
    }
    # and a duplicate of one, alone, is found by the condition of its plain conditional write
    with counting() as calls:
        assert deliver(stack, [body("evt-0", "test_noted")]) == []
    assert calls == {"dynamodb.UpdateItem": 1}
    assert tables.queue_depth(stack.client("sqs"), stack.dlq_url) == 0
