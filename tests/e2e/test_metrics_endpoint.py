"""GET /metrics and `plutus stats` of the embedded stack after a scripted run, on a stack of their own so the
counts are exact: new events, duplicates, rejections, and a message that fails until the dead-letter queue."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from plutus_dev.cli.app import app
from plutus_dev.emulator.metrics import Sample, parse_prometheus
from plutus_dev.emulator.resources import free_port
from plutus_dev.emulator.stack import LocalStack, StackConfig
from tests.builders import an_event

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("PLUTUS_API_URL")),
    reason="/metrics is the embedded stack's; a deployed stack has CloudWatch",
)

MARKER = "MARKER-e2e-4111111111111111"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    local = LocalStack(
        StackConfig(
            port=free_port(),
            emulator_port=free_port(),
            api_concurrency=1,
            consumer_pollers=1,
            stack_name="e2e-metrics",
            parameters={"MaxReceiveCount": "2"},
            log_dir=tmp_path_factory.mktemp("logs"),
        )
    )
    local.start()
    assert local.stack
    # A failed message comes back after 1 s instead of the deployed 180 s.
    local.client("sqs").set_queue_attributes(
        QueueUrl=local.stack.refs["EventsQueue"], Attributes={"VisibilityTimeout": "1"}
    )
    yield local
    local.stop()


def _scrape(api: httpx.Client) -> list[Sample]:
    response = api.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return parse_prometheus(response.text)


def _total(samples: list[Sample], name: str, **labels: str) -> float:
    return sum(s.value for s in samples if s.name == name and labels.items() <= s.labels.items())


def test_metrics_show_the_seed_names_with_exact_counts_after_a_scripted_run(stack: LocalStack) -> None:
    assert stack.stack
    with httpx.Client(base_url=stack.url, timeout=30) as api:
        # Before anything happened, the seed's names are there at zero
        before = _scrape(api)
        for name in (
            "ingest_requests_total",
            "raw_events_created_total",
            "raw_events_duplicate_total",
            "processing_success_total",
            "processing_failure_total",
        ):
            assert [s.value for s in before if s.name == name] == [0], name

        # When: 3 new events, 2 replays, 2 rejections, and one message nobody can parse
        keys = [f"k-{uuid.uuid4().hex}" for _ in range(3)]
        assert [
            api.post("/api/v1/ingest", json=an_event(k, payload={"note": MARKER}, source="e2e")).status_code
            for k in keys
        ] == [202] * 3
        assert [
            api.post("/api/v1/ingest", json=an_event(k, payload={"note": MARKER}, source="e2e")).status_code
            for k in keys[:2]
        ] == [200] * 2
        assert (
            api.post("/api/v1/ingest", json={"source": "e2e", "payload": {"note": MARKER}}).status_code == 422
        )
        assert api.post("/api/v1/ingest", content=b'{"note": "' + MARKER.encode()).status_code == 400
        stack.client("sqs").send_message(QueueUrl=stack.stack.refs["EventsQueue"], MessageBody=MARKER)

        # Then, once the consumer is done (bounded wait: processing is asynchronous)
        deadline = time.monotonic() + 60
        while True:
            after = _scrape(api)
            done = (
                _total(after, "processing_success_total") >= 3
                and _total(after, "dlq_messages_total") >= 1
                and _total(after, "queue_messages", queue="dead_letter") >= 1
                # the dead-lettered record is deleted from the events queue after its batch returns
                and _total(after, "queue_messages", queue="events") == 0
            )
            if done or time.monotonic() > deadline:
                break
            time.sleep(0.25)

    assert _total(after, "ingest_requests_total") == 7
    assert _total(after, "raw_events_created_total") == 3
    assert _total(after, "raw_events_duplicate_total") == 2
    assert _total(after, "processing_success_total") == 3
    # The bad message cannot be parsed: a permanent failure, dead-lettered by the consumer at once
    assert _total(after, "processing_failure_total") == 1
    assert _total(after, "processing_failure_total", event_type="unknown") == 1
    assert _total(after, "processing_retry_total") == 0
    assert _total(after, "dlq_messages_total") == 1
    assert _total(after, "ingest_rejected_total", reason="validation") == 1
    assert _total(after, "ingest_rejected_total", reason="malformed") == 1
    assert _total(after, "ingest_latency_seconds_count") == 7
    assert _total(after, "event_processing_lag_seconds_count") == 3
    assert _total(after, "queue_messages", queue="dead_letter") == 1
    assert _total(after, "queue_messages", queue="events") == 0
    assert {s.labels["environment"] for s in after if "environment" in s.labels} == {"dev"}

    # And `plutus stats` prints the same figures
    result = CliRunner().invoke(app, ["stats", "--url", stack.url], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    table = {
        line.split("│")[2].strip(): line.split("│")[3].strip()
        for line in result.output.splitlines()
        if line.count("│") == 5
    }
    assert table["ingest_requests_total"] == "7"
    assert table["raw_events_created_total"] == "3"
    assert table["raw_events_duplicate_total"] == "2"
    assert table["processing_success_total"] == "3"
    assert table["processing_failure_total"] == "1"
    assert table["dlq_messages_total"] == "1"
    assert table["queue_messages"] == "1"

    # And the marker, in every payload and in the dead-lettered message, is in no function's log file
    logs = list(Path(stack.config.log_dir).glob("*.jsonl"))
    assert {p.name for p in logs} == {"IngestFunction.jsonl", "ConsumerFunction.jsonl"}
    assert all(MARKER not in p.read_text() for p in logs)
    assert any(
        "unparseable message" in line for line in (stack.config.log_dir / "ConsumerFunction.jsonl").open()
    )


def test_stats_says_so_when_no_stack_is_running() -> None:
    result = CliRunner().invoke(app, ["stats", "--url", f"http://127.0.0.1:{free_port()}"])
    assert result.exit_code == 1
    assert "No metrics at" in result.output
