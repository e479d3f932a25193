"""Producer authorization through the real ingest handler on the emulator: IAM principals mapped to their
sources, and NONE mode under a policy. (WEBHOOK_SIGNATURE: tests/integration/test_webhook_auth.py.)"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from plutus_dev.emulator.resources import Emulator
from tests.integration.harness import Harness, Response, harness

ACCOUNT = "123456789012"
BANK_ROLE = f"arn:aws:iam::{ACCOUNT}:role/producers/core-banking"
BANK_SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/core-banking/i-0a1b2c"
SHOP_USER = f"arn:aws:iam::{ACCOUNT}:user/shop"
POLICY = {
    "sources": {
        "core_banking": ["transaction_initiated", "kyc_document_uploaded", "<untyped>"],
        "shop": ["*"],
    },
    "principals": {BANK_ROLE: ["core_banking"], SHOP_USER: ["shop"]},
}


def event(source: str, key: str, event_type: str | None = None, **payload: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "source": source,
        "schema_version": "1.0",
        "idempotency_key": key,
        "payload": payload or {"n": 1},
    }
    if event_type:
        body["event_type"] = event_type
    return body


def credit(source: str, key: str) -> dict[str, Any]:
    return event(
        source,
        key,
        "transaction_initiated",
        transaction_id=key,
        account_id="acc_1",
        direction="credit",
        amount=50,
        currency="KES",
    )


def kyc(source: str, key: str) -> dict[str, Any]:
    return event(
        source,
        key,
        "kyc_document_uploaded",
        account_id="acc_victim",
        document_id=key,
        document_type="national_id",
        issuing_country="KE",
    )


def assert_forbidden(stack: Harness, response: Response, problem: str, stored_before: int = 0) -> None:
    assert response.status == 403
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"] == f"https://plutus.dev/problems/{problem}"
    assert len(stack.scan("EventsTable")) == stored_before
    assert stack.queue_depth() == stored_before


@pytest.fixture
def iam_stack(emulator: Emulator) -> Iterator[Harness]:
    parameters = {"AuthMode": "IAM", "ProducerPolicy": json.dumps(POLICY)}
    with harness(emulator.url, parameters=parameters) as h:
        yield h


def test_a_principal_writes_its_own_source(iam_stack: Harness) -> None:
    response = iam_stack.request(
        "POST", "/api/v1/ingest", credit("core_banking", "txn_1"), principal=BANK_SESSION
    )

    assert response.status == 202
    iam_stack.drain()
    assert iam_stack.get_event(response.json()["event_id"]).json()["status"] == "PROCESSED"


@pytest.mark.parametrize(
    ("principal", "body", "problem"),
    [
        (SHOP_USER, credit("core_banking", "txn_1"), "forbidden-source"),  # another producer's source
        (None, credit("core_banking", "txn_1"), "forbidden-source"),  # no principal: deny, not wave through
        (
            f"arn:aws:sts::{ACCOUNT}:assumed-role/core-banking-test/x",
            credit("core_banking", "t"),
            "forbidden-source",
        ),
        (SHOP_USER, credit("shop", "txn_1"), "forbidden-event-type"),  # its source, a restricted type
        (BANK_SESSION, event("core_banking", "k", "page_view"), "forbidden-event-type"),
    ],
)
def test_a_principal_is_refused_other_sources_and_ungranted_types(
    iam_stack: Harness, principal: str | None, body: dict[str, Any], problem: str
) -> None:
    response = iam_stack.request("POST", "/api/v1/ingest", body, principal=principal)

    assert_forbidden(iam_stack, response, problem)


def test_a_principal_cannot_claim_another_sources_idempotency_key_first(iam_stack: Harness) -> None:
    # Given: the shop tries to take the bank's next key before the bank sends it
    squat = iam_stack.request(
        "POST", "/api/v1/ingest", event("core_banking", "txn_next"), principal=SHOP_USER
    )
    assert squat.status == 403

    # When: the bank sends its real event under that key
    real = iam_stack.request(
        "POST", "/api/v1/ingest", credit("core_banking", "txn_next"), principal=BANK_SESSION
    )

    # Then: it is new (202), not a replay of the squatter's
    assert real.status == 202 and "idempotent-replayed" not in real.headers


def test_a_batch_is_authorized_per_event_and_per_source(iam_stack: Harness) -> None:
    events = [credit("core_banking", "b1"), event("shop", "b2"), kyc("core_banking", "b3")]

    response = iam_stack.request("POST", "/api/v1/ingest/batch", {"events": events}, principal=BANK_SESSION)

    statuses = [r["status"] for r in response.json()["results"]]
    assert statuses == [202, 403, 202]
    assert response.json()["results"][1]["error"]["type"].endswith("/forbidden-source")
    assert len(iam_stack.scan("EventsTable")) == 2


def test_in_none_mode_a_policy_holds_each_claimed_source_to_its_types(emulator: Emulator) -> None:
    # The red-team case: a NONE-mode source marked another account's KYC complete. Under a policy, a source
    # not granted kyc_document_uploaded is refused. (NONE authenticates nobody: a caller that claims
    # core_banking is believed. Only WEBHOOK_SIGNATURE and IAM bind a caller to its source.)
    with harness(emulator.url, parameters={"ProducerPolicy": json.dumps(POLICY)}) as stack:
        refused = stack.post_event(kyc("shop", "doc_1"))
        assert_forbidden(stack, refused, "forbidden-event-type")

        assert stack.post_event(kyc("core_banking", "doc_2")).status == 202


def test_in_none_mode_without_a_policy_any_source_may_send_any_type(stack: Harness) -> None:
    # Development (make dev) and a trusted gateway only: the template's description and the README say so.
    assert stack.post_event(kyc("anyone", "doc_1")).status == 202


def sigv4(signed_headers: str) -> str:
    # What API Gateway passes on after verifying it; only SignedHeaders matters to the function.
    return (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261201/us-east-1/execute-api/aws4_request, "
        f"SignedHeaders={signed_headers}, Signature=0123456789abcdef"
    )


def test_an_unsigned_idempotency_key_header_cannot_turn_a_captured_iam_request_into_new_events(
    iam_stack: Harness,
) -> None:
    # Given: a SigV4-signed request whose key is in the body (covered by the signature)
    body = credit("core_banking", "txn_sig")
    captured = {"Authorization": sigv4("content-type;host;x-amz-date")}
    first = iam_stack.request("POST", "/api/v1/ingest", body, captured, principal=BANK_SESSION)
    assert first.status == 202

    # When: it is replayed with an Idempotency-Key header SigV4 did not sign
    replay = iam_stack.request(
        "POST", "/api/v1/ingest", body, {**captured, "Idempotency-Key": "txn_sig_2"}, principal=BANK_SESSION
    )

    # Then: refused naming the header; only a signed header may key an event
    assert replay.status == 422 and replay.json()["errors"][0]["field"] == "Idempotency-Key"
    keyless = {k: v for k, v in credit("core_banking", "unused").items() if k != "idempotency_key"}
    signed_header = {
        "Authorization": sigv4("content-type;host;idempotency-key;x-amz-date"),
        "Idempotency-Key": "txn_hdr",
    }
    assert (
        iam_stack.request("POST", "/api/v1/ingest", keyless, signed_header, principal=BANK_SESSION).status
        == 202
    )
    assert len(iam_stack.scan("EventsTable")) == 2
