"""Fuzzing the ingest API: schemathesis from our OpenAPI on both ingest routes (one event, a batch), and
crafted hostile requests, over HTTP.

No generated or crafted request gets a 5xx, and a rejected request (or batch item) stores nothing: the events
and idempotency tables only ever hold what a 2xx answer reported.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from jsonschema import Draft202012Validator
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.generation import GenerationMode

from plutus.adapters.idempotency_records import STATE_ATTR
from plutus_dev.emulator.stack import LocalStack
from plutus_dev.emulator.template import load_template
from tests import tables
from tests.builders import an_event, encoded
from tests.e2e.conftest import Target

# Per route and generation mode (valid bodies, then schema-violating ones): 1,000 generated requests a route.
CASES_PER_MODE = 500
SINGLE, BATCH = "/api/v1/ingest", "/api/v1/ingest/batch"

# Slow (e2e: 1,000 schemathesis requests against a running stack): not in `make test-fast`.
pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Stored:
    """What the tables hold."""

    events: frozenset[str]
    idempotency: Counter[str]  # records per state (INPROGRESS, COMPLETED)


def stored(stack: LocalStack) -> Stored:
    assert stack.stack
    ddb = stack.client("dynamodb")
    items = tables.scan(ddb, stack.stack.refs["EventsTable"])
    # Idempotency records live on the events' items (plutus.adapters.idempotency_records).
    events = frozenset(i["event_id"] for i in items if "status" in i)
    records = Counter(i[STATE_ATTR] for i in items if STATE_ATTR in i)
    return Stored(events, records)


@pytest.fixture
def embedded(target: Target) -> Iterator[LocalStack]:
    if target.local is None:
        pytest.skip("reads the embedded stack's tables")
    yield target.local


def reported(path: str, response: requests.Response) -> tuple[set[str], list[int]]:
    """The event ids a 2xx answer reports as stored, and the statuses of a batch's items."""
    if response.status_code not in (200, 202):
        return set(), []
    body = response.json()
    if path == SINGLE:
        return {body["event_id"]}, []
    items = [r["status"] for r in body["results"]]
    return {r["event_id"] for r in body["results"] if r["status"] in (200, 202)}, items


def assert_batch_refuses_what_violates_the_schema(
    body: Any, response: requests.Response, item: Draft202012Validator
) -> None:
    """The batch route's negative-data check (schemathesis' own expects a 4xx for the whole request).

    A batch whose envelope violates the schema is refused whole; one whose items alone do is answered 200,
    and then every item that violates the item schema has a 4xx of its own.
    """
    if response.status_code != 200:
        return
    assert isinstance(body, dict) and set(body) == {"events"}, f"accepted a malformed batch: {body!r:.300}"
    events = body["events"]
    assert isinstance(events, list) and events, f"accepted a malformed batch: {body!r:.300}"
    results = response.json()["results"]
    assert len(results) == len(events)
    for event, result in zip(events, results, strict=True):
        if not item.is_valid(event):
            assert result["status"] >= 400, f"accepted an invalid item: {event!r:.300} -> {result}"


@pytest.mark.parametrize("path", [SINGLE, BATCH])
def test_generated_requests_never_get_a_5xx_and_rejected_ones_store_nothing(
    path: str, api_url: str, embedded: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    schema = schemathesis.openapi.from_url(f"{api_url}/openapi.json")
    operation = schema[path]["POST"]
    request_schema = schema.raw_schema["paths"][BATCH]["post"]["requestBody"]["content"]["application/json"]
    item = Draft202012Validator(request_schema["schema"]["properties"]["events"]["items"])
    before = stored(embedded)
    statuses: Counter[tuple[str, int]] = Counter()
    item_statuses: Counter[int] = Counter()
    accepted: set[str] = set()
    session = requests.Session()

    def run_mode(mode: GenerationMode) -> None:
        checks = [not_a_server_error, status_code_conformance, content_type_conformance]
        checks += [response_schema_conformance]
        if mode is GenerationMode.NEGATIVE and path == SINGLE:
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
            if path == BATCH:
                assert_batch_refuses_what_violates_the_schema(case.body, response, item)
            ids, items = reported(path, response)
            accepted.update(ids)
            item_statuses.update(items)

        fuzz()

    for mode in GenerationMode:
        run_mode(mode)

    after = stored(embedded)
    total = sum(statuses.values())
    with capsys.disabled():
        print(
            f"\n  schemathesis {path}: {total} generated requests; statuses {dict(sorted(statuses.items()))}"
        )
        if path == BATCH:
            print(f"  batch items: {dict(sorted(item_statuses.items()))}")
    assert total >= 1000
    assert not any(code >= 500 for _, code in statuses)
    assert not any(code >= 500 for code in item_statuses)
    # Rejected requests stored nothing: new events and new idempotency records are the accepted ones
    new_events = after.events - before.events
    assert new_events == accepted - before.events
    assert after.idempotency["COMPLETED"] - before.idempotency["COMPLETED"] == len(new_events)
    assert after.idempotency["INPROGRESS"] == before.idempotency["INPROGRESS"]


# A valid event, which each crafted case spoils in one way.
a_crafted_event = partial(an_event, key="crafted", payload={"amount": 1}, source="fuzz")
JSON = {"Content-Type": "application/json"}
# The stack's body limit (MaxBodyBytes, 5 MiB by default: under Lambda's 6 MB invoke limit).
MAX_BODY = int(load_template()["Parameters"]["MaxBodyBytes"]["Default"])
CRAFTED: list[tuple[str, bytes, dict[str, str], set[int]]] = [
    ("oversize body", encoded(a_crafted_event(payload={"x": "a" * (MAX_BODY + 1)})), JSON, {413}),
    ("oversize body, whitespace", b"{" + b" " * (MAX_BODY + 1) + b"}", JSON, {413}),
    ("2,000-deep payload", b'{"payload": ' + b"[" * 2000 + b"]" * 2000 + b"}", JSON, {400, 422}),
    (
        "2,000-deep payload object",
        encoded(a_crafted_event())[:-1] + b', "deep": ' + b'{"a":' * 2000 + b"1" + b"}" * 2000 + b"}",
        JSON,
        {400, 422},
    ),
    ("2,000-deep body", b"[" * 2000 + b"]" * 2000, JSON, {400, 422}),
    ("NUL in key", encoded(a_crafted_event(key="k\u0000ey")), JSON, {422}),
    ("NUL in source", encoded(a_crafted_event(source="\u0000")), JSON, {422}),
    ("raw NUL byte", encoded(a_crafted_event())[:-1] + b"\x00}", JSON, {400}),
    ("huge key", encoded(a_crafted_event(key="k" * 100_000)), JSON, {422}),
    ("huge header key", encoded(a_crafted_event()), {**JSON, "Idempotency-Key": "k" * 8_000}, {422}),
    ("huge schema_version", encoded(a_crafted_event(schema_version="1" * 50_000)), JSON, {422}),
    ("text/plain", encoded(a_crafted_event()), {"Content-Type": "text/plain"}, {415}),
    ("form", b"source=a&idempotency_key=b", {"Content-Type": "application/x-www-form-urlencoded"}, {415}),
    ("xml", b"<event/>", {"Content-Type": "application/xml"}, {415}),
    ("invalid UTF-8", b'{"source": "\xff\xfe", "schema_version": "1.0"}', JSON, {400}),
    ("invalid UTF-8 in payload", encoded(a_crafted_event())[:-2] + b', "x": "\xc3\x28"}}', JSON, {400}),
    ("lone surrogate in key", encoded(a_crafted_event(key="\ud800")), JSON, {422}),
    ("lone surrogate in source", encoded(a_crafted_event(source="a\udfff")), JSON, {422}),
    ("NaN", encoded(a_crafted_event())[:-2] + b', "x": NaN}}', JSON, {400, 422}),
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
