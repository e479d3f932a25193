"""Nothing lost, nothing doubled: concurrency and fault injection against the embedded stack.

The functions reach the emulator through the fault proxy; the event source mapping (pollers) and the audit
reach it directly. ``make soak`` runs the same fault run with 10,000 events.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from plutus_dev.cli.dlq import FALLBACK
from plutus_dev.faults.run import ChaosStack, RunConfig, run

# Slow (e2e: an embedded stack behind the fault proxy): not in `make test-fast`.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        bool(os.environ.get("PLUTUS_API_URL")), reason="needs the embedded stack behind the fault proxy"
    ),
]

# A few hundred events keep `make test` short; `make soak` runs 10,000.
# A tenth of them carry 300 KB payloads: stored in S3 behind pointers, their puts and gets faulted too.
SMALL_RUN = RunConfig(events=200, producers=16, large_ratio=0.1)


@pytest.fixture(scope="module")
def chaos() -> Iterator[ChaosStack]:
    with ChaosStack(SMALL_RUN) as stack:
        yield stack


def test_100_concurrent_requests_with_one_key_make_one_event_one_message_one_handler_run(
    chaos: ChaosStack,
) -> None:
    from plutus_dev.faults.run import concurrent_same_key

    result = concurrent_same_key(chaos, requests=100)

    assert set(result["codes"]) <= {200, 202, 409}, result["codes"]
    assert result["codes"][202] == 1
    assert result["event_ids"] == {result["event_id"]}
    assert len(result["events"]) == 1 and result["events"][0]["status"] == "PROCESSED"
    assert result["send_message_calls"] == 1
    assert result["handler_runs"] == 1
    assert result["applied"] == [1]


def test_under_injected_faults_nothing_is_lost_and_nothing_doubled(
    chaos: ChaosStack, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given 200 events + 10% duplicates, 5% of the functions' AWS calls failing, 4 competing consumers
    report = run(chaos)
    with capsys.disabled():
        print("\n" + "\n".join(f"  fault run: {line}" for line in report.lines()))

    # Then producers always got an answer they could act on, with the id Plutus derives
    assert set(report.responses) <= {200, 202, 409, 503}, report.responses
    assert report.gave_up == [] and report.wrong_ids == []
    # And the faults really happened, including answers lost after the backend applied the call
    kinds = set(report.faults)
    assert report.faults.total() > 0 and kinds & {"lost-500", "lost-reset", "lost-timeout"}

    # And every accepted event is PROCESSED, or FAILED with its message in the DLQ; nothing applied twice
    audit = report.audit
    assert audit.accepted == SMALL_RUN.events
    assert audit.lost == [] and audit.doubled == [] and audit.orphan_effects == []
    assert audit.processed + audit.failed == audit.accepted
    assert audit.failed == report.doomed_accepted == audit.in_dlq > 0
    # And each large event's payload was stored once, under its own id, however often its put was retried
    assert report.stored_payloads == report.large == 20
    # (through the fault proxy: their puts and gets were as exposed to faults as every other call)
    assert chaos.proxy is not None
    calls = chaos.proxy.stats.calls
    assert calls["s3.PutObject"] >= report.large and calls["s3.GetObject"] >= report.large

    # And the operator's recovery (replay FAILED by id, redrive the DLQ) processes them, once each
    recovery = report.recovery
    assert recovery is not None
    assert report.replayed == report.doomed_accepted
    assert report.redrive_path == FALLBACK  # moto answers StartMessageMoveTask with HTTP 500
    assert recovery.processed == recovery.accepted
    assert recovery.lost == [] and recovery.doubled == [] and recovery.dlq_messages == 0
