"""Idempotency key derivation and payload normalisation (no sockets)."""

from __future__ import annotations

import uuid

import pytest

from plutus.core.envelope import (
    IngestRequest,
    canonical_json,
    derive_event_id,
    parse_timestamp,
    utc_now,
)
from plutus.core.storable import scan
from plutus.ingest.accept import command_for
from tests.builders import an_event

SEED = an_event("evt_123456")


def test_the_digest_tells_contents_apart_under_one_key() -> None:
    a = command_for(IngestRequest.model_validate(SEED))
    b = command_for(IngestRequest.model_validate(an_event("evt_123456", payload={"amount": 5})))

    assert a.event_id == b.event_id, "the payload is not part of the key"
    assert a.digest != b.digest, "but it is validated"


def test_canonical_json_ignores_key_order_whitespace_and_number_spelling() -> None:
    assert canonical_json({"b": 1, "a": [1.0, 2.5]}) == canonical_json({"a": [1, 2.5], "b": 1.0})
    assert canonical_json({"a": 1}) == '{"a":1}'
    assert canonical_json({"x": "é\u0000"}) == '{"x":"\\u00e9\\u0000"}', "ASCII-only: safe for SQS"


def test_canonical_json_rejects_what_json_cannot_carry() -> None:
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})


def test_the_event_id_is_a_stable_name_based_uuid_of_source_and_key() -> None:
    # One key is one event (and one item, which holds the key's idempotency record): other content under
    # the same key names the same event, whose record then refuses it.
    a = IngestRequest.model_validate(SEED)
    other_content = IngestRequest.model_validate(an_event("evt_123456", payload={"amount": 101}))
    other_key = IngestRequest.model_validate(an_event("evt_654321"))
    id_a = derive_event_id(a.source, a.idempotency_key)

    assert uuid.UUID(id_a).version == 5
    assert id_a == derive_event_id(other_content.source, other_content.idempotency_key)
    assert id_a != derive_event_id(other_key.source, other_key.idempotency_key)
    assert id_a != derive_event_id("another_source", a.idempotency_key)
    # The separator (\x1f) is a control character, which neither field may hold: no two pairs collide.
    with pytest.raises(ValueError):
        IngestRequest.model_validate({**SEED, "source": "a\x1fb"})


def test_one_walk_finds_unstorable_values_and_the_payload_depth() -> None:
    deep: dict[str, object] = {}
    node = deep
    for _ in range(2000):
        child: dict[str, object] = {}
        node["a"] = child
        node = child
    assert scan({"source": "s", "payload": {"a": 1}}) == ([], 2)
    assert scan({"payload": {}}) == ([], 1)
    assert scan({"payload": deep})[1] == 2001
    # the depth counts the payload only, and a refused value is named by its path
    assert scan({"meta": [[[[1]]]], "payload": {"x": [float("inf")]}}) == (
        [(("payload", "x", 0), "numbers must be finite (no NaN, Infinity or overflowing exponents)")],
        3,
    )


def test_timestamps_round_trip() -> None:
    now = utc_now()
    assert parse_timestamp(now).strftime("%Y-%m-%dT%H:%M:%S.%fZ") == now
