"""The reads function as API Gateway invokes it (no sockets): docs behind the stage prefix, no caching, and
problem documents that reflect nothing the caller sent."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from plutus.reads.app import create_reads_app
from plutus.reads.entry import build_reads_handler
from plutus.reads.stage import base_path
from plutus.settings import Settings
from plutus_dev.emulator.apigw import build_event
from plutus_dev.emulator.lambda_runtime import FakeContext, reset_caches
from tests.fakes import FakeState

ENV = {
    "PLUTUS_EVENTS_TABLE": "e",
    "PLUTUS_STATE_TABLE": "s",
    "PLUTUS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/q",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_NAMESPACE": "Plutus",
    "AWS_DEFAULT_REGION": "us-east-1",
}
HOSTILE = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def handler() -> Iterator[Any]:
    with pytest.MonkeyPatch.context() as mp:
        for key, value in ENV.items():
            mp.setenv(key, value)
        reset_caches()
        yield build_reads_handler()
    reset_caches()


def invoke(handler: Any, path: str, base: str = "/v1", resource: str | None = None) -> dict[str, Any]:
    event = build_event(
        "GET",
        path,
        {"Host": "abc.execute-api.us-east-1.amazonaws.com"},
        b"",
        "203.0.113.9",
        resource=resource,
        base_path=base,
    )
    reply: dict[str, Any] = handler(event, FakeContext("ReadsFunction", 512, "arn", "r", 1e12))
    reply["headers"] = {k.lower(): v for k, v in (reply.get("headers") or {}).items()}
    if reply.get("isBase64Encoded"):
        reply["body"] = base64.b64decode(reply["body"]).decode()
    return reply


def test_docs_on_the_stage_fetch_the_openapi_document_under_the_stage(handler: Any) -> None:
    # Given the execute-api URL https://.../v1/docs (API Gateway: path /docs, requestContext.path /v1/docs)
    docs = invoke(handler, "/docs")
    redoc = invoke(handler, "/redoc")

    # Then Swagger UI and ReDoc fetch /v1/openapi.json, which API Gateway routes (not /openapi.json: a 403)
    assert docs["statusCode"] == 200
    assert "'/v1/openapi.json'" in docs["body"] and "'/openapi.json'" not in docs["body"]
    assert redoc["statusCode"] == 200 and '"/v1/openapi.json"' in redoc["body"]


def test_openapi_names_the_stage_as_its_server_and_documents_the_ingest_routes(handler: Any) -> None:
    document = json.loads(invoke(handler, "/openapi.json")["body"])

    assert document["servers"] == [{"url": "/v1"}]
    assert {"/api/v1/ingest", "/api/v1/ingest/batch", "/health", "/api/v1/events/{event_id}"} <= set(
        document["paths"]
    )
    assert "post" in document["paths"]["/api/v1/ingest"]


def test_without_a_stage_in_the_url_docs_fetch_the_root_openapi_document(handler: Any) -> None:
    # The embedded stack (and a custom domain mapped at its root) have no prefix.
    docs = invoke(handler, "/docs", base="")

    assert "'/openapi.json'" in docs["body"]


@pytest.mark.parametrize("path", ["/docs", "/openapi.json", f"/api/v1/events/{HOSTILE}", "/api/v1/nothing"])
def test_every_read_answer_says_no_store(handler: Any, path: str) -> None:
    assert invoke(handler, path, resource="/api/v1/{proxy+}")["headers"]["cache-control"] == "no-store"


@pytest.mark.parametrize(
    "path",
    [f"/api/v1/events/{HOSTILE}", f"/api/v1/nothing/{HOSTILE}", "/api/v1/events/message:<script>x</script>"],
)
def test_a_404_reflects_neither_the_id_nor_the_path(handler: Any, path: str) -> None:
    reply = invoke(handler, path, resource="/api/v1/{proxy+}")

    assert reply["statusCode"] == 404
    assert "alert" not in reply["body"] and "script" not in reply["body"] and "nothing" not in reply["body"]
    assert json.loads(reply["body"]).get("instance") in {None, "/api/v1/events/{event_id}"}


class NoEvents:
    """An events repository that holds no event."""

    def get(self, event_id: str) -> dict[str, Any] | None:
        return None


def test_an_unknown_event_id_is_a_404_that_does_not_repeat_it() -> None:
    settings = Settings(events_table="e", state_table="s", queue_url="q")
    event_id = str(uuid.uuid4())

    app = create_reads_app(settings, NoEvents(), FakeState())  # type: ignore[arg-type]
    answer = TestClient(app).get(f"/api/v1/events/{event_id}")

    assert answer.status_code == 404
    assert event_id not in answer.text
    assert answer.json()["instance"] == "/api/v1/events/{event_id}"
    assert answer.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    ("path", "full", "expected"),
    [
        ("/docs", "/v1/docs", "/v1"),
        ("/docs", "/docs", ""),
        ("/docs", "/team/plutus/docs", "/team/plutus"),
        ("/docs", "/other", ""),
        ("/docs", "x/docs", ""),
        ("/docs", "/v1//docs", ""),
    ],
)
def test_the_base_path_is_only_a_proper_prefix_of_the_callers_path(
    path: str, full: str, expected: str
) -> None:
    assert base_path({"path": path, "requestContext": {"path": full}}) == expected
