"""The fault-injection run (plutus_dev.faults.run) through POST /api/v1/ingest/batch: with 5% of the
functions' AWS calls failing (lost answers included) and 4 competing consumers, nothing is lost and
nothing doubled."""

from __future__ import annotations

import os

import pytest

from plutus_dev.faults.run import ChaosStack, RunConfig, run

# Slow (e2e: an embedded stack behind the fault proxy): not in `make test-fast`.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        bool(os.environ.get("PLUTUS_API_URL")), reason="needs the embedded stack behind the fault proxy"
    ),
]


def test_batches_under_injected_faults_lose_nothing_and_double_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given 200 events + 10% duplicates sent in batches of 20, 5% of AWS calls failing, 4 consumers
    config = RunConfig(events=200, producers=4, batch_size=20)
    with ChaosStack(config) as chaos:
        report = run(chaos)
        calls = dict(chaos.proxy.stats.calls) if chaos.proxy else {}
    with capsys.disabled():
        print("\n" + "\n".join(f"  batch fault run: {line}" for line in report.lines()))

    # Then every event got a final answer with the id Plutus derives, through the batch API's calls
    assert set(report.responses) <= {200, 202, 409, 503}, report.responses
    assert report.gave_up == [] and report.wrong_ids == []
    assert calls.get("dynamodb.BatchGetItem", 0) > 0 and calls.get("sqs.SendMessageBatch", 0) > 0
    assert report.faults.total() > 0

    # And every accepted event is PROCESSED, or FAILED in the DLQ; nothing applied twice; recovery completes
    audit = report.audit
    assert audit.accepted == config.events
    assert audit.lost == [] and audit.doubled == [] and audit.orphan_effects == []
    assert audit.failed == report.doomed_accepted == audit.in_dlq > 0
    assert report.recovery is not None and report.recovery.processed == report.recovery.accepted
    assert report.recovery.lost == [] and report.recovery.doubled == []
