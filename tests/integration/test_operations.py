"""Operating failures: poison messages, the DLQ (inspect, redrive), replay by id, and the `plutus` CLI."""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
from typer.testing import CliRunner

from plutus import bootstrap
from plutus.adapters.events_store import KEPT_MESSAGE, kept_id
from plutus.core.registry import EventContext, EventModel, Router
from plutus.domains import default
from plutus_dev.cli import dlq, replay
from plutus_dev.cli.app import app
from plutus_dev.faults.proxy import FaultProxy
from tests import tables
from tests.builders import a_queued_event, an_event
from tests.integration.harness import Harness, harness

# Slow (up to 8 s: the redrive fallback and the CLI walk through the DLQ): not in `make test-fast`.
pytestmark = pytest.mark.slow


class LedgerPostedV1(EventModel):
    event_type = "test_ledger_posted"
    schema_version = "1.0"


# The ledger is down until a test brings it back.
LEDGER = {"up": False}
router = Router("test-ops")


@router.on(LedgerPostedV1)
def handle_post_ledger(event: LedgerPostedV1, ctx: EventContext) -> Any:
    if not LEDGER["up"]:
        raise RuntimeError("ledger unavailable")
    return default.handle_record_receipt(event, ctx)


@pytest.fixture
def ops(proxy: FaultProxy) -> Iterator[Harness]:
    LEDGER["up"] = False
    with harness(proxy.url, parameters={"MaxReceiveCount": "3"}) as h:
        # Both functions' registry (fresh per harness) learns the test type, so ingest accepts it.
        bootstrap.root().registry.include_router(router)
        yield h
    LEDGER["up"] = False


def _post(h: Harness, key: str, event_type: str | None = "test_ledger_posted") -> str:
    response = h.post_event(an_event(key, event_type, {"amount": 5, "memo": "caf\u00e9"}, source="ledger"))
    assert response.status == 202, response.body
    event_id: str = response.json()["event_id"]
    return event_id


def _applied(h: Harness, event_id: str) -> list[int]:
    return tables.applied(h.scan("EventsTable"), event_id)


def _dead_letters(h: Harness) -> list[dlq.DeadLetter]:
    return dlq.peek(h.client("sqs"), h.dlq_url)


def _fail_until_dead_lettered(h: Harness) -> None:
    h.drain()  # three receives, each failing; the next receive moves the messages to the DLQ
    assert h.queue_depth() == 0


def _event_item(h: Harness, event_id: str) -> dict[str, Any]:
    return next(i for i in h.scan("EventsTable") if i["event_id"] == event_id)


def test_poison_messages_fail_and_are_dead_lettered_on_their_first_attempt_without_blocking_their_batch(
    ops: Harness,
) -> None:
    sqs = ops.client("sqs")
    # Given a batch with an unparseable body, an unknown event type and a healthy event
    sqs.send_message(QueueUrl=ops.queue_url, MessageBody="{not json")
    unknown = a_queued_event("5f0c1ad2-0000-5000-8000-000000000001", "no_such_type", source="ledger")
    sqs.send_message(QueueUrl=ops.queue_url, MessageBody=json.dumps(unknown))
    healthy = _post(ops, "k-healthy", event_type=None)

    # When the first batch is processed
    records, failed = ops.poller().poll_once()

    # Then the healthy event is PROCESSED, and the two poison records, which no retry can cure, are not
    # retried: each is FAILED with its reason on its first attempt and already in the DLQ
    assert len(records) == 3 and failed == set()
    assert ops.get_event(healthy).json()["status"] == "PROCESSED"
    assert ops.queue_depth() == 0
    poison = next(i for i in ops.scan("EventsTable") if i["event_id"].startswith("message:"))
    assert poison["status"] == "FAILED" and poison["attempts"] == 1
    assert "ValidationError: " in poison["last_error"] and "json_invalid" in poison["last_error"]
    typed = ops.get_event(unknown["event_id"]).json()
    assert typed["status"] == "FAILED" and typed["attempts"] == 1
    assert typed["last_error"] == "PoisonMessageError: event_type 'no_such_type' v1.0 is not registered"
    letters = _dead_letters(ops)
    assert sorted(d.body for d in letters) == sorted(["{not json", json.dumps(unknown)])


def test_peek_shows_the_dlq_without_removing_anything(ops: Harness) -> None:
    event_id = _post(ops, "k-peek")
    _fail_until_dead_lettered(ops)

    found = dlq.summary(ops.client("sqs"), ops.dlq_url)
    letters = _dead_letters(ops)

    assert (found.visible, found.in_flight, found.scanned) == (1, 0, 1)
    assert found.oldest_age_seconds is not None and found.oldest_age_seconds >= 0
    assert [(d.event_id, d.envelope()["event_type"]) for d in letters] == [(event_id, "test_ledger_posted")]
    assert letters[0].receive_count >= 3
    assert dlq.queue_counts(ops.client("sqs"), ops.dlq_url) == (1, 0)


def test_a_failed_event_keeps_its_message_and_replay_applies_it_once(ops: Harness) -> None:
    # Given an event that failed every allowed receive
    event_id = _post(ops, "k-replay")
    _fail_until_dead_lettered(ops)
    assert ops.get_event(event_id).json()["status"] == "FAILED"
    # kept in an item of its own (the event's item stays small), expiring with the FAILED event
    failed_item, kept = _event_item(ops, event_id), _event_item(ops, kept_id(event_id))
    assert KEPT_MESSAGE not in failed_item and KEPT_MESSAGE in kept
    assert kept["expires_at"] == failed_item["expires_at"]
    assert set(kept) == {"event_id", KEPT_MESSAGE, "expires_at"}

    # When the ledger is back and the operator replays it, twice by mistake, before the consumer runs
    LEDGER["up"] = True
    dynamodb, sqs = ops.client("dynamodb"), ops.client("sqs")
    table = ops.stack.refs["EventsTable"]
    first = replay.replay_events(dynamodb, sqs, table, ops.queue_url, [event_id])
    second = replay.replay_events(dynamodb, sqs, table, ops.queue_url, [event_id])
    assert [r.outcome for r in first + second] == [replay.Outcome.REPLAYED] * 2
    assert ops.drain() == 2

    # Then it is PROCESSED, its effect applied once, and its kept message dropped
    assert ops.get_event(event_id).json()["status"] == "PROCESSED"
    assert _applied(ops, event_id) == [1]
    assert KEPT_MESSAGE not in _event_item(ops, event_id)

    # And replaying a PROCESSED event sends nothing
    again = replay.replay_events(dynamodb, sqs, table, ops.queue_url, [event_id, "no-such-id"])
    assert [r.outcome for r in again] == [replay.Outcome.SKIPPED, replay.Outcome.NOT_FOUND]
    assert ops.queue_depth() == 0

    # And redriving its DLQ copy afterwards is absorbed too
    result = dlq.redrive(sqs, ops.dlq_url, ops.queue_url)
    assert result.moved == 1
    assert ops.drain() == 1
    assert _applied(ops, event_id) == [1]


def test_an_event_failed_before_messages_moved_out_of_its_item_still_replays_its_exact_message(
    ops: Harness,
) -> None:
    # Given a FAILED event as written before: the message on the event's item, no kept item
    event_id = _post(ops, "k-legacy")
    _fail_until_dead_lettered(ops)
    dynamodb, sqs = ops.client("dynamodb"), ops.client("sqs")
    table = ops.stack.refs["EventsTable"]
    packed = bytes(_event_item(ops, kept_id(event_id))[KEPT_MESSAGE])
    dynamodb.update_item(
        TableName=table,
        Key={"event_id": {"S": event_id}},
        UpdateExpression=f"SET {KEPT_MESSAGE} = :m",
        ExpressionAttributeValues={":m": {"B": packed}},
    )
    dynamodb.delete_item(TableName=table, Key={"event_id": {"S": kept_id(event_id)}})

    # When it is replayed by id
    [result] = replay.replay_events(dynamodb, sqs, table, ops.queue_url, [event_id])

    # Then the message re-sent is the one it kept, byte for byte
    assert result.outcome is replay.Outcome.REPLAYED
    [message] = tables.receive(sqs, ops.queue_url, 10)
    assert message["Body"] == zlib.decompress(packed).decode()
    assert json.loads(message["Body"])["event_id"] == event_id


def test_redrive_falls_back_on_moto_and_keeps_message_attributes(ops: Harness) -> None:
    event_ids = {_post(ops, f"k-redrive-{i}") for i in range(12)}
    _fail_until_dead_lettered(ops)
    assert len(_dead_letters(ops)) == 12

    # When the DLQ is redriven (moto does not implement StartMessageMoveTask: HTTP 500)
    progress: list[tuple[int, int | None]] = []
    result = dlq.redrive(
        ops.client("sqs"), ops.dlq_url, ops.queue_url, on_progress=lambda m, t: progress.append((m, t))
    )

    # Then it took the fallback path, said why, and moved every message with its attributes
    assert result.path == dlq.FALLBACK
    assert result.reason == "StartMessageMoveTask answered HTTP 500"  # said once, not "HTTP 500 (500)"
    assert (result.moved, result.failed) == (12, 0)
    assert progress[-1] == (12, 12)
    assert dlq.queue_counts(ops.client("sqs"), ops.dlq_url) == (0, 0)
    moved = tables.receive(ops.client("sqs"), ops.queue_url, 10, visibility_timeout=0)
    assert {m["MessageAttributes"]["event_id"]["StringValue"] for m in moved} <= event_ids
    assert all(m["MessageAttributes"]["event_type"]["StringValue"] == "test_ledger_posted" for m in moved)

    # And with the ledger back they are processed once each
    LEDGER["up"] = True
    ops.drain()
    assert {e: _applied(ops, e) for e in event_ids} == {e: [1] for e in event_ids}


def test_the_cli_lists_failed_events_from_the_index_shows_the_dlq_redrives_and_replays(
    ops: Harness, proxy: FaultProxy
) -> None:
    runner = CliRunner()
    failed = _post(ops, "k-cli-failed")
    done = _post(ops, "k-cli-done", event_type=None)
    _fail_until_dead_lettered(ops)

    # plutus events list --status FAILED: Queries on the ops index, never a Scan
    before = proxy.stats.calls.copy()
    listed = runner.invoke(app, ["events", "list", "--status", "FAILED"], env={"COLUMNS": "200"})
    calls = proxy.stats.calls - before
    assert listed.exit_code == 0, listed.output
    assert failed in listed.output and done not in listed.output
    assert calls["dynamodb.Query"] >= 1 and calls["dynamodb.Scan"] == 0

    shown = runner.invoke(app, ["events", "get", failed])
    assert shown.exit_code == 0 and '"status": "FAILED"' in shown.output
    assert '"replayable": true' in shown.output
    # its kept message's item is no event, to the CLI as to the API
    not_an_event = runner.invoke(app, ["events", "get", kept_id(failed)])
    assert not_an_event.exit_code == 1 and "no event" in not_an_event.output
    assert ops.get_event(kept_id(failed)).status == 404

    counted = runner.invoke(app, ["dlq", "list"], env={"COLUMNS": "200"})
    assert counted.exit_code == 0 and "EventsDeadLetterQueue" in counted.output

    peeked = runner.invoke(app, ["dlq", "show"], env={"COLUMNS": "200"})
    assert peeked.exit_code == 0 and failed in peeked.output and "receive count" in peeked.output
    assert "amount" not in peeked.output  # payloads only with --payload

    by_status = runner.invoke(app, ["replay", "--status", "FAILED", "--since", "1h", "--dry-run"])
    assert by_status.exit_code == 0 and failed in by_status.output and done not in by_status.output

    LEDGER["up"] = True
    replayed = runner.invoke(app, ["replay", failed, done], env={"COLUMNS": "200"})
    assert replayed.exit_code == 0, replayed.output
    assert "1 of 2 event(s) re-enqueued" in replayed.output and "already PROCESSED" in replayed.output

    redriven = runner.invoke(app, ["dlq", "redrive", "--yes"])
    assert redriven.exit_code == 0, redriven.output
    assert "Path: receive -> send -> delete" in redriven.output and "Moved 1 message(s)" in redriven.output

    ops.drain()
    assert _applied(ops, failed) == [1] and _applied(ops, done) == [1]
    refused = runner.invoke(app, ["replay", "--status", "PROCESSED"])
    assert refused.exit_code == 2


def test_only_failing_events_are_indexed_listing_filters_by_source_and_every_record_expires(
    ops: Harness, proxy: FaultProxy
) -> None:
    runner = CliRunner()
    # Given one event that keeps failing, and one (untyped, so it is recorded) that is processed
    failed = _post(ops, "k-ttl-failed")
    done = _post(ops, "k-ttl-done", event_type=None)
    received = _event_item(ops, failed)
    assert "ops_pk" not in received and int(received["expires_at"]) > 0

    # When the consumer has run out of receives
    _fail_until_dead_lettered(ops)

    # Then only the FAILED one carries the index keys; both carry an expiry, the FAILED one the longer
    failed_item, done_item = _event_item(ops, failed), _event_item(ops, done)
    assert failed_item["ops_pk"].startswith("FAILED#") and failed_item["ops_sk"].endswith(f"#{failed}")
    assert "ops_pk" not in done_item and "ops_sk" not in done_item
    days = (int(failed_item["expires_at"]) - int(done_item["expires_at"])) / 86_400
    assert 60 <= days < 61  # FailedRetentionDays 90 - EventRetentionDays 30, the FAILED write the later

    # And the listing by source queries the index, never scans
    before = proxy.stats.calls.copy()
    mine = runner.invoke(app, ["events", "list", "--source", "ledger"], env={"COLUMNS": "200"})
    other = runner.invoke(app, ["events", "list", "--source", "someone-else"], env={"COLUMNS": "200"})
    replayable = runner.invoke(app, ["replay", "--status", "FAILED", "--source", "ledger", "--dry-run"])
    calls = proxy.stats.calls - before
    assert failed in mine.output and "1 FAILED event(s)" in mine.output
    assert failed not in other.output and "no FAILED events from someone-else" in other.output
    assert replayable.exit_code == 0 and failed in replayable.output and done not in replayable.output
    assert calls["dynamodb.Scan"] == 0 and calls["dynamodb.Query"] >= 3

    # And a state the index does not hold is refused, not scanned for
    refused = runner.invoke(app, ["events", "list", "--status", "PROCESSED"])
    assert refused.exit_code == 2 and "by id" in refused.output
