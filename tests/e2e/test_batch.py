"""POST /api/v1/ingest/batch, black-box: a batch is accepted, processed, and deduplicated with the single
endpoint, on whatever target the e2e tier runs against (the embedded stack by default)."""

from __future__ import annotations

import uuid

import httpx

from tests.builders import a_batch, an_event
from tests.e2e.test_api import wait_for_status


def test_a_batch_is_accepted_processed_and_one_with_the_single_endpoint(api: httpx.Client) -> None:
    keys = [f"evt_{uuid.uuid4().hex}" for _ in range(3)]
    response = api.post("/api/v1/ingest/batch", json=a_batch(an_event(k) for k in keys))

    assert response.status_code == 200
    results = response.json()["results"]
    assert [(r["index"], r["status"]) for r in results] == [(0, 202), (1, 202), (2, 202)]
    for result in results:
        assert wait_for_status(api, result["event_id"], {"PROCESSED"})["status"] == "PROCESSED"

    again = api.post("/api/v1/ingest", json=an_event(keys[1]))
    assert again.status_code == 200 and again.json() == {"event_id": results[1]["event_id"]}
