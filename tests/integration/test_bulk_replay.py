"""Bulk replay by filter (`plutus replay --source/--type/--from/--until`): plan, run, resume, run again; and
the filtered DLQ redrive (`plutus dlq redrive --source/--type/--from/--until/--error`).

Every test drives the real `plutus` CLI (typer's CliRunner) against a stack provisioned from template.yaml on
the moto server, through a counting proxy: the figures a plan prints are checked against the calls a run made.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from plutus import bootstrap
from plutus.adapters.events_store import KEPT_MESSAGE, EventStatus, kept_id, ops_keys
from plutus.core.envelope import utc_now
from plutus.core.registry import EventContext, EventModel, Router
from plutus.domains import default
from plutus_dev.cli import bulk_replay, dlq
from plutus_dev.cli.app import app
from plutus_dev.cli.bulk import TokenBucket
from plutus_dev.cli.bulk_replay import Checkpoint, Selection
from plutus_dev.faults.proxy import FaultProxy
from tests import tables
from tests.builders import a_queued_event, an_event
from tests.integration.harness import Harness, harness

# Slow (each test fails events through three receives first): not in `make test-fast`.
pytestmark = pytest.mark.slow


class BulkPostedV1(EventModel):
    event_type = "test_bulk_posted"
    schema_version = "1.0"


class BulkReversedV1(EventModel):
    event_type = "test_bulk_reversed"
    schema_version = "1.0"


# The downstream is down until a test brings it back.
DOWNSTREAM = {"up": False}
router = Router("test-bulk-replay")


@router.on(BulkPostedV1)
def handle_post_bulk(event: BulkPostedV1, ctx: EventContext) -> Any:
    if not DOWNSTREAM["up"]:
        raise RuntimeError("downstream unavailable")
    return default.handle_record_receipt(event, ctx)


@router.on(BulkReversedV1)
def handle_reverse_bulk(event: BulkReversedV1, ctx: EventContext) -> Any:
    return handle_post_bulk(event, ctx)  # type: ignore[arg-type]


@pytest.fixture
def ops(proxy: FaultProxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    DOWNSTREAM["up"] = False
    monkeypatch.setenv(bulk_replay.CHECKPOINT_DIR_ENV, str(tmp_path / "checkpoints"))
    with harness(proxy.url, parameters={"MaxReceiveCount": "3"}) as h:
        bootstrap.root().registry.include_router(router)
        yield h
    DOWNSTREAM["up"] = False


def _post(h: Harness, key: str, event_type: str = "test_bulk_posted", source: str = "ledger") -> str:
    response = h.post_event(an_event(key, event_type, {"amount": 5}, source=source))
    assert response.status == 202, response.body
    event_id: str = response.json()["event_id"]
    return event_id


def _fail_all(h: Harness) -> None:
    h.drain()  # three failing receives each; then SQS moves them to the DLQ and they are FAILED
    assert h.queue_depth() == 0


def _cli(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(app, ["replay", *args], env={"COLUMNS": "250"}, input=input)


def _planned(result: Result) -> set[str]:
    """The event ids a plan says it would re-enqueue (its "First to re-enqueue" line)."""
    assert result.exit_code == 0, result.output
    line = next((x for x in result.output.splitlines() if x.startswith("First to re-enqueue: ")), "")
    return set(line.removeprefix("First to re-enqueue: ").split())


def _row(result: Result, label: str) -> str:
    """The value a plan's or report's table shows for ``label``."""
    match = re.search(rf"^{re.escape(label)}: (\S+)$", result.output, re.MULTILINE)
    assert match, result.output
    return match.group(1)


def _figure(result: Result, label: str) -> int:
    return int(_row(result, label))


def _queued_ids(h: Harness) -> list[str]:
    """The event ids of every message in the events queue (received, then made visible again)."""
    sqs = h.client("sqs")
    seen: dict[str, str] = {}
    handles = []
    while True:
        batch = tables.receive(sqs, h.queue_url, 10, visibility_timeout=30)
        if not batch:
            break
        for message in batch:
            seen[message["MessageId"]] = message["MessageAttributes"]["event_id"]["StringValue"]
            handles.append(message["ReceiptHandle"])
    for handle in handles:
        sqs.change_message_visibility(QueueUrl=h.queue_url, ReceiptHandle=handle, VisibilityTimeout=0)
    return sorted(seen.values())


def test_each_filter_dimension_and_their_combination_select_on_the_index_never_a_scan(
    ops: Harness, proxy: FaultProxy
) -> None:
    # Given FAILED events of two sources and two types, half received before a moment and half after
    a_ledger = _post(ops, "k-a1")
    a_billing = _post(ops, "k-a2", source="billing")
    middle = utc_now()
    b_ledger = _post(ops, "k-b1", "test_bulk_reversed")
    b_billing = _post(ops, "k-b2", "test_bulk_reversed", source="billing")
    _fail_all(ops)

    # When each dimension, and combinations, are planned
    before = proxy.stats.calls.copy()
    plans = {
        "all": _planned(_cli("--status", "FAILED", "--dry-run")),
        "source": _planned(_cli("--source", "ledger", "--dry-run")),
        "type": _planned(_cli("--type", "test_bulk_reversed", "--dry-run")),
        "until": _planned(_cli("--until", middle, "--dry-run")),
        "from": _planned(_cli("--from", middle, "--dry-run")),
        "relative": _planned(_cli("--from", "1h", "--dry-run")),
        "source+type+until": _planned(
            _cli("--source", "billing", "--type", "test_bulk_posted", "--until", middle, "--dry-run")
        ),
        "source+from": _planned(_cli("--source", "ledger", "--from", middle, "--dry-run")),
        "nothing": _planned(_cli("--source", "someone-else", "--dry-run")),
    }
    calls = proxy.stats.calls - before

    # Then each selects exactly its events, with Queries on the ops index and no Scan
    everything = {a_ledger, a_billing, b_ledger, b_billing}
    assert plans == {
        "all": everything,
        "source": {a_ledger, b_ledger},
        "type": {b_ledger, b_billing},
        "until": {a_ledger, a_billing},
        "from": {b_ledger, b_billing},
        "relative": everything,
        "source+type+until": {a_billing},
        "source+from": {b_ledger},
        "nothing": set(),
    }
    assert calls["dynamodb.Scan"] == 0 and calls["dynamodb.Query"] == 9 * 16  # every shard, once a plan
    # And a dry run sent nothing
    assert ops.queue_depth() == 0


def test_the_plan_counts_events_messages_and_times_and_its_estimate_is_the_calls_the_run_makes(
    ops: Harness, proxy: FaultProxy, tmp_path: Path
) -> None:
    # Given five FAILED events
    ids = [_post(ops, f"k-plan-{i}") for i in range(5)]
    _fail_all(ops)
    items = {i["event_id"]: i for i in ops.scan("EventsTable")}

    # When the CLI plans a replay of them
    shown = _cli("--source", "ledger", "--dry-run")

    # Then it shows the events, the messages, the oldest and newest receive times and a priced estimate
    assert _figure(shown, "events selected") == 5 and _figure(shown, "messages to re-enqueue") == 5
    received = sorted(items[i]["received_at"] for i in ids)
    assert (_row(shown, "oldest received"), _row(shown, "newest received")) == (received[0], received[-1])
    assert "sqs.SendMessage: 5" in shown.output and "dynamodb.UpdateItem: 5" in shown.output
    assert "dynamodb.Query: 16" in shown.output and "estimated cost: $0.0000" in shown.output

    # And the library's estimate of the run is exactly the calls the run then makes
    dynamodb, sqs = ops.client("dynamodb"), ops.client("sqs")
    table = ops.stack.refs["EventsTable"]
    checkpoint = Checkpoint(tmp_path / "plan.json", Selection(source="ledger"))
    found = bulk_replay.plan(dynamodb, table, checkpoint)
    before = proxy.stats.calls.copy()
    finished = bulk_replay.run(
        dynamodb, sqs, table, ops.queue_url, checkpoint, bucket=TokenBucket(None), stopped=lambda: False
    )
    calls = proxy.stats.calls - before
    assert finished and found.messages == 5 and found.selected == 5
    assert dict(calls) == dict(found.run.calls)
    assert found.run.sqs_billed == 5 and found.run.usd > 0
    assert sorted(_queued_ids(ops)) == sorted(ids)


def test_an_interrupted_run_resumes_from_its_checkpoint_without_sending_anything_twice(ops: Harness) -> None:
    # Given six FAILED events
    ids = [_post(ops, f"k-resume-{i}") for i in range(6)]
    _fail_all(ops)

    # When a run is stopped after two events (as Ctrl-C or SIGTERM would stop it)
    stopped = _cli("--source", "ledger", "--from", "1h", "--yes", "--stop-after", "2")
    assert stopped.exit_code == 130, stopped.output
    assert "--resume" in stopped.output
    assert ops.queue_depth() == 2

    # Then a new run of the same selection is refused until the operator says resume or restart
    refused = _cli("--source", "ledger", "--from", "1h", "--yes")
    assert refused.exit_code == 2 and "--resume" in refused.output

    # And --resume plans only the rest, and completes it
    resumed = _cli("--source", "ledger", "--from", "1h", "--yes", "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert _figure(resumed, "events selected") == 4
    assert _figure(resumed, "re-enqueued") == 6  # the report covers the whole selection

    # So every event was re-enqueued exactly once
    assert _queued_ids(ops) == sorted(ids)

    # And resuming a complete run does nothing
    again = _cli("--source", "ledger", "--from", "1h", "--yes", "--resume")
    assert again.exit_code == 0 and "complete" in again.output
    assert ops.queue_depth() == 6


def test_a_second_run_over_the_same_selection_sends_nothing_and_processed_events_are_never_sent(
    ops: Harness,
) -> None:
    # Given three FAILED events
    ids = [_post(ops, f"k-twice-{i}") for i in range(3)]
    _fail_all(ops)

    # When the selection is replayed, then replayed again before the consumer ran
    first = _cli("--type", "test_bulk_posted", "--yes")
    second = _cli("--type", "test_bulk_posted", "--yes")

    # Then the second run sent nothing: the replay marker says they were re-enqueued, no attempt since
    assert first.exit_code == 0 and _figure(first, "re-enqueued") == 3, first.output
    assert second.exit_code == 0 and "Nothing to re-enqueue" in second.output
    assert _figure(second, "skipped, re-enqueued by an earlier replay, no attempt since") == 3
    assert ops.queue_depth() == 3

    # And when the replayed messages fail again, the failure is new: a run re-enqueues them once more
    _fail_all(ops)
    assert _figure(_cli("--type", "test_bulk_posted", "--yes"), "re-enqueued") == 3
    assert ops.queue_depth() == 3

    # And once processed (effects once each) they leave the index: a run selects nothing, sends nothing
    DOWNSTREAM["up"] = True
    ops.drain()
    items = ops.scan("EventsTable")
    applied = {e: tables.applied(items, e) for e in ids}
    assert applied == {e: [1] for e in ids}
    after = _cli("--type", "test_bulk_posted", "--yes")
    assert after.exit_code == 0 and _figure(after, "events selected") == 0
    assert ops.queue_depth() == 0


def _put_indexed(ops: Harness, event_id: str, status: str, kept_body: str, *, legacy: bool = True) -> None:
    """An event item of source ``ledger`` in the ``ops`` index as FAILED (the index may lag its status),
    keeping ``kept_body`` as its message: on the event's item (``legacy``, as written before kept messages
    moved out) or in its ``kept:`` item."""
    received = utc_now()
    pk, sk = ops_keys(EventStatus.FAILED, event_id, received)
    packed = {KEPT_MESSAGE: {"B": zlib.compress(kept_body.encode())}}
    dynamodb, table = ops.client("dynamodb"), ops.stack.refs["EventsTable"]
    if not legacy:
        dynamodb.put_item(TableName=table, Item={"event_id": {"S": kept_id(event_id)}, **packed})
    dynamodb.put_item(
        TableName=table,
        Item={
            "event_id": {"S": event_id},
            "status": {"S": status},
            "source": {"S": "ledger"},
            "event_type": {"S": "test_bulk_posted"},
            "received_at": {"S": received},
            "attempts": {"N": "3"},
            "ops_pk": {"S": pk},
            "ops_sk": {"S": sk},
            **(packed if legacy else {}),
        },
    )


def test_processed_events_are_skipped_even_when_the_index_lags_and_a_rerun_is_refused(ops: Harness) -> None:
    # Given an event the consumer PROCESSED whose index entry has not been removed yet (the index is
    # eventually consistent), still holding a kept message
    event_id = "5f0c1ad2-0000-5000-8000-0000000000aa"
    _put_indexed(ops, event_id, "PROCESSED", "{}")

    # When a bulk replay selects it
    ran = _cli("--source", "ledger", "--yes")

    # Then it is skipped as PROCESSED and nothing is sent
    assert ran.exit_code == 0, ran.output
    assert _figure(ran, "skipped, PROCESSED (its effects are applied once; never re-enqueued)") == 1
    assert ops.queue_depth() == 0

    # And asking to re-run handlers of PROCESSED events is refused, with the reason
    refused = _cli("--source", "ledger", "--yes", "--rerun-processed")
    assert refused.exit_code == 2 and "exactly-once marker" in refused.output
    assert _cli("--status", "PROCESSED", "--yes").exit_code == 2
    assert ops.queue_depth() == 0


@pytest.mark.parametrize("legacy", [False, True], ids=["kept-item", "on-the-event-item"])
def test_the_kept_message_is_re_enqueued_byte_for_byte_even_when_it_carries_a_payload_pointer(
    ops: Harness, legacy: bool
) -> None:
    # Given a FAILED event whose kept message points at its payload in S3 (a large event) and is not in the
    # canonical form the ingest writes (key order, spacing, escapes)
    event_id = "5f0c1ad2-0000-5000-8000-0000000000bb"
    body = (
        '{"payload_ref": {"bucket": "b", "key": "payloads/x", "sha256": "ab"},  "event_id": "'
        + event_id
        + '", "source": "ledger", "note": "caf\\u00e9 \u00e9"}'
    )
    _put_indexed(ops, event_id, "FAILED", body, legacy=legacy)

    # When it is replayed in bulk
    assert _cli("--source", "ledger", "--yes").exit_code == 0

    # Then the message sent is the kept body, unchanged, with the replay flag and the event's id and type
    [message] = tables.receive(ops.client("sqs"), ops.queue_url, 10)
    assert message["Body"] == body
    attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attributes == {"event_id": event_id, "event_type": "test_bulk_posted", "plutus-replay": "true"}
    assert json.loads(message["Body"])["payload_ref"]["key"] == "payloads/x"


def test_without_a_terminal_a_run_never_proceeds_unless_told_yes(ops: Harness) -> None:
    _post(ops, "k-ask")
    _fail_all(ops)

    answered = _cli("--source", "ledger", input="y\n")

    assert answered.exit_code == 2 and "--yes" in answered.output
    assert ops.queue_depth() == 0


def _redrive(*args: str) -> Result:
    return CliRunner().invoke(app, ["dlq", "redrive", *args], env={"COLUMNS": "250"})


def _dlq_state(h: Harness) -> dict[str, tuple[str, dict[str, Any]]]:
    """Each DLQ message's body and attributes, by message id (a peek: they stay)."""
    return {d.message_id: (d.body, d.attributes) for d in dlq.peek(h.client("sqs"), h.dlq_url)}


def test_dlq_redrive_moves_only_what_the_filter_selects_and_leaves_the_rest_untouched(ops: Harness) -> None:
    # Given dead letters of two sources, two types, two error classes, before and after a moment: three
    # events SQS dead-lettered after their last receive (RuntimeError, in the events table) and two
    # messages the consumer dead-lettered at once (PoisonMessageError, in the message's attribute)
    sqs = ops.client("sqs")
    early = _post(ops, "k-dlq-a")
    billing = _post(ops, "k-dlq-b", source="billing")
    middle = utc_now()
    late = _post(ops, "k-dlq-c", "test_bulk_reversed")
    sqs.send_message(QueueUrl=ops.queue_url, MessageBody="{not json")
    unknown = "5f0c1ad2-0000-5000-8000-0000000000dd"
    queued = a_queued_event(unknown, "test_no_such_type_here", source="ledger", received_at=utc_now())
    sqs.send_message(QueueUrl=ops.queue_url, MessageBody=json.dumps(queued))
    _fail_all(ops)
    letters = dlq.peek(sqs, ops.dlq_url)
    assert len(letters) == 5

    # When the operator plans redrives by each dimension
    plans = {
        name: _figure(_redrive(*args, "--dry-run"), "messages to move")
        for name, args in {
            "source": ("--source", "ledger"),
            "type": ("--type", "test_bulk_reversed"),
            "until": ("--until", middle),
            "error": ("--error", "PoisonMessageError"),
            "combined": ("--error", "RuntimeError", "--source", "ledger", "--from", middle),
            "none": ("--source", "nobody"),
        }.items()
    }

    # Then each plan counts its messages (the unparseable one has no source, so only "error" selects it)
    assert plans == {"source": 3, "type": 1, "until": 2, "error": 2, "combined": 1, "none": 0}
    assert ops.queue_depth() == 0 and dlq.queue_counts(sqs, ops.dlq_url) == (5, 0)

    # When the billing source's messages are redriven, rate-limited
    before = _dlq_state(ops)
    moved = _redrive("--source", "billing", "--rate", "50", "--yes")

    # Then only that message moved, its body and attributes unchanged; the others stay, visible, as they were
    assert moved.exit_code == 0, moved.output
    assert "Moved 1 message(s)" in moved.output and "Left 4 message(s)" in moved.output
    [sent] = tables.receive(sqs, ops.queue_url, 10, visibility_timeout=0)
    billing_letter = next(d for d in letters if d.event_id == billing)
    assert sent["Body"] == billing_letter.body
    assert sent["MessageAttributes"]["event_id"]["StringValue"] == billing
    after = _dlq_state(ops)
    assert after == {k: v for k, v in before.items() if v[0] != billing_letter.body}
    assert dlq.queue_counts(sqs, ops.dlq_url) == (4, 0)

    # And the errors filter: the consumer's own dead letters move, the events SQS dead-lettered stay
    poison = _redrive("--error", "PoisonMessageError", "--yes")
    assert poison.exit_code == 0 and "Moved 2 message(s)" in poison.output, poison.output
    assert dlq.queue_counts(sqs, ops.dlq_url) == (2, 0)
    assert {d.event_id for d in dlq.peek(sqs, ops.dlq_url)} == {early, late}

    # And the same redrive again finds nothing to move
    again = _redrive("--error", "PoisonMessageError", "--yes")
    assert again.exit_code == 0 and "Nothing to redrive" in again.output
    assert ops.queue_depth() == 3 and dlq.queue_counts(sqs, ops.dlq_url) == (2, 0)
    bodies = {m["Body"] for m in tables.receive(sqs, ops.queue_url, 10, visibility_timeout=0)}
    assert bodies == {billing_letter.body, "{not json", json.dumps(queued)}


def test_sigterm_stops_a_rate_limited_run_between_events_and_resume_completes_it(
    ops: Harness, tmp_path: Path
) -> None:
    # Given five FAILED events and a run limited to one event every two seconds, in its own process
    ids = [_post(ops, f"k-term-{i}") for i in range(5)]
    _fail_all(ops)
    checkpoints = tmp_path / "term"
    env = {**os.environ, bulk_replay.CHECKPOINT_DIR_ENV: str(checkpoints), "COLUMNS": "250"}
    command = [sys.executable, "-m", "plutus_dev.cli.app", "replay", "--source", "ledger", "--yes"]
    slow = [*command, "--rate", "0.5"]
    process = subprocess.Popen(slow, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    # When SIGTERM arrives once the first event is re-enqueued (the run is then waiting for its next token)
    try:
        _wait_for(lambda: _checkpoint_count(checkpoints) >= 1, process)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
    finally:
        process.kill()

    # Then it stopped cleanly (exit 130, checkpoint saved) before the end of the selection
    assert process.returncode == 130, output
    stopped_at = _checkpoint_count(checkpoints)
    assert 1 <= stopped_at < 5 and ops.queue_depth() == stopped_at

    # And --resume sends the rest, each event once in all
    resumed = subprocess.run(
        [*command, "--resume"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert _queued_ids(ops) == sorted(ids)


def _checkpoint_count(directory: Path) -> int:
    files = list(directory.glob("*.json"))
    if not files:
        return 0
    counts: dict[str, int] = json.loads(files[0].read_text())["counts"]
    return counts.get("re-enqueued", 0)


def _wait_for(condition: Any, process: subprocess.Popen[str]) -> None:
    """Poll ``condition`` until it holds (or the process ends, which fails the test with its output)."""
    for _ in range(600):
        if condition():
            return
        if process.poll() is not None:
            raise AssertionError(process.communicate()[0])
        time.sleep(0.1)
    raise AssertionError("the run never re-enqueued its first event")
