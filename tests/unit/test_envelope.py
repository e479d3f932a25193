"""Idempotency key derivation and payload normalisation (no sockets)."""

from __future__ import annotations

import uuid

import pytest
from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer

from plutus.core.envelope import (
    IngestRequest,
    canonical_json,
    content_digest,
    derive_event_id,
    parse_timestamp,
    utc_now,
)
from plutus.core.storable import scan
from plutus.ingest.accept import EVENT_KEY_JMESPATH, VALIDATION_JMESPATH, command_for
from tests.builders import an_event

SEED = an_event("evt_123456")


class _KeyOnly(BasePersistenceLayer):
    """Powertools' own key derivation, without storage."""

    def _get_record(self, idempotency_key: str):  # type: ignore[no-untyped-def]
        raise NotImplementedError

    _put_record = _update_record = _delete_record = _get_record  # type: ignore[assignment]


def _powertools_key(request: IngestRequest) -> tuple[str | None, str]:
    layer = _KeyOnly()
    layer.configure(
        IdempotencyConfig(
            event_key_jmespath=EVENT_KEY_JMESPATH, payload_validation_jmespath=VALIDATION_JMESPATH
        ),
        key_prefix="plutus.ingest",
    )
    data = command_for(request).model_dump()
    return layer._get_hashed_idempotency_key(data), layer._get_hashed_payload(data)


def test_the_key_is_source_and_idempotency_key_under_a_fixed_prefix() -> None:
    a = IngestRequest.model_validate(SEED)
    b = IngestRequest.model_validate(an_event("evt_123456", payload={"amount": 5}))
    c = IngestRequest.model_validate(an_event("evt_123456", source="other"))
    key_a, digest_a = _powertools_key(a)
    key_b, digest_b = _powertools_key(b)
    key_c, _ = _powertools_key(c)

    assert key_a is not None and key_a.startswith("plutus.ingest#")
    assert key_a == key_b, "the payload is not part of the key"
    assert digest_a != digest_b, "but it is validated"
    assert key_a != key_c, "the source is part of the key"


def test_canonical_json_ignores_key_order_whitespace_and_number_spelling() -> None:
    assert canonical_json({"b": 1, "a": [1.0, 2.5]}) == canonical_json({"a": [1, 2.5], "b": 1.0})
    assert canonical_json({"a": 1}) == '{"a":1}'
    assert canonical_json({"x": "é\u0000"}) == '{"x":"\\u00e9\\u0000"}', "ASCII-only: safe for SQS"


def test_canonical_json_rejects_what_json_cannot_carry() -> None:
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})


def test_the_event_id_is_a_stable_name_based_uuid_of_source_key_and_content() -> None:
    a = IngestRequest.model_validate(SEED)
    same = IngestRequest.model_validate(an_event("evt_123456", payload={"currency": "KES", "amount": 100.0}))
    other = IngestRequest.model_validate(an_event("evt_123456", payload={"amount": 101, "currency": "KES"}))
    id_a = derive_event_id(a.source, a.idempotency_key, content_digest(a))

    assert uuid.UUID(id_a).version == 5
    assert id_a == derive_event_id(same.source, same.idempotency_key, content_digest(same))
    assert id_a != derive_event_id(other.source, other.idempotency_key, content_digest(other))


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
