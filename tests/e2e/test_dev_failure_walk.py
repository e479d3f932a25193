"""The newcomer's failure walk on the dev profile: an event that fails on purpose reaches FAILED and the
dead-letter queue within seconds, and `plutus replay` then processes it."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from plutus.adapters import events_store
from plutus.core.envelope import parse_timestamp
from plutus_dev.cli import dlq
from plutus_dev.cli.app import app
from plutus_dev.emulator.dev_events import EVENT_TYPE
from plutus_dev.emulator.stack import LocalStack
from tests.e2e import devstack
from tests.e2e.devstack import wait_for

# Slow (e2e: an embedded stack on the dev profile, a 15 s failure walk): not in `make test-fast`.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        bool(os.environ.get("PLUTUS_API_URL")), reason="the dev profile is the embedded stack's"
    ),
]

FAIL_FOR_SECONDS = 8.0


@pytest.fixture(scope="module")
def dev_stack() -> Iterator[LocalStack]:
    yield from devstack.dev_stack("walk")


def test_failure_dlq_and_replay_on_the_dev_profile(
    dev_stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert dev_stack.stack is not None
    table = dev_stack.stack.refs["EventsTable"]
    dynamodb, sqs = dev_stack.client("dynamodb"), dev_stack.client("sqs")
    started = time.monotonic()

    # Given an event of the dev-only type that fails for its first FAIL_FOR_SECONDS
    response = httpx.post(
        dev_stack.url + "/api/v1/ingest",
        json={
            "source": "newcomer",
            "schema_version": "1.0",
            "event_type": EVENT_TYPE,
            "idempotency_key": f"walk-{uuid.uuid4().hex}",
            "payload": {"fail_for_seconds": FAIL_FOR_SECONDS},
        },
        timeout=30,
    )
    assert response.status_code == 202, response.text
    event_id = response.json()["event_id"]

    def event() -> dict[str, Any]:
        return events_store.get_event(dynamodb, table, event_id, consistent=True) or {}

    # When the consumer has tried it as often as the dev profile allows (2 receives, 5 s apart)
    failed = wait_for(lambda: event().get("status") == "FAILED" and event(), "FAILED")
    assert failed["attempts"] == 2
    assert "failing on purpose" in failed["last_error"]
    failed_after = time.monotonic() - started

    # Then its message is in the dead-letter queue
    dlq_url = dev_stack.stack.refs["EventsDeadLetterQueue"]
    wait_for(lambda: dlq.queue_counts(sqs, dlq_url)[0] == 1, "in the DLQ")
    in_dlq_after = time.monotonic() - started

    # When it is replayed with the CLI once its failure window has passed
    age = (datetime.now(UTC) - parse_timestamp(failed["received_at"])).total_seconds()
    time.sleep(max(0.0, FAIL_FOR_SECONDS - age) + 0.5)
    monkeypatch.setenv("PLUTUS_STACK_NAME", dev_stack.config.stack_name)
    replayed = CliRunner().invoke(app, ["replay", event_id, "--endpoint-url", dev_stack.endpoint_url])
    assert replayed.exit_code == 0, replayed.output
    assert "1 of 1 event(s) re-enqueued" in replayed.output

    # Then it is PROCESSED, its effects applied once
    processed = wait_for(lambda: event().get("status") == "PROCESSED" and event(), "PROCESSED")
    assert processed["attempts"] == 3
    print(
        f"dev failure walk: FAILED after {failed_after:.1f}s, in the DLQ after {in_dlq_after:.1f}s, "
        f"PROCESSED after replay at {time.monotonic() - started:.1f}s"
    )
