"""The parts of bulk replay and filtered redrive that need no AWS: rate limit, signals, pricing, selection."""

from __future__ import annotations

import json
import signal
import zlib
from pathlib import Path
from typing import Any

import pytest

from plutus.adapters.events_store import KEPT_MESSAGE, EventStatus, OpsFilter, ops_query
from plutus_dev.cli import bulk_replay, dlq, replay
from plutus_dev.cli.bulk import Estimate, TokenBucket, item_bytes, stop_on_signals
from plutus_dev.cli.bulk_replay import Checkpoint, Selection, Skip, classify
from plutus_dev.prices import PRICES


class FakeClock:
    """A monotonic clock that moves only when the bucket sleeps on it."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def wait(self, seconds: float) -> bool:
        self.sleeps.append(seconds)
        self.now += seconds
        return False


def test_the_token_bucket_spends_its_burst_then_sleeps_exactly_until_each_next_token() -> None:
    clock = FakeClock()
    bucket = TokenBucket(4, burst=2, clock=clock, wait=clock.wait)

    taken = [bucket.take() for _ in range(6)]

    assert taken == [True] * 6
    # two at once, then one every 1/4 s: four sleeps of 0.25 s, never a spin
    assert clock.sleeps == pytest.approx([0.25] * 4)
    assert clock.now == pytest.approx(101.0)


def test_the_token_bucket_refills_while_idle_up_to_its_burst_only() -> None:
    clock = FakeClock()
    bucket = TokenBucket(10, burst=3, clock=clock, wait=clock.wait)
    for _ in range(3):
        bucket.take()
    clock.now += 60  # a long pause earns no more than the burst

    for _ in range(4):
        bucket.take()

    assert clock.sleeps == pytest.approx([0.1])


def test_a_stop_during_the_wait_ends_the_take_without_a_token() -> None:
    clock = FakeClock()
    bucket = TokenBucket(1, burst=1, clock=clock, wait=lambda seconds: True)

    assert bucket.take() is True
    assert bucket.take() is False
    assert TokenBucket(None).take() is True  # no rate: never waits
    with pytest.raises(ValueError):
        TokenBucket(0)


def test_sigterm_and_sigint_set_the_stop_event_instead_of_killing_the_run() -> None:
    with stop_on_signals() as stop:
        signal.raise_signal(signal.SIGTERM)
        by_term = stop.is_set()
    with stop_on_signals() as stop:
        signal.raise_signal(signal.SIGINT)
        by_int = stop.is_set()

    assert by_term and by_int
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored afterwards


def test_the_estimate_bills_reads_by_4kb_writes_by_1kb_and_sqs_by_64kb_at_the_shared_prices() -> None:
    estimate = Estimate()
    estimate.query(9_000)  # 3 x 4 KB, eventually consistent: 1.5 units
    estimate.read("BatchGetItem", [100, 5_000], consistent=True)  # 1 + 2 units
    estimate.write("UpdateItem", 2_500)  # 3 units
    estimate.sqs("SendMessage", 70_000)  # two 64 KB chunks

    assert dict(estimate.calls) == {
        "dynamodb.Query": 1,
        "dynamodb.BatchGetItem": 1,
        "dynamodb.UpdateItem": 1,
        "sqs.SendMessage": 1,
    }
    assert (estimate.read_units, estimate.write_units, estimate.sqs_billed) == (4.5, 3, 2)
    expected = (
        4.5 * PRICES["dynamodb_per_million_rru"]
        + 3 * PRICES["dynamodb_per_million_wru"]
        + 2 * PRICES["sqs_per_million_requests"]
    ) / 1_000_000
    assert estimate.usd == pytest.approx(expected)


def test_the_bench_prices_with_the_same_figures() -> None:
    from bench import cost

    assert cost.PRICES is PRICES


def _failed(**extra: Any) -> dict[str, Any]:
    return {"event_id": "e", "status": "FAILED", "attempts": 3, KEPT_MESSAGE: zlib.compress(b"{}"), **extra}


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        (None, Skip.GONE),
        (_failed(status="PROCESSED"), Skip.PROCESSED),
        (_failed(status="PROCESSING"), Skip.RETRYING),
        ({"event_id": "e", "status": "FAILED", "attempts": 3}, Skip.NO_MESSAGE),
        (_failed(**{replay.REPLAYED_ATTEMPT: 3}), Skip.ALREADY),
        (_failed(**{replay.REPLAYED_ATTEMPT: 2}), None),  # tried again since the replay: a new failure
        (_failed(), None),
    ],
)
def test_what_a_run_does_with_each_event_follows_its_status_message_and_replay_marker(
    item: dict[str, Any] | None, expected: Skip | None
) -> None:
    assert classify(item) == expected


def test_a_failed_events_message_counts_whether_kept_on_its_own_item_or_on_the_event_legacy() -> None:
    bare = {"event_id": "e", "status": "FAILED", "attempts": 3}
    kept = {"event_id": "kept:e", KEPT_MESSAGE: zlib.compress(b"{}")}

    assert classify(bare, kept) is None
    assert classify(bare, {"event_id": "kept:e"}) == Skip.NO_MESSAGE
    assert classify({**bare, replay.REPLAYED_ATTEMPT: 3}, kept) == Skip.ALREADY
    assert classify(_failed(), None) is None  # legacy: the message on the event's item


def test_the_index_query_bounds_the_sort_key_and_filters_source_and_type_on_the_projection() -> None:
    # BETWEEN is inclusive, but a sort key is "<received_at>#<id>": one received exactly at --until sorts
    # after the bound, so the range is [since, until).
    both = ops_query("events", "FAILED#03", OpsFilter("2026-01-01", "2026-02-01", "shop", "order_placed"))
    lower = ops_query("events", "FAILED#03", OpsFilter(since="2026-01-01"))
    upper = ops_query("events", "FAILED#03", OpsFilter(until="2026-02-01"))

    assert both["IndexName"] == "ops"
    assert both["KeyConditionExpression"] == "#pk = :pk AND #sk BETWEEN :since AND :until"
    assert both["FilterExpression"] == "#source = :source AND #event_type = :event_type"
    assert (
        lower["KeyConditionExpression"] == "#pk = :pk AND #sk >= :since" and "FilterExpression" not in lower
    )
    assert upper["KeyConditionExpression"] == "#pk = :pk AND #sk < :until"


def test_a_checkpoint_is_named_by_the_selection_as_typed_and_keeps_the_bounds_it_resolved(
    tmp_path: Path,
) -> None:
    options = {"status": None, "source": "shop", "type": None, "from": "2h", "until": None}
    key = bulk_replay.checkpoint_key("events", options)
    selection = Selection(EventStatus.FAILED, "shop", None, "2026-01-01T00:00:00.000000Z", None)
    saved = Checkpoint(
        tmp_path / f"{key}.json",
        selection,
        {"FAILED#01": {"event_id": {"S": "e"}}},
        ["FAILED#00"],
        {"re-enqueued": 2},
    )
    saved.save()

    loaded = Checkpoint.load(saved.path)

    assert key == bulk_replay.checkpoint_key("events", dict(options))
    assert key != bulk_replay.checkpoint_key("other-table", options)
    assert key != bulk_replay.checkpoint_key("events", {**options, "source": "billing"})
    assert (loaded.selection, loaded.positions, loaded.finished, loaded.counts) == (
        saved.selection,
        saved.positions,
        saved.finished,
        saved.counts,
    )
    assert json.loads(saved.path.read_text())["complete"] is False
    assert not saved.path.with_suffix(".tmp").exists()


def _letter(body: str, attributes: dict[str, Any] | None = None, sent_ms: int = 0) -> dlq.DeadLetter:
    return dlq.DeadLetter("m", None, 1, sent_ms, body, attributes or {})


def test_the_dlq_filter_reads_the_envelope_the_consumers_note_or_the_events_last_error() -> None:
    body = json.dumps(
        {
            "event_id": "e",
            "source": "shop",
            "event_type": "order_placed",
            "received_at": "2026-01-01T10:00:00.000000Z",
            "payload": {},
        }
    )
    noted = _letter(
        body, {"plutus-dead-lettered": {"DataType": "String", "StringValue": "PoisonMessageError"}}
    )
    plain = _letter(body)
    unparseable = _letter("{not json", sent_ms=1_767_261_600_000)  # 2026-01-01T10:00:00Z
    from_table: dict[str, str | None] = {"m": "RuntimeError"}

    def errors(letter: dlq.DeadLetter) -> str | None:
        return dlq.ErrorClasses(None, None)(letter) or from_table[letter.message_id]

    assert dlq.LetterFilter(source="shop", event_type="order_placed").matches(plain, errors)
    assert not dlq.LetterFilter(source="billing").matches(plain, errors)
    assert dlq.LetterFilter(error="PoisonMessageError").matches(noted, errors)
    assert dlq.LetterFilter(error="RuntimeError").matches(plain, errors)
    assert not dlq.LetterFilter(error="RuntimeError").matches(noted, errors)
    assert dlq.LetterFilter(since="2026-01-01T10:00:00.000000Z").matches(plain, errors)
    assert not dlq.LetterFilter(until="2026-01-01T10:00:00.000000Z").matches(plain, errors)
    assert dlq.received_at(unparseable) == "2026-01-01T10:00:00.000000Z"
    assert not dlq.LetterFilter(source="shop").matches(unparseable, errors)
    assert not dlq.LetterFilter() and dlq.LetterFilter(error="X")


def test_an_items_size_counts_names_strings_and_binary_values() -> None:
    from boto3.dynamodb.types import Binary

    assert item_bytes({"ab": "cde", "k": Binary(b"12345")}) == 2 + 3 + 1 + 5
