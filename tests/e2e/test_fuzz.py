"""Fuzzing the ingest API: schemathesis from our OpenAPI, and crafted hostile requests, over HTTP.

No generated or crafted request gets a 5xx, and a rejected request stores nothing: the events and idempotency
tables only ever hold what a 2xx answer reported.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.generation import GenerationMode

from plutus_dev.emulator.stack import LocalStack
from tests.e2e.conftest import Target

# Per generation mode (valid bodies, then schema-violating ones): 1,000 generated requests in all.
CASES_PER_MODE = 500

# Slow (e2e: 1,000 schemathesis requests against a running stack): not in `make test-fast`.
pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Stored:
    """What the tables hold."""

    events: frozenset[str]
    idempotency: Counter[str]  # records per status


def stored(stack: LocalStack) -> Stored:
    assert stack.stack
    ddb = stack.client("dynamodb")

    def scan(table: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
        while True:
            page = ddb.scan(**kwargs)
            items += page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    events = frozenset(i["event_id"]["S"] for i in scan(stack.stack.refs["EventsTable"]))
    records = Counter(i["status"]["S"] for i in scan(stack.stack.refs["IdempotencyTable"]))
    return Stored(events, records)


@pytest.fixture
def embedded(target: Target) -> Iterator[LocalStack]:
    if target.local is None:
        pytest.skip("reads the embedded stack's tables")
    yield target.local


def test_generated_requests_never_get_a_5xx_and_rejected_ones_store_nothing(
    api_url: str, embedded: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    schema = schemathesis.openapi.from_url(f"{api_url}/openapi.json")
    operation = schema["/api/v1/ingest"]["POST"]
    before = stored(embedded)
    statuses: Counter[tuple[str, int]] = Counter()
    accepted: set[str] = set()
    session = requests.Session()

    def run_mode(mode: GenerationMode) -> None:
        checks = [not_a_server_error, status_code_conformance, content_type_conformance]
        checks += [response_schema_conformance]
        if mode is GenerationMode.NEGATIVE:
            checks.append(negative_data_rejection)

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=CASES_PER_MODE,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case: schemathesis.Case) -> None:
            response = case.call(base_url=api_url, session=session, timeout=30)
            statuses[(mode.value, response.status_code)] += 1
            case.validate_response(response, checks=checks)
            if response.status_code in (200, 202):
                accepted.add(response.json()["event_id"])

        fuzz()

    for mode in GenerationMode:
        run_mode(mode)

    after = stored(embedded)
    total = sum(statuses.values())
    with capsys.disabled():
        print(f"\n  schemathesis: {total} generated requests; statuses {dict(sorted(statuses.items()))}")
    assert total >= 1000
    assert not any(code >= 500 for _, code in statuses)
    # Rejected requests stored nothing: new events and new idempotency records are the accepted ones
    new_events = after.events - before.events
    assert new_events == accepted - before.events
    assert after.idempotency["COMPLETED"] - before.idempotency["COMPLETED"] == len(new_events)
    assert after.idempotency["INPROGRESS"] == before.idempotency["INPROGRESS"]


def _event(**changes: Any) -> dict[str, Any]:
    return {
        "source": "fuzz",
        "schema_version": "1.0",
        "idempotency_key": "crafted",
        "payload": {"amount": 1},
        **changes,
    }


def _raw(data: dict[str, Any]) -> bytes:
    return json.dumps(data).encode()


JSON = {"Content-Type": "application/json"}
CRAFTED: list[tuple[str, bytes, dict[str, str], set[int]]] = [
    ("oversize body", _raw(_event(payload={"x": "a" * 300_000})), JSON, {413}),
    ("oversize body, 2 MB", b"{" + b" " * 2_000_000 + b"}", JSON, {413}),
    ("2,000-deep payload", b'{"payload": ' + b"[" * 2000 + b"]" * 2000 + b"}", JSON, {400, 422}),
    (
        "2,000-deep payload object",
        _raw(_event())[:-1] + b', "deep": ' + b'{"a":' * 2000 + b"1" + b"}" * 2000 + b"}",
        JSON,
        {400, 422},
    ),
    ("2,000-deep body", b"[" * 2000 + b"]" * 2000, JSON, {400, 422}),
    ("NUL in key", _raw(_event(idempotency_key="k\u0000ey")), JSON, {422}),
    ("NUL in source", _raw(_event(source="\u0000")), JSON, {422}),
    ("raw NUL byte", _raw(_event())[:-1] + b"\x00}", JSON, {400}),
    ("huge key", _raw(_event(idempotency_key="k" * 100_000)), JSON, {422}),
    ("huge header key", _raw(_event()), {**JSON, "Idempotency-Key": "k" * 8_000}, {422}),
    ("huge schema_version", _raw(_event(schema_version="1" * 50_000)), JSON, {422}),
    ("text/plain", _raw(_event()), {"Content-Type": "text/plain"}, {415}),
    ("form", b"source=a&idempotency_key=b", {"Content-Type": "application/x-www-form-urlencoded"}, {415}),
    ("xml", b"<event/>", {"Content-Type": "application/xml"}, {415}),
    ("invalid UTF-8", b'{"source": "\xff\xfe", "schema_version": "1.0"}', JSON, {400}),
    ("invalid UTF-8 in payload", _raw(_event())[:-2] + b', "x": "\xc3\x28"}}', JSON, {400}),
    ("lone surrogate in key", _raw(_event(idempotency_key="\ud800")), JSON, {422}),
    ("lone surrogate in source", _raw(_event(source="a\udfff")), JSON, {422}),
    ("NaN", _raw(_event())[:-2] + b', "x": NaN}}', JSON, {400, 422}),
    ("not an object", b"[]", JSON, {422}),
    ("empty body", b"", JSON, {400}),
]


@pytest.mark.parametrize(
    ("body", "headers", "expected"), [c[1:] for c in CRAFTED], ids=[c[0] for c in CRAFTED]
)
def test_crafted_hostile_requests_are_rejected_cleanly_and_store_nothing(
    api: httpx.Client, embedded: LocalStack, body: bytes, headers: dict[str, str], expected: set[int]
) -> None:
    before = stored(embedded)

    response = api.post("/api/v1/ingest", content=body, headers=headers)

    assert response.status_code in expected, response.text[:300]
    assert response.headers["content-type"].startswith("application/problem+json")
    assert stored(embedded) == before
