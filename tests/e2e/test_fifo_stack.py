"""The embedded stack with QueueMode=fifo, black box: typed events of two accounts, single and batch, are all
processed; an event without its ordering field is refused with a 422 naming it."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.e2e.conftest import Target, start_embedded
from tests.e2e.test_api import wait_for_status

# Slow (starts an embedded FIFO stack of its own): not in `make test-fast`.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(bool(os.environ.get("PLUTUS_API_URL")), reason="starts an embedded FIFO stack"),
]


@pytest.fixture(scope="module")
def fifo() -> Iterator[Target]:
    embedded = start_embedded("e2e-fifo", {"QueueMode": "fifo"}, concurrency=2)
    yield embedded
    assert embedded.local is not None
    embedded.local.stop()


def usage(account: str | None, n: int) -> dict[str, Any]:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    payload: dict[str, Any] = {"user_id": f"usr_{n}", "feature": "ai_summary", "units": 1, "occurred_at": now}
    if account is not None:
        payload["account_id"] = account
    return {
        "source": "feature_service",
        "schema_version": "1.0",
        "event_type": "feature_used",
        "idempotency_key": f"evt_{uuid.uuid4().hex}",
        "payload": payload,
    }


def test_every_accounts_events_are_processed_on_a_fifo_stack(fifo: Target) -> None:
    with fifo.client() as api:
        single = [api.post("/api/v1/ingest", json=usage(account, n)) for n, account in enumerate("ABAB")]
        batch = api.post("/api/v1/ingest/batch", json={"events": [usage("A", 9), usage("B", 9)]})
        assert [r.status_code for r in single] == [202] * 4 and batch.status_code == 200
        ids = [r.json()["event_id"] for r in single] + [r["event_id"] for r in batch.json()["results"]]

        assert {wait_for_status(api, event_id, {"PROCESSED"})["status"] for event_id in ids} == {"PROCESSED"}


def test_an_event_without_its_account_is_refused_naming_the_field(fifo: Target) -> None:
    with fifo.client() as api:
        response = api.post("/api/v1/ingest", json=usage(None, 1))

    assert response.status_code == 422
    assert [e["pointer"] for e in response.json()["errors"]] == ["/payload/account_id"]
