"""Signed idempotency: in a signed request the key comes from signed material only (the body, else
webhook-id); the unsigned Idempotency-Key header may restate it, never change it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from plutus.core.errors import InvalidEventError
from plutus.core.registry import Registry
from plutus.domains import default
from plutus.ingest.auth import SigV4Verified, sigv4_signed_headers
from plutus.ingest.parsing import parse_ingest_body
from plutus.settings import Settings

SETTINGS = Settings(events_table="e", state_table="s", queue_url="q")
REGISTRY = Registry(default_handler=default.handle_record_receipt)
WEBHOOK_ID = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"


def body(**changes: Any) -> bytes:
    event = {"source": "saas_billing", "schema_version": "1.0", "payload": {"units": 100}, **changes}
    return json.dumps({k: v for k, v in event.items() if v is not None}).encode()


def key(raw: bytes, header: str | None, signed_key: str | None = WEBHOOK_ID) -> str:
    request = parse_ingest_body(raw, "application/json", header, SETTINGS, REGISTRY, signed_key=signed_key)
    return request.idempotency_key


@pytest.mark.parametrize(
    ("raw", "header", "expected"),
    [
        (body(), None, WEBHOOK_ID),  # no key in the body: the signed webhook-id
        (body(idempotency_key="evt_1"), None, "evt_1"),  # the signed body's key wins over webhook-id
        (body(), WEBHOOK_ID, WEBHOOK_ID),  # the header may restate the signed key...
        (body(), f'"{WEBHOOK_ID}"', WEBHOOK_ID),  # ...as an sf-string too
        (body(idempotency_key="evt_1"), "evt_1", "evt_1"),
    ],
)
def test_a_signed_request_is_keyed_by_signed_material(raw: bytes, header: str | None, expected: str) -> None:
    assert key(raw, header) == expected


@pytest.mark.parametrize(
    ("raw", "header"),
    [
        (body(), "evt_new_1"),  # the replay attack: same signed request, a fresh header each time
        (body(idempotency_key="evt_1"), "evt_2"),
        (body(idempotency_key="evt_1"), WEBHOOK_ID),  # not the signed key of this request
    ],
)
def test_an_idempotency_key_header_that_differs_from_the_signed_key_is_refused_naming_it(
    raw: bytes, header: str
) -> None:
    with pytest.raises(InvalidEventError) as exc:
        key(raw, header)
    assert [e["field"] for e in exc.value.errors] == ["Idempotency-Key"]
    assert header not in json.dumps(exc.value.errors)  # the value is not echoed


def test_unsigned_requests_keep_the_header_as_their_key() -> None:
    assert key(body(), "evt_h", signed_key=None) == "evt_h"
    with pytest.raises(InvalidEventError):
        key(body(idempotency_key="evt_1"), "evt_2", signed_key=None)


# IAM: API Gateway verified SigV4, which covers only the headers the client listed in SignedHeaders.
SIGNED = (
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261201/us-east-1/execute-api/aws4_request, "
    "SignedHeaders=content-type;host;idempotency-key;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6"
)
UNSIGNED = SIGNED.replace("idempotency-key;", "")


def test_the_signed_headers_are_read_from_a_sigv4_authorization_header() -> None:
    assert sigv4_signed_headers(SIGNED) == {"content-type", "host", "idempotency-key", "x-amz-date"}
    assert sigv4_signed_headers(UNSIGNED) == {"content-type", "host", "x-amz-date"}
    assert sigv4_signed_headers("Bearer x") == frozenset()
    assert sigv4_signed_headers(None) == frozenset()


@pytest.mark.parametrize(("authorization", "signed"), [(SIGNED, True), (UNSIGNED, False), (None, False)])
def test_in_iam_mode_the_key_header_counts_only_if_sigv4_signed_it(
    authorization: str | None, signed: bool
) -> None:
    headers = {"authorization": authorization} if authorization else {}
    caller = SigV4Verified().authenticate(headers, b"{}")
    assert caller.key_header_signed is signed

    def parse(raw: bytes, header: str | None) -> str:
        request = parse_ingest_body(
            raw, "application/json", header, SETTINGS, REGISTRY, key_header_signed=caller.key_header_signed
        )
        return request.idempotency_key

    if signed:
        assert parse(body(), "evt_h") == "evt_h"
    else:
        with pytest.raises(InvalidEventError) as exc:
            parse(body(), "evt_h")
        assert [e["field"] for e in exc.value.errors] == ["Idempotency-Key"]
    # The body's own key (covered with the body) is always fine.
    assert parse(body(idempotency_key="evt_b"), None) == "evt_b"
