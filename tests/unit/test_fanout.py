"""Fan-out to EventBridge against in-memory fakes: what is announced, once, and what a failed publish does."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from botocore.exceptions import ClientError

from plutus.adapters.events_store import FANOUT_BATCH, Retention, processed_update
from plutus.adapters.fanout import EventBridgePublisher
from plutus.consumer import fanout as consumer_fanout
from plutus.consumer.fanout import FanOut
from plutus.consumer.processor import Consumer
from plutus.core.effects import Effect, Update
from plutus.core.envelope import QueuedEvent
from plutus.core.fanout import (
    MAX_ENTRIES_PER_CALL,
    MAX_REQUEST_BYTES,
    Announcement,
    announce,
    bus_source,
    calls,
)
from plutus.core.registry import EventContext, EventModel, Registry, Router
from plutus.domains import default
from tests.builders import a_queued_event, an_sqs_record
from tests.fakes import FakeEvents, FakeState, settings

router = Router("fanout-unit")
runs: list[str] = []


class ParcelShippedV1(EventModel):
    event_type = "parcel_shipped"
    schema_version = "1.0"

    parcel: str


@router.on(ParcelShippedV1)
def handle_ship_parcel(event: ParcelShippedV1, ctx: EventContext) -> Iterator[Effect]:
    runs.append(ctx.event_id)
    yield Update(f"PARCEL#{event.parcel}", "STATE", set={"shipped": True})


class FakePublisher:
    """The bus: every announcement it took, and the event ids it is told to refuse (each refusal once)."""

    def __init__(self) -> None:
        self.published: list[Announcement] = []
        self.calls = 0
        self.refuse: set[str] = set()

    def publish(self, announcements: Sequence[Announcement]) -> frozenset[str]:
        self.calls += 1
        refused = frozenset(a.event_id for a in announcements if a.event_id in self.refuse)
        self.refuse -= refused
        self.published += [a for a in announcements if a.event_id not in refused]
        return refused


class World:
    """A consumer with fan-out on, wired to fakes as the composition root wires the real adapters."""

    def __init__(self, *, include_payload: bool = False) -> None:
        registry = Registry(default_handler=default.handle_record_receipt)
        registry.include_router(router)
        self.events = FakeEvents(FakeState())
        self.bus = FakePublisher()
        self.consumer = Consumer(
            settings(fanout_bus="plutus-bus", fanout_include_payload=include_payload),
            registry,
            self.events,  # type: ignore[arg-type]
            self.events.state,
            fanout=FanOut(self.bus, self.events, include_payload=include_payload),
        )

    def invoke(self, *records: dict[str, Any]) -> list[str]:
        """One Lambda invocation over ``records``: each processed, then the batch published; returns the
        message ids reported in batchItemFailures."""
        failures = []
        for record in records:
            try:
                self.consumer.process_record(SQSRecord(record))
            except Exception:
                failures.append({"itemIdentifier": record["messageId"]})
        response = self.consumer.publish_processed(
            {"batchItemFailures": failures}, {"Records": list(records)}
        )
        return [f["itemIdentifier"] for f in response["batchItemFailures"]]

    def details(self) -> list[dict[str, Any]]:
        return [json.loads(a.detail) for a in self.bus.published]


def _shipped(event_id: str = "evt-1", parcel: str = "p1", **extra: Any) -> dict[str, Any]:
    return a_queued_event(event_id, "parcel_shipped", {"parcel": parcel, **extra}, source="warehouse")


def _metrics(consumer: Consumer, capsys: pytest.CaptureFixture[str]) -> dict[str, float]:
    consumer.metrics.flush("test")
    totals: dict[str, float] = {}
    for line in capsys.readouterr().out.splitlines():
        doc = json.loads(line)
        if "_aws" not in doc:
            continue  # a log line
        for definition in doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
            name = definition["Name"]
            if definition["Unit"] == "Count":
                totals[name] = totals.get(name, 0) + sum(doc[name])
    return totals


@pytest.fixture(autouse=True)
def _clear_runs() -> None:
    runs.clear()


def test_a_processed_event_is_announced_with_its_metadata_and_no_payload() -> None:
    world = World()

    assert world.invoke(an_sqs_record(_shipped())) == []

    [announcement] = world.bus.published
    assert (announcement.source, announcement.detail_type) == ("plutus.warehouse", "parcel_shipped")
    detail = world.details()[0]
    assert detail["event_id"] == "evt-1" and detail["source"] == "warehouse"
    assert detail["schema_version"] == "1.0" and detail["received_at"] == _shipped()["received_at"]
    assert detail["processed_at"] == world.events.items["evt-1"]["processed_at"]
    assert detail["payload_included"] is False and "payload" not in detail


def test_the_payload_goes_along_only_when_the_setting_allows_it() -> None:
    world = World(include_payload=True)

    world.invoke(an_sqs_record(_shipped(parcel="p-42")))

    detail = world.details()[0]
    assert detail["payload_included"] is True and detail["payload"] == {"parcel": "p-42"}


def test_a_payload_over_the_entry_limit_is_left_out_and_flagged() -> None:
    event = QueuedEvent.model_validate(_shipped(notes="x" * MAX_REQUEST_BYTES))

    announcement = announce(event, "2026-01-01T00:00:01.000000Z", include_payload=True)

    detail = json.loads(announcement.detail)
    assert detail["payload_included"] is False and detail["payload_omitted"] == "too_large"
    assert "payload" not in detail and announcement.size < 1_024


def test_a_redelivered_published_event_is_not_announced_again_nor_handled_again() -> None:
    # Given an event processed and published, whose delete was lost
    world = World()
    world.invoke(an_sqs_record(_shipped()))

    # When SQS delivers it again, and an operator replays it
    assert world.invoke(an_sqs_record(_shipped(), receive_count=2, message_id="m-1")) == []
    assert world.invoke(an_sqs_record(_shipped(), replay=True, message_id="m-2")) == []

    # Then the handler ran once and the bus has one announcement
    assert runs == ["evt-1"] and len(world.bus.published) == 1


def test_a_failed_publish_is_reported_then_published_on_redelivery_without_running_handlers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a bus that refuses the event's first announcement
    world = World()
    world.bus.refuse.add("evt-1")

    # When the batch is processed
    failed = world.invoke(
        an_sqs_record(_shipped(), message_id="m-1"), an_sqs_record(_shipped("evt-2", "p2"), message_id="m-2")
    )

    # Then the event is PROCESSED, but its record is reported failed so SQS delivers it again
    assert failed == ["m-1"] and world.events.is_processed("evt-1")
    assert [a.event_id for a in world.bus.published] == ["evt-2"]
    assert _metrics(world.consumer, capsys) == {
        "processing_success_total": 2,
        "fanout_published_total": 1,
        "fanout_failure_total": 1,
    }

    # When SQS redelivers it (twice: the second finds it published)
    assert world.invoke(an_sqs_record(_shipped(), receive_count=2, message_id="m-1")) == []
    assert world.invoke(an_sqs_record(_shipped(), receive_count=3, message_id="m-1")) == []

    # Then it was published once, and no handler ran again
    assert sorted(a.event_id for a in world.bus.published) == ["evt-1", "evt-2"]
    assert runs == ["evt-1", "evt-2"]
    counts = _metrics(world.consumer, capsys)
    assert counts["fanout_published_total"] == 1 and "fanout_failure_total" not in counts


def test_two_messages_of_one_event_in_a_batch_are_announced_once_and_both_reported_if_it_fails() -> None:
    world = World()
    world.bus.refuse.add("evt-1")

    failed = world.invoke(
        an_sqs_record(_shipped(), message_id="m-1"), an_sqs_record(_shipped(), message_id="m-2")
    )

    # (the second message's handler runs, but the commit's marker refuses its effects: one event processed)
    assert failed == ["m-1", "m-2"] and world.bus.calls == 1 and world.bus.published == []


def test_a_record_already_reported_failed_is_not_reported_twice() -> None:
    # Given a record staged for publishing that the batch processor also reported failed
    world = World()
    world.bus.refuse.add("evt-1")
    world.consumer.process_record(SQSRecord(an_sqs_record(_shipped())))

    # When its publish fails too
    response = world.consumer.publish_processed(
        {"batchItemFailures": [{"itemIdentifier": "m-1"}]}, {"Records": [an_sqs_record(_shipped())]}
    )

    # Then it is listed once

    assert response["batchItemFailures"] == [{"itemIdentifier": "m-1"}]


def test_an_event_processed_before_fan_out_was_on_is_announced_when_redelivered() -> None:
    world = World()
    fanout, world.consumer.fanout = world.consumer.fanout, None
    world.invoke(an_sqs_record(_shipped()))
    world.consumer.fanout = fanout

    world.invoke(an_sqs_record(_shipped(), receive_count=2))

    assert [a.event_id for a in world.bus.published] == ["evt-1"] and runs == ["evt-1"]


def test_a_failed_marker_write_still_acknowledges_what_was_published() -> None:
    class Unwritable(FakeEvents):
        def mark_published(self, batch: str, event_ids: list[str], now: str) -> None:
            raise ConnectionError("dynamodb unreachable")

    world = World()
    world.events.__class__ = Unwritable

    assert world.invoke(an_sqs_record(_shipped())) == []
    assert len(world.bus.published) == 1


def test_publish_markers_hold_a_bounded_number_of_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(consumer_fanout, "MARKER_CAPACITY", 2)
    world = World()

    world.invoke(*(an_sqs_record(_shipped(f"evt-{i}", f"p{i}"), message_id=f"m-{i}") for i in range(5)))

    markers = {k: v["published"] for k, v in world.events.items.items() if k.startswith("fanout:")}
    assert sorted(len(ids) for ids in markers.values()) == [1, 2, 2]
    assert set().union(*markers.values()) == {f"evt-{i}" for i in range(5)}


def test_with_fan_out_off_the_commit_writes_nothing_more() -> None:
    event = QueuedEvent.model_validate(_shipped())

    off = processed_update("events", event, "2026-01-01T00:00:01.000000Z", Retention())
    on = processed_update("events", event, "2026-01-01T00:00:01.000000Z", Retention(), fanout_batch="b1")

    assert (
        FANOUT_BATCH not in off["UpdateExpression"]
        and ":fanout_batch" not in off["ExpressionAttributeValues"]
    )
    assert f"{FANOUT_BATCH} = :fanout_batch" in on["UpdateExpression"]


def _announcement(event_id: str, size: int = 0) -> Announcement:
    return Announcement(event_id, "plutus.s", "t", json.dumps({"pad": "x" * size}))


def test_calls_hold_ten_entries_and_256_kb_at_most() -> None:
    small = [_announcement(f"e{i}") for i in range(25)]
    big = [_announcement(f"b{i}", 100_000) for i in range(5)]

    assert [len(c) for c in calls(small)] == [MAX_ENTRIES_PER_CALL, MAX_ENTRIES_PER_CALL, 5]
    assert [len(c) for c in calls(big)] == [2, 2, 1]
    assert all(sum(a.size for a in c) <= MAX_REQUEST_BYTES for c in calls(big))


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("payment_service", "plutus.payment_service"),
        ("acme corp/billing:eu", "plutus.acme_corp/billing_eu"),
        ("s" * 255, "plutus." + "s" * 249),
    ],
)
def test_the_bus_source_keeps_to_eventbridge_rules(source: str, expected: str) -> None:
    assert bus_source(source) == expected


class FakeEventsClient:
    """An EventBridge client whose answers are scripted: a list of per-call outcomes."""

    def __init__(self, *outcomes: Any) -> None:
        self.outcomes = list(outcomes)
        self.requests: list[list[dict[str, Any]]] = []

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803 - boto3's name
        self.requests.append(Entries)
        outcome = self.outcomes.pop(0) if self.outcomes else "ok"
        if isinstance(outcome, Exception):
            raise outcome
        if outcome == "ok":
            return {"FailedEntryCount": 0, "Entries": [{"EventId": "x"} for _ in Entries]}
        refused = outcome  # the Detail texts to refuse
        entries = [
            {"ErrorCode": "ThrottlingException"} if e["Detail"] in refused else {"EventId": "x"}
            for e in Entries
        ]
        return {"FailedEntryCount": sum("ErrorCode" in e for e in entries), "Entries": entries}


def test_refused_entries_are_sent_again_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("plutus.adapters.retry.backoff", lambda attempt: None)
    first, second = _announcement("e1"), _announcement("e2", 1)
    client = FakeEventsClient({second.detail})

    unpublished = EventBridgePublisher(client, "bus").publish([first, second])

    assert unpublished == frozenset()
    assert [[e["Detail"] for e in r] for r in client.requests] == [
        [first.detail, second.detail],
        [second.detail],
    ]
    assert all(e["EventBusName"] == "bus" for r in client.requests for e in r)


def test_entries_refused_every_time_are_returned(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("plutus.adapters.retry.backoff", lambda attempt: None)
    stubborn = _announcement("e1")
    client = FakeEventsClient({stubborn.detail}, {stubborn.detail}, {stubborn.detail})

    assert EventBridgePublisher(client, "bus").publish([stubborn]) == frozenset({"e1"})
    assert len(client.requests) == 3  # one call and two retries (botocore does not retry entries)


def test_a_failed_call_is_not_retried_again_and_the_calls_after_it_are_not_tried() -> None:
    throttled = ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "PutEvents")
    announcements = [_announcement(f"e{i}") for i in range(15)]  # two calls
    client = FakeEventsClient(throttled)

    unpublished = EventBridgePublisher(client, "bus").publish(announcements)

    assert unpublished == {f"e{i}" for i in range(15)} and len(client.requests) == 1


def test_a_record_of_an_earlier_invocation_is_published_but_never_reported_in_this_one() -> None:
    # Given an event staged by an invocation that raised before publishing (so it published nothing)
    world = World()
    world.consumer.process_record(SQSRecord(an_sqs_record(_shipped(), message_id="m-old")))
    world.bus.refuse.add("evt-1")

    # When the next invocation publishes, and that announcement is refused
    failed = world.invoke(an_sqs_record(_shipped("evt-2", "p2"), message_id="m-new"))

    # Then only this batch's records can be reported (Lambda fails a batch whose response names a stranger)
    assert failed == [] and [a.event_id for a in world.bus.published] == ["evt-2"]
