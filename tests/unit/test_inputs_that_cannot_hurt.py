"""Every value that can reach a handler can be stored and re-read; payload times stay in their window.

Crafted cases from the red-team findings (issue 11) and the classes around them; the property tests in
tests/integration/test_properties.py hunt for the rest through the real handlers.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from plutus.core.errors import InvalidEventError, MalformedBodyError
from plutus.core.storable import json_pointer, unstorable
from plutus.core.times import CONSUMER_SLACK, validation_context
from plutus.domains import build_registry
from plutus.domains.deps import read_clock
from plutus.domains.healthcare.models import HeartRateReadingV1, MedicationAdministeredV1
from plutus.domains.kit import iso, parse_iso, to_utc
from plutus.ingest.parsing import parse_ingest_body
from tests.fakes import settings

SETTINGS = settings()
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _body(payload: dict[str, Any], event_type: str | None = None, **envelope: Any) -> bytes:
    event = {"source": "src", "schema_version": "1.0", "idempotency_key": "k1", "payload": payload}
    if event_type:
        event["event_type"] = event_type
    return json.dumps({**event, **envelope}).encode()


def _refused(raw: bytes) -> list[dict[str, Any]]:
    with pytest.raises(InvalidEventError) as caught:
        parse_ingest_body(raw, "application/json", None, SETTINGS, build_registry(), received_at=NOW)
    return caught.value.errors


def _hr(measured_at: str) -> bytes:
    return _body(
        {"patient_id": "pat_1", "device_id": "dev_1", "bpm": 80, "measured_at": measured_at},
        "heart_rate_reading",
    )


@pytest.mark.parametrize(
    ("raw_value", "rule"),
    [
        ("1e999", "finite"),
        ("-1e999", "finite"),
        ("1e200", "magnitude"),
        ("1e-200", "magnitude"),
        ("1e-400", None),  # parses as 0.0: harmless
        ("2.5e-140", "magnitude"),
        ("1" * 39, "38 digits"),
        ("-" + "9" * 39, "38 digits"),
        ("9" * 38, None),
        ('"\\ud800"', "surrogate"),
        ('"ok \\udfff"', "surrogate"),
        ('"\\ud83d\\ude00"', None),  # a surrogate pair is one valid code point
        ('["a", {"b": "\\udc00"}]', "surrogate"),
    ],
)
def test_unstorable_values_are_refused_naming_them_by_pointer(raw_value: str, rule: str | None) -> None:
    raw = b'{"source": "src", "schema_version": "1.0", "idempotency_key": "k1", "payload": {"x": %s}}' % (
        raw_value.encode()
    )
    if rule is None:
        parse_ingest_body(raw, "application/json", None, SETTINGS, build_registry())
        return
    errors = _refused(raw)
    assert len(errors) == 1 and rule in errors[0]["message"]
    assert errors[0]["pointer"].startswith("/payload/x")


def test_a_surrogate_in_a_key_or_the_envelope_is_refused_and_the_answer_is_encodable() -> None:
    raw = b'{"source": "s\\ud800", "schema_version": "1.0", "idempotency_key": "k", '
    raw += b'"payload": {"a/\\ud800~": 1}}'
    errors = _refused(raw)
    assert [e["pointer"] for e in errors] == ["/source", "/payload/a~1\\ud800~0"]
    json.dumps(errors, ensure_ascii=False).encode("utf-8")  # no surrogate reaches the response


def test_nan_and_infinity_literals_are_not_json() -> None:
    for raw in (b'{"payload": {"x": NaN}}', b'{"payload": {"x": -Infinity}}'):
        with pytest.raises(MalformedBodyError):
            parse_ingest_body(raw, "application/json", None, SETTINGS, build_registry())


def test_a_refusal_names_a_bounded_number_of_values() -> None:
    found = unstorable({"payload": {f"k{i}": float("inf") for i in range(500)}})
    assert len(found) == 20


def test_json_pointer_escapes_tilde_and_slash() -> None:
    assert json_pointer(("payload", "a/b", "c~d", 0)) == "/payload/a~1b/c~0d/0"


def test_unstorable_walks_deep_nesting_without_recursion() -> None:
    value: Any = "\ud800"
    for _ in range(5_000):
        value = [value]
    assert len(unstorable(value)) == 1


@pytest.mark.parametrize(
    "measured_at",
    [
        "9999-12-31T23:59:59Z",  # the finding: one future reading silenced the alarm
        "2026-12-01T12:05:01Z",  # just past the 5 minute future bound
        "0001-01-01T00:00:00Z",  # stored as "1-01-01T..." and broke every later event
        "0001-01-01T00:00:00+01:00",  # overflows when converted to UTC
        "9999-12-31T23:59:59-01:00",
        "2026-11-24T11:59:59Z",  # just over 7 days old
        "1970-01-01T00:00:00Z",
    ],
)
def test_event_times_outside_the_window_are_refused_naming_the_field(measured_at: str) -> None:
    errors = _refused(_hr(measured_at))
    assert [e["pointer"] for e in errors] == ["/payload/measured_at"]


@pytest.mark.parametrize(
    "measured_at", ["2026-12-01T12:05:00Z", "2026-11-24T12:00:00Z", "2026-12-01T15:00:00+03:00"]
)
def test_event_times_at_the_window_edges_are_accepted(measured_at: str) -> None:
    parse_ingest_body(_hr(measured_at), "application/json", None, SETTINGS, build_registry(), received_at=NOW)


@pytest.mark.parametrize(
    ("event_type", "payload"),
    [
        ("transaction_initiated", {"occurred_at": "9999-12-31T23:59:59-05:00"}),
        ("engine_temperature", {"occurred_at": "0001-01-01T00:00:00+03:00"}),
        ("feature_used", {"occurred_at": "9999-12-31T23:00:00-14:00"}),
        ("package_scanned", {"occurred_at": "0001-01-01T00:00:00Z"}),
    ],
)
def test_calendar_edges_with_offsets_are_refused(event_type: str, payload: dict[str, Any]) -> None:
    registration = next(r for r in build_registry().registrations if r.event_type == event_type)
    example = dict(registration.model.model_config["json_schema_extra"]["examples"][0])  # type: ignore[index]
    errors = _refused(_body({**example, **payload}, event_type))
    assert [e["pointer"] for e in errors] == ["/payload/occurred_at"]


def test_planned_times_may_lie_a_year_ahead_but_not_further() -> None:
    example = dict(MedicationAdministeredV1.model_config["json_schema_extra"]["examples"][0])  # type: ignore[index]
    example["administered_at"] = "2026-12-01T11:00:00Z"
    context = validation_context(NOW, SETTINGS)
    MedicationAdministeredV1.model_validate(
        {**example, "next_due_at": "2027-11-30T00:00:00Z"}, context=context
    )
    with pytest.raises(ValidationError):
        MedicationAdministeredV1.model_validate(
            {**example, "next_due_at": "9999-12-31T00:00:00Z"}, context=context
        )


def test_the_window_is_configurable() -> None:
    wide = settings(event_time_max_past_seconds=30 * 86_400, event_time_max_future_seconds=3_600)
    for at in ("2026-11-02T12:00:00Z", "2026-12-01T12:59:00Z"):
        parse_ingest_body(_hr(at), "application/json", None, wide, build_registry(), received_at=NOW)


def test_the_consumer_judges_against_received_at_with_a_little_slack() -> None:
    # Accepted at ingest at the window's edge, judged in the consumer against a received_at a moment later
    payload = {"patient_id": "p", "device_id": "d", "bpm": 80, "measured_at": "2026-11-24T12:00:00Z"}
    later = NOW + timedelta(seconds=15)
    HeartRateReadingV1.model_validate(payload, context=validation_context(later, SETTINGS, CONSUMER_SLACK))
    # and a replay judges by the original received_at, however late it runs
    HeartRateReadingV1.model_validate(payload, context=validation_context(NOW, SETTINGS, CONSUMER_SLACK))


def test_without_a_window_times_are_still_checked_for_overflow() -> None:
    ok = {"patient_id": "p", "device_id": "d", "bpm": 80, "measured_at": "2020-01-01T00:00:00Z"}
    HeartRateReadingV1.model_validate(ok)
    with pytest.raises(ValidationError):
        HeartRateReadingV1.model_validate({**ok, "measured_at": "0001-01-01T00:00:00+01:00"})


@pytest.mark.parametrize(
    "at",
    [
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))),
        datetime(9999, 12, 31, 23, 59, tzinfo=timezone(timedelta(hours=-5))),
        datetime(9999, 12, 31, 23, 59, 59, 999999),
        datetime(2026, 12, 1, 15, tzinfo=timezone(timedelta(hours=3))),
    ],
)
def test_iso_is_total_sortable_and_parses_back(at: datetime) -> None:
    text = iso(at)
    assert len(text) == 27 and text[4] == "-"
    assert parse_iso(text) == to_utc(at).replace(tzinfo=UTC)
    assert read_clock(at) == to_utc(at)
