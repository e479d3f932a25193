"""The HTTP contract, end to end: ingest -> queue -> consumer -> PROCESSED, over real HTTP."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.builders import an_event
from tests.e2e.conftest import Target

# Slow (e2e: black-box HTTP against a running stack): not in `make test-fast`.
pytestmark = pytest.mark.slow


def wait_for_status(
    api: httpx.Client, event_id: str, wanted: set[str], timeout: float = 30
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        view: dict[str, Any] = api.get(f"/api/v1/events/{event_id}").json()
        if view.get("status") in wanted or time.monotonic() > deadline:
            return view
        time.sleep(0.2)


def test_an_event_is_accepted_then_processed_asynchronously(api: httpx.Client) -> None:
    key = f"evt_{uuid.uuid4().hex}"
    response = api.post("/api/v1/ingest", json=an_event(key))
    assert response.status_code == 202
    event_id = response.json()["event_id"]

    view = wait_for_status(api, event_id, {"PROCESSED"})
    assert view["status"] == "PROCESSED"
    assert view["attempts"] == 1

    again = api.post("/api/v1/ingest", json=an_event(key))
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == {"event_id": event_id}


def test_concurrent_duplicates_make_one_event(api: httpx.Client, target: Target) -> None:
    key = f"evt_{uuid.uuid4().hex}"

    def post(_: int) -> httpx.Response:
        with target.client() as client:
            return client.post("/api/v1/ingest", json=an_event(key))

    with ThreadPoolExecutor(max_workers=10) as pool:
        responses = list(pool.map(post, range(20)))

    codes = [r.status_code for r in responses]
    assert set(codes) <= {200, 202, 409}
    assert codes.count(202) == 1
    ids = {r.json()["event_id"] for r in responses if r.status_code in (200, 202)}
    assert len(ids) == 1
    assert wait_for_status(api, ids.pop(), {"PROCESSED"})["attempts"] == 1


def test_bad_input_is_a_problem_document(api: httpx.Client, target: Target) -> None:
    response = api.post("/api/v1/ingest", content=b"{not json", headers={"Content-Type": "application/json"})
    # A body that names no source cannot pick a webhook secret: unauthenticated before it is invalid.
    expected = 401 if target.auth_mode == "WEBHOOK_SIGNATURE" else 400
    assert response.status_code == expected
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert response.json()["status"] == expected

    response = api.post("/api/v1/ingest", json=an_event(""))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "idempotency_key"


def test_unknown_event_is_404_and_health_and_docs_answer(api: httpx.Client) -> None:
    unknown = str(uuid.uuid4())
    missing = api.get(f"/api/v1/events/{unknown}")
    assert missing.status_code == 404 and unknown not in missing.text
    assert missing.headers["Cache-Control"] == "no-store"
    # Health names nothing about the deployment: it is the one route a stranger may call.
    assert api.get("/health").json() == {"status": "ok"}
    assert api.get("/openapi.json").json()["paths"]["/api/v1/ingest"]["post"]
    assert api.get("/docs").status_code == 200


def test_every_route_but_health_refuses_an_unsigned_caller(target: Target) -> None:
    if target.local is not None:
        pytest.skip(
            "the embedded stack does not enforce API Gateway authorization; "
            "tests/unit/test_route_auth.py proves the deployed route x AuthMode matrix"
        )
    with httpx.Client(base_url=target.url, timeout=30) as anonymous:
        for path in (
            f"/api/v1/events/{uuid.uuid4()}",
            "/api/v1/fintech/accounts/acc_1/balance",
            "/docs",
            "/redoc",
            "/openapi.json",
            "/api/v1/no/such/route",
        ):
            assert anonymous.get(path).status_code == 403, path
        assert anonymous.get("/health").json() == {"status": "ok"}
