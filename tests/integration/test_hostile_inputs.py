"""The red-team findings of issue 11, each a regression test through the real ingest and consumer on moto.

Nothing a producer sends can poison state or strand an event: values that cannot be stored and times outside
the window are refused with a 422 naming the field, single or per batch item, and every accepted event ends
PROCESSED. Read endpoints answer any query or path value with a 2xx or a 4xx.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest

from plutus_dev.emulator.resources import Emulator
from tests.integration.harness import Harness, harness

PATIENT = "pat_red_1"


def _event(key: str, event_type: str | None, payload: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "source": "red_team",
        "schema_version": "1.0",
        "idempotency_key": key,
        "payload": payload,
    }
    if event_type:
        body["event_type"] = event_type
    return body


def _stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def _hr(key: str, bpm: int, measured_at: str) -> dict[str, Any]:
    payload = {"patient_id": PATIENT, "device_id": "mon_1", "bpm": bpm, "measured_at": measured_at}
    return _event(key, "heart_rate_reading", payload)


def _pointers(problem: dict[str, Any]) -> list[str]:
    return [e["pointer"] for e in problem["errors"]]


def _statuses(h: Harness) -> dict[str, str]:
    return {i["event_id"]: i["status"] for i in h.scan("EventsTable")}


def test_a_future_dated_reading_is_refused_and_the_alarm_still_sounds(stack: Harness) -> None:
    # Given a reading dated 9999-12-31 (which made every later reading "late" and silenced the alarm)
    refused = stack.post_event(_hr("hr-future", 80, "9999-12-31T00:00:00Z"))
    assert refused.status == 422 and _pointers(refused.json()) == ["/payload/measured_at"]

    # When four real readings of 135 bpm follow, a minute apart
    now = datetime.now(UTC)
    for n in range(4):
        at = _stamp(now - timedelta(minutes=4 - n))
        assert stack.post_event(_hr(f"hr-{n}", 135, at)).status == 202
        stack.drain()

    # Then a warning is raised, and nothing of the refused reading was stored
    alerts = stack.request("GET", f"/api/v1/healthcare/patients/{PATIENT}/alerts").json()
    assert [(a["kind"], a["severity"]) for a in alerts] == [("heart_rate_high", "warning")]
    assert set(_statuses(stack).values()) == {"PROCESSED"} and len(_statuses(stack)) == 4


@pytest.mark.parametrize(
    ("raw_value", "pointer"),
    [
        ("1e999", "/payload/x"),
        ("[1, -1e999]", "/payload/x/1"),
        ("1" * 39, "/payload/x"),
        ("1e300", "/payload/x"),
        ('"\\ud800"', "/payload/x"),
        ('{"\\udfff": 1}', "/payload/x/\\udfff"),
    ],
)
def test_unstorable_values_are_a_422_naming_the_field(stack: Harness, raw_value: str, pointer: str) -> None:
    body = '{"source": "red_team", "schema_version": "1.0", "idempotency_key": "k", "payload": {"x": %s}}'
    response = stack.request("POST", "/api/v1/ingest", body % raw_value)
    assert response.status == 422, response.body
    assert _pointers(response.json()) == [pointer]
    assert stack.scan("EventsTable") == []


def test_in_a_batch_each_unstorable_item_is_refused_and_the_others_accepted(stack: Harness) -> None:
    # Given a batch whose second item holds 1e999 and third a lone surrogate (as JSON escapes)
    good = [json.dumps(_event(f"b-{n}", None, {"n": n})) for n in (0, 3)]
    items = [good[0], json.dumps(_event("b-1", None, {"n": 1}))[:-2] + ', "y": 1e999}}']
    items += [json.dumps(_event("b-2", None, {"n": "\ud800"})), good[1]]
    body = '{"events": [' + ", ".join(items) + "]}"

    # When it is posted and the queue drained
    response = stack.request("POST", "/api/v1/ingest/batch", body)
    stack.drain()

    # Then the batch is answered per item, and only the two good events exist, PROCESSED
    assert response.status == 200, response.body
    results = response.json()["results"]
    assert [r["status"] for r in results] == [202, 422, 422, 202]
    assert [_pointers(r["error"]) for r in results[1:3]] == [["/payload/y"], ["/payload/n"]]
    assert _statuses(stack) == {results[0]["event_id"]: "PROCESSED", results[3]["event_id"]: "PROCESSED"}


@pytest.mark.parametrize(
    ("event_type", "field", "value"),
    [
        ("package_scanned", "occurred_at", "0001-01-01T00:00:00Z"),
        ("transaction_initiated", "occurred_at", "9999-12-31T23:59:59-05:00"),
        ("engine_temperature", "occurred_at", "0001-01-01T00:00:00+03:00"),
        ("feature_used", "occurred_at", "9999-12-31T23:00:00-14:00"),
        ("medication_administered", "next_due_at", "9999-12-31T00:00:00Z"),
        ("package_scanned", "promised_by", "9999-12-31T00:00:00Z"),
    ],
)
def test_calendar_edges_are_refused_and_the_entity_keeps_working(
    stack: Harness, event_type: str, field: str, value: str
) -> None:
    from plutus.domains import build_registry

    registration = next(r for r in build_registry().registrations if r.event_type == event_type)
    example = dict(registration.model.model_config["json_schema_extra"]["examples"][0])  # type: ignore[index]
    now = datetime.now(UTC)
    for name in ("occurred_at", "administered_at"):
        if name in example:
            example[name] = _stamp(now - timedelta(minutes=10))
    example.pop("next_due_at", None)
    if "promised_by" in example:
        example["promised_by"] = _stamp(now + timedelta(days=1))

    refused = stack.post_event(_event("edge", event_type, {**example, field: value}))
    assert refused.status == 422 and _pointers(refused.json()) == [f"/payload/{field}"]

    # The same entity's next real event is accepted and processed (a stored "1-01-01" broke them all)
    accepted = stack.post_event(_event("real", event_type, example))
    assert accepted.status == 202, accepted.body
    stack.drain()
    assert stack.get_event(accepted.json()["event_id"]).json()["status"] == "PROCESSED"


AS_OF_READS = [
    "/api/v1/adtech/campaigns/cmp_1/decision",
    f"/api/v1/healthcare/patients/{PATIENT}/medications",
    "/api/v1/logistics/packages/pkg_1",
    "/api/v1/logistics/sla/2026-11-30/late",
    "/api/v1/saas/accounts/acc_1/health",
    "/api/v1/saas/accounts/acc_1/features",
]
EXTREME_TIMES = [
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999999Z",
    "1969-12-31T23:59:59Z",
    "3000-01-01T00:00:00Z",
]


def test_extreme_as_of_values_are_a_422_on_every_read_that_takes_one(stack: Harness) -> None:
    for path in AS_OF_READS:
        for as_of in EXTREME_TIMES:
            response = stack.request("GET", f"{path}?as_of={quote(as_of)}")
            assert response.status == 422, (path, as_of, response.status)


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/adtech/campaigns/{id}/decision",
        "/api/v1/adtech/conversions/{id}",
        "/api/v1/healthcare/patients/{id}/vitals",
        "/api/v1/logistics/packages/{id}",
        "/api/v1/logistics/lanes/{id}/KSM",
        "/api/v1/saas/accounts/{id}/health",
    ],
)
def test_path_ids_that_could_not_have_been_stored_are_a_422(stack: Harness, path: str) -> None:
    for bad in ("a#ALERT", "x" * 129, " lead", "a b", "%00"):
        response = stack.request("GET", path.format(id=quote(bad, safe="")))
        assert response.status == 422, (path, bad, response.status)


def test_non_ascii_text_too_large_once_queued_is_a_422_single_and_batch_alike(emulator: Emulator) -> None:
    with harness(emulator.url, parameters={"MaxBodyBytes": "262144"}) as stack:
        _non_ascii_text_too_large_once_queued(stack)


def _non_ascii_text_too_large_once_queued(stack: Harness) -> None:
    # Given 100 KB of UTF-8 that the queue's ASCII-only message would carry as 300 KB of \u escapes, over a
    # 256 KiB MaxBodyBytes
    event = _event("wide", None, {"text": "é" * 50_000})

    # When it is sent alone and in a batch
    single = stack.request("POST", "/api/v1/ingest", json.dumps(event, ensure_ascii=False))
    batch_body = {"events": [{**event, "idempotency_key": "wide-b"}]}
    batch = stack.request("POST", "/api/v1/ingest/batch", json.dumps(batch_body, ensure_ascii=False))

    # Then both answer 422 for it (not a 503 to retry forever), and nothing is stored or queued
    assert single.status == 422 and _pointers(single.json()) == [""], single.body
    assert [r["status"] for r in batch.json()["results"]] == [422]
    assert stack.scan("EventsTable") == []
    assert stack.queue_depth() == 0
