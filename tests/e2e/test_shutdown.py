"""`make dev` stops cleanly on SIGTERM: in-flight batches finish and nothing is left half-processed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from plutus_dev.emulator.resources import Emulator, free_port
from tests.builders import an_event


@pytest.mark.skipif(bool(os.environ.get("PLUTUS_API_URL")), reason="starts its own embedded stack")
def test_sigterm_drains_in_flight_work_and_exits(emulator: Emulator, tmp_path: Path) -> None:
    # Given the embedded stack on an external endpoint (so its state can be inspected after it stops)
    port, name = free_port(), f"sd{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": emulator.url,
        "PLUTUS_PORT": str(port),
        "PLUTUS_STACK_NAME": name,
        "PLUTUS_API_CONCURRENCY": "2",
        "PLUTUS_STATE_DIR": str(tmp_path),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "plutus_dev.emulator.stack"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if "ready" in line:
                break
        # When events are accepted and the stack is told to stop while it is processing them
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as api:
            ids = [
                api.post(
                    "/api/v1/ingest",
                    json=an_event(f"k{i}", payload={"i": i}, source="s"),
                ).json()["event_id"]
                for i in range(40)
            ]
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()

    # Then it exits cleanly, and every event is PROCESSED or its message is still in the queue: visible, or
    # in flight after an attempt that failed under load (SQS redelivers it after the visibility timeout)
    assert proc.returncode == 0, out
    assert "Stopped." in out
    assert list(tmp_path.glob("*.json")) == []  # a clean stop removes the stack's state file
    ddb = boto3.client("dynamodb", endpoint_url=emulator.url)
    sqs = boto3.client("sqs", endpoint_url=emulator.url)
    queue_url = sqs.get_queue_url(QueueName=f"{name}-EventsQueue")["QueueUrl"]
    in_flight = int(
        sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"][
            "ApproximateNumberOfMessagesNotVisible"
        ]
    )
    visible = {json.loads(m["Body"])["event_id"] for m in _visible_messages(sqs, queue_url)}
    statuses = {
        event_id: ddb.get_item(
            TableName=f"{name}-EventsTable", Key={"event_id": {"S": event_id}}, ConsistentRead=True
        )["Item"]["status"]["S"]
        for event_id in ids
    }
    unfinished = {i for i, status in statuses.items() if status != "PROCESSED"}
    assert set(statuses.values()) <= {"PROCESSED", "RECEIVED", "PROCESSING"}, statuses
    assert len(unfinished - visible) <= in_flight, (statuses, visible, in_flight, out)


def _visible_messages(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    # After a clean stop no batch is in flight: whatever was not processed is still visible in the queue.
    seen: dict[str, dict[str, Any]] = {}
    for _ in range(20):
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=30)
        if not batch.get("Messages"):
            break
        seen.update({m["MessageId"]: m for m in batch["Messages"]})
    return list(seen.values())
