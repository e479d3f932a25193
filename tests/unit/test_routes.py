"""The embedded stack routes as API Gateway does, from template.yaml, and the template routes every path the
code serves to the function that serves it (no sockets)."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI

from plutus.ingest.app import ingest_router
from plutus.ingest.endpoints import BATCH_PATH, HEALTH_PATH, INGEST_PATH
from plutus.ingest.webhooks import WEBHOOKS_PATH
from plutus.reads.app import create_reads_app
from plutus.settings import Settings
from plutus_dev.emulator.routes import RouteTable
from plutus_dev.emulator.template import load_template
from tests.fakes import FakeState

TABLE = RouteTable.from_template(load_template())


@pytest.mark.parametrize(
    ("method", "path", "function", "resource"),
    [
        ("POST", "/api/v1/ingest", "IngestFunction", "/api/v1/ingest"),
        ("POST", "/api/v1/ingest/batch", "IngestFunction", "/api/v1/ingest/batch"),
        ("GET", "/health", "IngestFunction", "/health"),
        ("GET", "/api/v1/events/e-1", "ReadsFunction", "/api/v1/{proxy+}"),
        ("GET", "/api/v1/fintech/accounts/a/balance", "ReadsFunction", "/api/v1/{proxy+}"),
        # A literal route wins only for its own method: GET on the ingest path is a read (a 404 there).
        ("GET", "/api/v1/ingest", "ReadsFunction", "/api/v1/{proxy+}"),
        ("GET", "/docs", "ReadsFunction", "/docs"),
        ("GET", "/redoc", "ReadsFunction", "/redoc"),
        ("GET", "/openapi.json", "ReadsFunction", "/openapi.json"),
    ],
)
def test_a_request_goes_to_the_function_its_route_names(
    method: str, path: str, function: str, resource: str
) -> None:
    found = TABLE.resolve(method, path)

    assert found is not None
    route, _ = found
    assert (route.function, route.resource) == (function, resource)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v1/events/e-1"),
        ("GET", "/"),
        ("GET", "/api/v1"),
        ("GET", "/api/v2/x"),
        ("PUT", "/health"),
    ],
)
def test_a_request_no_route_serves_reaches_no_function(method: str, path: str) -> None:
    assert TABLE.resolve(method, path) is None


def test_the_greedy_parameter_carries_the_rest_of_the_path() -> None:
    found = TABLE.resolve("GET", "/api/v1/logistics/sla/2026-01-01/late")

    assert found is not None and found[1] == {"proxy": "logistics/sla/2026-01-01/late"}


def _example(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


def _operations(app: FastAPI, function: str) -> set[tuple[str, str, str]]:
    # From the OpenAPI document: it lists every route, included routers too.
    return {
        (method.upper(), path, function)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    }


def test_every_route_the_code_serves_reaches_the_function_that_serves_it() -> None:
    settings = Settings(events_table="e", state_table="s", queue_url="q")
    reads = create_reads_app(settings, events=None, state=FakeState())  # type: ignore[arg-type]
    ingest = FastAPI()
    ingest.include_router(ingest_router())
    served = _operations(reads, "ReadsFunction") | _operations(ingest, "IngestFunction")
    served |= {("GET", path, "ReadsFunction") for path in ("/docs", "/redoc", "/openapi.json")}

    assert {(m, p) for m, p, function in served if function == "IngestFunction"} == {
        ("POST", INGEST_PATH),
        ("POST", BATCH_PATH),
        ("POST", WEBHOOKS_PATH),
        ("GET", HEALTH_PATH),
    }
    assert len(served) > 30  # every pack's reads
    for method, path, function in served:
        found = TABLE.resolve(method, _example(path))
        assert found is not None and found[0].function == function, (method, path)
