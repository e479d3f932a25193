"""A 5 MB payload through the embedded stack: accepted, stored in S3 behind a pointer, processed; after a
forced failure, shown by `plutus dlq show --payload` and replayable by `plutus replay` and `plutus dlq
redrive`, the pointer re-enqueued as a pointer."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from plutus.adapters import events_store
from plutus.core.payloads import payload_prefix
from plutus_dev.cli import dlq
from plutus_dev.cli.app import app
from plutus_dev.emulator.dev_events import EVENT_TYPE
from plutus_dev.emulator.stack import LocalStack
from tests.e2e import devstack


def wait(probe: Callable[[], Any], what: str) -> Any:
    """Poll longer than the other walks: 5 MB bodies on a loaded machine."""
    return devstack.wait_for(probe, what, timeout=90.0)


pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        bool(os.environ.get("PLUTUS_API_URL")), reason="reads the embedded stack's bucket and tables"
    ),
]

FIVE_MB = 5_000_000
# Long enough for both of the dev profile's receives (5 s apart) to fail, even on a loaded machine.
FAIL_FOR_SECONDS = 15.0


@pytest.fixture(scope="module")
def dev_stack() -> Iterator[LocalStack]:
    yield from devstack.dev_stack("big")


def _post(
    stack: LocalStack, key: str, payload: dict[str, Any], event_type: str | None = None
) -> httpx.Response:
    body = {"source": "bulk", "schema_version": "1.0", "idempotency_key": key, "payload": payload}
    if event_type:
        body["event_type"] = event_type
    return httpx.post(stack.url + "/api/v1/ingest", json=body, timeout=60)


def _event(stack: LocalStack, event_id: str) -> dict[str, Any]:
    assert stack.stack is not None
    table = stack.stack.refs["EventsTable"]
    return events_store.get_event(stack.client("dynamodb"), table, event_id, consistent=True) or {}


def _stored(stack: LocalStack, event_id: str) -> bytes:
    assert stack.stack is not None
    s3 = stack.client("s3")
    bucket = stack.stack.refs["PayloadBucket"]
    (key,) = [
        o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=payload_prefix(event_id))["Contents"]
    ]
    found: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return found


def test_a_5_mb_payload_is_accepted_stored_and_processed(dev_stack: LocalStack) -> None:
    # Given a 5 MB payload, far above the 256 KiB inline threshold
    response = _post(dev_stack, f"five-{uuid.uuid4().hex}", {"blob": "x" * FIVE_MB})

    # Then it is accepted, its payload stored under its event id, and it is processed
    assert response.status_code == 202, response.text
    event_id = response.json()["event_id"]
    assert json.loads(_stored(dev_stack, event_id)) == {"blob": "x" * FIVE_MB}
    processed = wait(lambda: _event(dev_stack, event_id).get("status") == "PROCESSED", "PROCESSED")
    assert processed


def test_a_body_over_the_direct_limit_is_a_413_naming_the_limit(dev_stack: LocalStack) -> None:
    response = _post(dev_stack, f"huge-{uuid.uuid4().hex}", {"blob": "x" * 5_300_000})

    assert response.status_code == 413
    detail = response.json()["detail"]
    assert "the limit is 5242880 bytes" in detail and "6 MB" in detail and "by reference" in detail


def test_a_failed_5_mb_event_is_shown_and_replayed_by_id_and_by_redrive(
    dev_stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert dev_stack.stack is not None
    sqs = dev_stack.client("sqs")
    dlq_url = dev_stack.stack.refs["EventsDeadLetterQueue"]
    monkeypatch.setenv("PLUTUS_STACK_NAME", dev_stack.config.stack_name)
    cli = ["--endpoint-url", dev_stack.endpoint_url]

    # Given two 5 MB events whose handler fails for their first seconds (the dev profile's failing type)
    payload = {"fail_for_seconds": FAIL_FOR_SECONDS, "blob": "y" * FIVE_MB}
    ids = [
        _post(dev_stack, f"fails-{i}-{uuid.uuid4().hex}", payload, EVENT_TYPE).json()["event_id"]
        for i in (1, 2)
    ]

    # When the consumer has tried them as often as the dev profile allows
    for event_id in ids:
        failed = wait(
            lambda e=event_id: _event(dev_stack, e).get("status") == "FAILED" and _event(dev_stack, e),
            "FAILED",
        )
        assert "failing on purpose" in failed["last_error"]
    wait(lambda: dlq.queue_counts(sqs, dlq_url)[0] == 2, "both in the DLQ")
    failed_at = time.monotonic()

    # Then the DLQ holds pointers, and `dlq show --payload` shows the stored payload, its digest checked
    shown = CliRunner().invoke(app, ["dlq", "show", "--payload", *cli])
    assert shown.exit_code == 0, shown.output
    assert shown.output.count("(sha256 checked)") == 2 and "payload_ref" in shown.output
    time.sleep(max(0.0, FAIL_FOR_SECONDS - (time.monotonic() - failed_at)) + 0.5)

    # When the first is replayed by id
    replayed = CliRunner().invoke(app, ["replay", ids[0], *cli])
    assert replayed.exit_code == 0, replayed.output
    assert "1 of 1 event(s) re-enqueued" in replayed.output

    # And the DLQ is redriven (the second's message, and the first's DLQ copy, which is absorbed)
    redriven = CliRunner().invoke(app, ["dlq", "redrive", "--yes", *cli])
    assert redriven.exit_code == 0, redriven.output

    # Then both are PROCESSED from their stored payloads, and the DLQ is empty
    for event_id in ids:
        wait(lambda e=event_id: _event(dev_stack, e).get("status") == "PROCESSED", "PROCESSED")
    wait(lambda: dlq.queue_counts(sqs, dlq_url) == (0, 0), "the DLQ empty")
