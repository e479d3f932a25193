"""Bad input is rejected with a clear, field-level error before anything touches AWS."""

from __future__ import annotations

import json

import pytest

from plutus.core.errors import (
    BodyTooLargeError,
    InvalidEventError,
    MalformedBodyError,
    UnknownEventTypeError,
    UnsupportedMediaTypeError,
)
from plutus.core.registry import Registry
from plutus.domains import default
from plutus.ingest.parsing import parse_ingest_body
from plutus.settings import Settings
from tests.builders import an_event

SETTINGS = Settings(events_table="e", state_table="s", queue_url="q")
REGISTRY = Registry(default_handler=default.handle_record_receipt)
SEED = an_event("evt_123456")


def parse(
    body: object,
    content_type: str | None = "application/json",
    header: str | None = None,
    settings: Settings = SETTINGS,
):  # type: ignore[no-untyped-def]
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return parse_ingest_body(raw, content_type, header, settings, REGISTRY)


def fields(exc: pytest.ExceptionInfo[InvalidEventError]) -> set[str]:
    return {e["field"] for e in exc.value.errors}


def test_the_seed_example_is_valid() -> None:
    request = parse(SEED)
    assert request.source == "payment_service" and request.event_type is None


@pytest.mark.parametrize(
    "raw",
    [b"{bad", b"", b"\xff\xfe{}", b"[" * 5000 + b"]" * 5000, b'{"payload": {"x": NaN}}', b"[Infinity]"],
)
def test_malformed_json_is_400(raw: bytes) -> None:
    with pytest.raises(MalformedBodyError):
        parse(raw)


@pytest.mark.parametrize("body", [[SEED], "text", 42, None])
def test_a_body_that_is_not_an_object_is_422(body: object) -> None:
    with pytest.raises(InvalidEventError) as exc:
        parse(body)
    assert fields(exc) == {"<body>"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"idempotency_key": None}, "idempotency_key"),
        ({"idempotency_key": ""}, "idempotency_key"),
        ({"idempotency_key": "k" * 256}, "idempotency_key"),
        ({"idempotency_key": "evt\u0000x"}, "idempotency_key"),
        ({"source": "pay\u0000ment"}, "source"),
        ({"source": 123}, "source"),
        ({"schema_version": 1.0}, "schema_version"),
        ({"schema_version": "latest"}, "schema_version"),
        ({"payload": "not an object"}, "payload"),
        ({"payload": [1, 2]}, "payload"),
        ({"event_type": "Not A Type!"}, "event_type"),
        ({"unexpected": True}, "unexpected"),
    ],
)
def test_invalid_fields_are_422_naming_the_field(change: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidEventError) as exc:
        parse({**SEED, **change})
    assert field in fields(exc)


def test_a_missing_key_is_422() -> None:
    body = an_event(None)
    with pytest.raises(InvalidEventError) as exc:
        parse(body)
    assert fields(exc) == {"idempotency_key"}


def test_errors_never_echo_the_input() -> None:
    with pytest.raises(InvalidEventError) as exc:
        parse({**SEED, "source": 4111111111111111})
    assert "4111111111111111" not in json.dumps(exc.value.errors)


def test_a_key_of_255_characters_is_fine() -> None:
    assert parse({**SEED, "idempotency_key": "k" * 255}).idempotency_key == "k" * 255


def test_oversize_body_is_413() -> None:
    small = Settings(events_table="e", state_table="s", queue_url="q", max_body_bytes=1024)
    with pytest.raises(BodyTooLargeError):
        parse({**SEED, "payload": {"blob": "x" * 2000}}, settings=small)


def test_too_deep_payload_is_422() -> None:
    deep: dict[str, object] = {}
    node = deep
    for _ in range(100):
        node["a"] = node = {}
    with pytest.raises(InvalidEventError) as exc:
        parse({**SEED, "payload": deep})
    assert fields(exc) == {"payload"}


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
def test_non_json_content_types_are_415(content_type: str) -> None:
    with pytest.raises(UnsupportedMediaTypeError):
        parse(SEED, content_type=content_type)


def test_json_flavoured_content_types_are_accepted() -> None:
    assert parse(SEED, content_type="application/cloudevents+json; charset=utf-8")


def test_idempotency_key_header_fills_the_body_and_must_agree_with_it() -> None:
    body = an_event(None)
    assert parse(body, header='"abc-123"').idempotency_key == "abc-123"
    assert parse(body, header="abc-123").idempotency_key == "abc-123"
    with pytest.raises(InvalidEventError) as exc:
        parse(SEED, header='"something-else"')
    assert fields(exc) == {"idempotency_key"}


def test_unknown_event_types_are_rejected_listing_the_known_ones() -> None:
    with pytest.raises(UnknownEventTypeError) as exc:
        parse({**SEED, "event_type": "no_such_type"})
    assert exc.value.known == REGISTRY.event_types
