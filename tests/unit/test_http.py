"""The Lambda hot path (framework-free endpoints on API Gateway events) answers exactly as the FastAPI app
that mounts the same endpoints (no sockets: fakes stand in for the use cases)."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest
from fastapi.testclient import TestClient

from plutus.core.envelope import IngestResult
from plutus.core.errors import EventNotQueuedError
from plutus.core.registry import Registry
from plutus.domains import default
from plutus.ingest.accept import IngestCommand
from plutus.ingest.accept_batch import Outcome
from plutus.ingest.app import create_app
from plutus.ingest.auth import Unauthenticated
from plutus.ingest.endpoints import BATCH_PATH, BatchIngestEndpoint, IngestEndpoint
from plutus.ingest.http import Endpoint, from_apigw, to_apigw
from plutus.ingest.producers import ProducerAuthorizer
from plutus.settings import Settings
from plutus_dev.emulator.apigw import build_event
from tests.builders import a_batch, an_event, encoded

SETTINGS = Settings(events_table="e", state_table="s", queue_url="q", max_batch_events=3)
REGISTRY = Registry(default_handler=default.handle_record_receipt)
EVENT = an_event("k-1")


def accept_event(command: IngestCommand) -> IngestResult:
    return IngestResult(
        event_id=command.event_id,
        source=command.source,
        event_type=command.event_type,
        schema_version=command.schema_version,
        received_at="2026-01-01T00:00:00.000000Z",
        replayed=command.idempotency_key.startswith("seen"),
    )


def ingest_batch(items: Sequence[IngestCommand | Exception]) -> list[Outcome]:
    outcomes = []
    for item in items:
        if isinstance(item, Exception):
            outcomes.append(Outcome(error=item))
        elif item.idempotency_key.startswith("down"):
            outcomes.append(Outcome(error=EventNotQueuedError("not queued")))
        else:
            outcomes.append(Outcome(event_id=item.event_id, replayed=item.idempotency_key.startswith("seen")))
    return outcomes


OPEN = ProducerAuthorizer.for_settings(SETTINGS, REGISTRY)  # NONE, no policy
SINGLE = IngestEndpoint(SETTINGS, REGISTRY, accept_event, Unauthenticated(), OPEN)
BATCH = BatchIngestEndpoint(SETTINGS, REGISTRY, ingest_batch, Unauthenticated(), OPEN)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def asgi() -> TestClient:
    app = create_app(SETTINGS, REGISTRY, SINGLE, BATCH, events=None, state=None)  # type: ignore[arg-type]
    return TestClient(app)


CASES: list[tuple[Endpoint, bytes, dict[str, str]]] = [
    (SINGLE, encoded(EVENT), {}),
    (SINGLE, encoded(an_event("seen-1")), {}),
    (SINGLE, b"{bad", {}),
    (SINGLE, encoded(an_event("")), {}),
    (SINGLE, encoded(EVENT), {"Content-Type": "text/plain"}),
    (
        SINGLE,
        encoded(an_event(None)),
        {"Idempotency-Key": '"h-1"'},
    ),
    (
        BATCH,
        encoded(a_batch([EVENT, an_event("seen-2"), {}])),
        {},
    ),
    (BATCH, encoded(a_batch([an_event("down-1"), "x"])), {}),
    (BATCH, encoded(a_batch([EVENT] * 4)), {}),
    (BATCH, b"[]", {}),
    (BATCH, encoded(a_batch([EVENT])), {"Idempotency-Key": "k"}),
]


@pytest.mark.parametrize(("endpoint", "body", "headers"), CASES)
def test_the_hot_path_answers_as_the_fastapi_app(
    asgi: TestClient, endpoint: Endpoint, body: bytes, headers: dict[str, str]
) -> None:
    sent = {"Content-Type": "application/json", **headers}
    via_app = asgi.post(endpoint.path, content=body, headers=sent)
    event = build_event("POST", endpoint.path, sent, body, "127.0.0.1")
    via_lambda = to_apigw(endpoint(from_apigw(event)))

    assert via_lambda["statusCode"] == via_app.status_code
    assert json.loads(via_lambda["body"]) == via_app.json()
    lambda_headers = {k.lower(): v for k, v in via_lambda["headers"].items()}
    for name in ("content-type", "retry-after", "idempotent-replayed"):
        assert lambda_headers.get(name) == via_app.headers.get(name), name


def test_batch_results_carry_the_single_endpoints_problem_documents(asgi: TestClient) -> None:
    body = a_batch([EVENT, an_event("down-1"), {"source": "x"}])
    results = asgi.post(BATCH_PATH, json=body)

    assert results.status_code == 200
    first, second, third = results.json()["results"]
    assert first == {"index": 0, "status": 202, "event_id": first["event_id"]}
    assert second["status"] == 503 and second["error"]["type"].endswith("/dependency-unavailable")
    assert third["status"] == 422 and {e["field"] for e in third["error"]["errors"]} >= {"idempotency_key"}
    assert results.headers["retry-after"] == "1"
