"""The consumer use case against in-memory repositories: commits, duplicates, retries and failing fast."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from plutus.adapters.events_store import EventStatus
from plutus.consumer.processor import OPTIMISTIC_ATTEMPTS, Consumer
from plutus.core.effects import Effect, Update
from plutus.core.errors import ConcurrentUpdateError, EffectRejectedError, PoisonMessageError
from plutus.core.registry import EventContext, EventModel, Registry, Router
from plutus.domains import default
from tests.builders import a_queued_event, an_sqs_record
from tests.fakes import FakeDeadLetters, FakeEvents, FakeState, settings

router = Router("unit")
runs: list[str] = []


class PointsAwardedV1(EventModel):
    event_type = "points_awarded"
    schema_version = "1.0"

    account: str
    points: int


@router.on(PointsAwardedV1)
def handle_award_points(event: PointsAwardedV1, ctx: EventContext) -> Iterator[Effect]:
    runs.append(ctx.event_id)
    yield Update(f"ACCOUNT#{event.account}", "POINTS", add={"points": event.points}, floor=("points", 0))


def _record(body: str | dict[str, Any], **delivery: Any) -> SQSRecord:
    return SQSRecord(an_sqs_record(body, **delivery))


def _awarded(points: int = 10, event_type: str = "points_awarded") -> dict[str, Any]:
    """Account a1's points, as ingest queues them (id evt-1)."""
    return a_queued_event("evt-1", event_type, {"account": "a1", "points": points}, source="loyalty")


class World:
    """A consumer wired to fakes of its repositories, as the composition root wires the real ones."""

    def __init__(self, *, dead_letters: bool = True, max_receive_count: int = 5) -> None:
        registry = Registry(default_handler=default.handle_record_receipt)
        registry.include_router(router)
        self.state = FakeState()
        self.events = FakeEvents(self.state)
        self.dead_letters = FakeDeadLetters() if dead_letters else None
        self.consumer = Consumer(
            settings(max_receive_count=max_receive_count),
            registry,
            self.events,  # type: ignore[arg-type]
            self.state,
            self.dead_letters,  # type: ignore[arg-type]
        )

    def points(self) -> Decimal:
        return Decimal((self.state.get("ACCOUNT#a1", "POINTS") or {}).get("points", 0))

    def status(self, event_id: str = "evt-1") -> Any:
        return (self.events.get(event_id) or {}).get("status")


@pytest.fixture(autouse=True)
def _clear_runs() -> None:
    runs.clear()


def test_an_event_commits_its_effects_with_its_marker() -> None:
    world = World()

    assert world.consumer.process_record(_record(_awarded())) == "processed"

    assert world.points() == 10 and world.status() == EventStatus.PROCESSED
    assert runs == ["evt-1"]


def test_a_redelivered_event_already_processed_runs_no_handler_again() -> None:
    # Given an event processed once (its delete was lost, so SQS delivers it again)
    world = World()
    world.consumer.process_record(_record(_awarded()))

    # When it is received a second time, and replayed by an operator
    again = world.consumer.process_record(_record(_awarded(), receive_count=2))
    replayed = world.consumer.process_record(_record(_awarded(), replay=True))

    # Then both are acknowledged as duplicates without running the handler: one effect
    assert (again, replayed) == ("duplicate", "duplicate")
    assert runs == ["evt-1"] and world.points() == 10


def test_a_first_delivery_of_a_processed_id_is_stopped_by_the_marker() -> None:
    world = World()
    world.consumer.process_record(_record(_awarded()))

    # A first delivery skips the read; the commit's condition is what refuses the second effect
    assert world.consumer.process_record(_record(_awarded(), message_id="m-2")) == "duplicate"
    assert world.points() == 10


def test_contended_state_reruns_the_handler_on_fresh_state() -> None:
    world = World()
    world.events.contend = OPTIMISTIC_ATTEMPTS - 1

    assert world.consumer.process_record(_record(_awarded())) == "processed"

    assert runs == ["evt-1"] * OPTIMISTIC_ATTEMPTS and world.points() == 10


def test_state_that_keeps_changing_is_a_transient_failure_left_to_sqs() -> None:
    # Given state that changes under the handler on every attempt
    world = World()
    world.events.contend = OPTIMISTIC_ATTEMPTS

    # Then the record is reported failed (SQS redelivers it), counted as PROCESSING, never dead-lettered
    with pytest.raises(ConcurrentUpdateError):
        world.consumer.process_record(_record(_awarded()))
    assert world.status() == EventStatus.PROCESSING
    assert world.dead_letters is not None and world.dead_letters.sent == []


def test_an_effect_refused_by_its_rule_fails_on_its_first_attempt_and_is_dead_lettered() -> None:
    # Given a debit that would take the balance below its floor
    world = World()
    body = json.dumps(_awarded(points=-5))  # the message text, which a failure keeps

    # When it is received for the first time
    outcome = world.consumer.process_record(_record(body))

    # Then it is FAILED at once with its message kept for replay, and sent to the DLQ (the record is acked)
    assert outcome == "dead-lettered"
    item = world.events.get("evt-1") or {}
    assert item["status"] == EventStatus.FAILED and item["attempts"] == 1
    assert item["last_error"].startswith("EffectRejectedError") and "kept_message" not in item
    assert (world.events.get("kept:evt-1") or {})["kept_message"] == body
    assert world.dead_letters is not None and world.dead_letters.sent == [(body, "EffectRejectedError")]
    assert world.points() == 0


def test_an_invalid_payload_fails_on_its_first_attempt() -> None:
    world = World()
    body = _awarded() | {"payload": {"account": "a1", "points": "many"}}

    assert world.consumer.process_record(_record(body)) == "dead-lettered"

    item = world.events.get("evt-1") or {}
    assert item["status"] == EventStatus.FAILED and item["last_error"].startswith("ValidationError: points")
    assert "many" not in item["last_error"]  # the input is never echoed
    assert runs == []


def test_an_unparseable_message_is_recorded_under_its_message_id_and_dead_lettered() -> None:
    world = World()

    assert world.consumer.process_record(_record("{not json", message_id="m-9")) == "dead-lettered"

    item = world.events.get("message:m-9") or {}
    assert item["status"] == EventStatus.FAILED and "json_invalid" in item["last_error"]
    assert world.dead_letters is not None and world.dead_letters.sent == [("{not json", "PoisonMessageError")]


def test_an_unknown_type_is_poison() -> None:
    world = World()

    assert world.consumer.process_record(_record(_awarded(event_type="no_such_type"))) == "dead-lettered"

    assert world.status() == EventStatus.FAILED


def test_without_a_dead_letter_queue_a_permanent_failure_waits_for_the_last_receive() -> None:
    # Given no DLQ to send to (PLUTUS_DEAD_LETTER_QUEUE_URL unset)
    world = World(dead_letters=False, max_receive_count=3)
    body = json.dumps(_awarded(points=-5))  # the message text, which a failure keeps

    # Then early receives are reported failed and counted PROCESSING; the last one is FAILED with its message
    with pytest.raises(EffectRejectedError):
        world.consumer.process_record(_record(body, receive_count=1))
    assert world.status() == EventStatus.PROCESSING
    with pytest.raises(EffectRejectedError):
        world.consumer.process_record(_record(body, receive_count=3))
    item = world.events.get("evt-1") or {}
    assert (
        item["status"] == EventStatus.FAILED
        and (world.events.get("kept:evt-1") or {})["kept_message"] == body
    )


def test_a_failed_dead_letter_send_leaves_the_record_on_the_queue() -> None:
    class Unreachable(FakeDeadLetters):
        def send(self, record: Any, reason: str) -> None:
            raise ConnectionError("sqs unreachable")

    world = World()
    world.consumer.dead_letters = Unreachable()  # type: ignore[assignment]

    # The record is reported failed, so SQS keeps it and delivers it again
    with pytest.raises(ConnectionError):
        world.consumer.process_record(_record(_awarded(points=-5)))
    assert world.status() == EventStatus.FAILED


def test_a_transient_failure_on_the_last_receive_is_left_for_sqs_to_dead_letter() -> None:
    world = World(max_receive_count=3)
    world.events.contend = OPTIMISTIC_ATTEMPTS

    with pytest.raises(ConcurrentUpdateError):
        world.consumer.process_record(_record(_awarded(), receive_count=3))

    assert world.status() == EventStatus.FAILED
    assert world.dead_letters is not None and world.dead_letters.sent == []


def test_poison_error_is_permanent_and_concurrency_is_not() -> None:
    from plutus.core.errors import is_permanent

    assert is_permanent(PoisonMessageError("x")) and is_permanent(EffectRejectedError("x"))
    assert not is_permanent(ConcurrentUpdateError("x")) and not is_permanent(TimeoutError())


def _batch(*accounts: str) -> list[SQSRecord]:
    return [
        _record(
            a_queued_event(f"evt-{i}", "points_awarded", {"account": a, "points": 5}, source="loyalty"),
            message_id=f"m-{i}",
        )
        for i, a in enumerate(accounts)
    ]


def test_a_batch_settles_its_independent_leading_events_and_the_rest_run_alone() -> None:
    world = World()
    records = _batch("a1", "a2", "a1", "a3")

    world.consumer.settle_batch(records)
    # Then the third writes a1, which the first writes: it and everything after it are left to run alone
    assert set(world.consumer.settled) == {"m-0", "m-1"}
    assert [world.consumer.process_record(r) for r in records] == ["processed"] * 4
    # each handler ran once, except the third's, which the batch ran before it stopped there
    assert runs == ["evt-0", "evt-1", "evt-2", "evt-2", "evt-3"]
    assert world.points() == 10


def test_a_batch_whose_commit_fails_is_processed_record_by_record() -> None:
    world = World()

    def broken(*_: Any) -> None:
        raise RuntimeError("the repository is down")

    world.events.commit_batch = broken  # type: ignore[method-assign]
    records = _batch("a1", "a2")

    world.consumer.settle_batch(records)  # never raises

    assert world.consumer.settled == {}
    assert [world.consumer.process_record(r) for r in records] == ["processed", "processed"]
    assert world.points() == 5
