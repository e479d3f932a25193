"""Fan-out over moto: the bus from template.yaml (FanOutBus=create), a subscriber's rule -> SQS target, and
the real consumer publishing each PROCESSED event once, through duplicates, redeliveries and failures."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from plutus.core.registry import EventContext, EventModel, Router
from plutus_dev.emulator.resources import Emulator
from plutus_dev.faults.proxy import FaultKind, FaultProxy, Rule, operation_is
from tests import tables
from tests.builders import an_event
from tests.integration.capture import capture_output
from tests.integration.harness import Harness, app_client, harness
from tests.integration.redelivery import redeliver_after_commit, send_duplicate

router = Router("fanout-integration")
runs: list[str] = []


class ParcelShippedV1(EventModel):
    event_type = "parcel_shipped"
    schema_version = "1.0"

    parcel: str


@router.on(ParcelShippedV1)
def handle_ship_parcel(event: ParcelShippedV1, ctx: EventContext) -> None:
    runs.append(ctx.event_id)


# --8<-- [start:subscribe]
def _subscribe(h: Harness) -> str:
    """What another team does, with no change to Plutus: a rule on the bus, targeting its own queue."""
    bus = h.stack.output("FanOutBusName")
    sqs, events = h.client("sqs"), h.client("events")
    url = sqs.create_queue(QueueName=f"{h.stack.name}-subscriber")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(
        Name="parcels-team",
        EventBusName=bus,
        EventPattern=json.dumps({"source": [{"prefix": "plutus."}], "detail-type": ["parcel_shipped"]}),
    )
    events.put_targets(Rule="parcels-team", EventBusName=bus, Targets=[{"Id": "queue", "Arn": arn}])
    return str(url)
    # --8<-- [end:subscribe]


def _announcements(h: Harness, url: str) -> list[dict[str, Any]]:
    """Every event the subscriber's queue received (EventBridge's envelope: source, detail-type, detail)."""
    sqs = h.client("sqs")
    found = []
    while batch := tables.receive(sqs, url, 10):
        found += [json.loads(m["Body"]) for m in batch]
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
        )
    return found


def _stack(emulator: Emulator, **parameters: str) -> Iterator[tuple[Harness, str]]:
    with harness(
        emulator.url,
        parameters={"MaxReceiveCount": "3", "FanOutBus": "create", **parameters},
        routers=[router],
    ) as h:
        yield h, _subscribe(h)


@pytest.fixture
def fanout(emulator: Emulator) -> Iterator[tuple[Harness, str]]:
    runs.clear()
    yield from _stack(emulator)


@pytest.fixture
def fanout_with_payload(emulator: Emulator) -> Iterator[tuple[Harness, str]]:
    runs.clear()
    yield from _stack(emulator, FanOutIncludePayload="true")


def _ship(h: Harness, key: str, parcel: str) -> str:
    response = h.post_event(an_event(key, "parcel_shipped", {"parcel": parcel}, source="warehouse"))
    assert response.status in (200, 202), response.body
    return str(response.json()["event_id"])


def test_the_template_creates_the_bus_and_names_it_to_the_consumer(fanout: tuple[Harness, str]) -> None:
    h, _ = fanout
    bus = h.stack.output("FanOutBusName")
    assert bus == f"{h.stack.name}-fanout" and h.env["PLUTUS_FANOUT_BUS"] == bus
    assert h.client("events").describe_event_bus(Name=bus)["Arn"] == h.stack.output("FanOutBusArn")


def test_each_processed_event_is_published_once_through_duplicates_and_redeliveries(
    fanout: tuple[Harness, str],
) -> None:
    h, subscriber = fanout
    # Given two events, one of them sent twice by its producer (the second is a 200 duplicate)
    first, second = _ship(h, "k-1", "p-1"), _ship(h, "k-2", "p-2")
    assert _ship(h, "k-1", "p-1") == first

    # When SQS delivers each twice (a lost delete: the redelivery runs no handler)
    assert redeliver_after_commit(h) == 2 and h.drain() == 2
    assert sorted(runs) == sorted([first, second])
    # ...and one again as a new message (SQS's at-least-once duplicate: a first delivery skips the status
    # read, so its handler runs, and the commit's marker refuses its effects)
    send_duplicate(h, json.dumps(_queued(h, first)))
    assert h.drain() == 1

    # Then the subscriber got each event once, metadata only, with its id
    got = _announcements(h, subscriber)
    assert sorted(a["detail"]["event_id"] for a in got) == sorted([first, second])
    for announcement in got:
        assert (
            announcement["source"] == "plutus.warehouse" and announcement["detail-type"] == "parcel_shipped"
        )
        detail = announcement["detail"]
        assert detail["payload_included"] is False and "payload" not in detail
        assert detail["source"] == "warehouse" and detail["processed_at"] >= detail["received_at"]


def _queued(h: Harness, event_id: str) -> dict[str, Any]:
    """The queued body of an event, rebuilt from its record (as ingest enqueued it)."""
    found = next(i for i in h.scan("EventsTable") if i["event_id"] == event_id)
    return {
        "event_id": event_id,
        "source": found["source"],
        "event_type": found["event_type"],
        "schema_version": found["schema_version"],
        "received_at": found["received_at"],
        "payload": {"parcel": "p-1"},
    }


def test_the_payload_is_published_only_when_the_setting_allows_it(
    fanout_with_payload: tuple[Harness, str],
) -> None:
    h, subscriber = fanout_with_payload
    _ship(h, "k-1", "p-77")

    h.drain()

    [announcement] = _announcements(h, subscriber)
    assert announcement["detail"]["payload_included"] is True
    assert announcement["detail"]["payload"] == {"parcel": "p-77"}


class _Refuse:
    """botocore's before-call hook on the consumer's EventBridge client: the next ``times`` PutEvents calls
    have every entry refused (FailedEntryCount), or fail as a whole (a 500) when ``whole_call``."""

    def __init__(self, times: int, *, whole_call: bool = False) -> None:
        self.times = times
        self.whole_call = whole_call
        self.calls = 0

    def __call__(self, params: dict[str, Any], **_: Any) -> tuple[Any, dict[str, Any]] | None:
        self.calls += 1
        if self.times == 0:
            return None  # the call goes to the bus
        self.times -= 1
        entries = json.loads(params["body"])["Entries"]
        if self.whole_call:
            return _HttpStatus(500), {"Error": {"Code": "InternalFailure", "Message": "injected"}}
        refused = [{"ErrorCode": "ThrottlingException", "ErrorMessage": "injected"} for _ in entries]
        return _HttpStatus(200), {"FailedEntryCount": len(entries), "Entries": refused}


class _HttpStatus:
    def __init__(self, status_code: int) -> None:
        self.status_code = status_code
        self.headers: dict[str, str] = {}


@pytest.mark.parametrize("whole_call", [False, True], ids=["entries-refused", "call-failed"])
def test_a_failed_publish_is_retried_by_redelivery_counted_and_runs_no_handler_twice(
    fanout: tuple[Harness, str], whole_call: bool
) -> None:
    h, subscriber = fanout
    events_client = app_client("events")
    # Given a bus that refuses the first invocation's publish (a call and its two entry retries)
    refuse = _Refuse(1 if whole_call else 3, whole_call=whole_call)
    events_client.meta.events.register_first("before-call.eventbridge.PutEvents", refuse)
    try:
        event_id = _ship(h, "k-1", "p-1")

        # When the queue is drained (a failed record is redelivered at once)
        with capture_output() as out:
            delivered = h.drain()
    finally:
        events_client.meta.events.unregister("before-call.eventbridge.PutEvents", refuse)

    # Then the record was delivered twice, its handler ran once, and the second delivery published it
    assert refuse.times == 0 and delivered == 2 and runs == [event_id]
    assert [a["detail"]["event_id"] for a in _announcements(h, subscriber)] == [event_id]
    assert (out.total("fanout_failure_total"), out.total("fanout_published_total")) == (1, 1)
    assert out.total("processing_success_total") == 1 and out.total("processing_duplicate_total") == 1
    assert h.queue_depth() == 0 and h.queue_depth(h.dlq_url) == 0


def test_with_fan_out_off_nothing_is_published_and_no_marker_is_written(emulator: Emulator) -> None:
    with harness(emulator.url, parameters={"MaxReceiveCount": "3"}) as h:
        assert "PLUTUS_FANOUT_BUS" not in h.env
        h.post_event(an_event(f"k-{uuid.uuid4().hex}"))
        h.drain()
        items = h.scan("EventsTable")
    assert [i["status"] for i in items] == ["PROCESSED"]
    assert all("fanout_batch" not in i for i in items)


@pytest.mark.slow
def test_a_bus_unavailable_through_the_fault_proxy_is_retried_by_redelivery(emulator: Emulator) -> None:
    # Given the consumer reaching AWS through the fault proxy, and EventBridge answering 503 to every attempt
    # botocore makes of the first PutEvents call (standard mode, max_attempts 3: the call and 3 retries)
    runs.clear()
    with FaultProxy(emulator.url) as proxy:
        rule = proxy.add_rule(Rule(operation_is("events", "PutEvents"), FaultKind.UNAVAILABLE, times=4))
        with harness(
            proxy.url, parameters={"MaxReceiveCount": "3", "FanOutBus": "create"}, routers=[router]
        ) as h:
            subscriber = _subscribe(h)
            event_id = _ship(h, "k-1", "p-1")

            # When the queue is drained (a failed record is redelivered at once)
            delivered = h.drain()

            # Then the second delivery published it, without running the handler again
            assert rule.times == 0 and proxy.stats.calls["events.PutEvents"] == 5
            assert delivered == 2 and runs == [event_id]
            assert [a["detail"]["event_id"] for a in _announcements(h, subscriber)] == [event_id]
