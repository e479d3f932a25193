"""AuthMode=WEBHOOK_SIGNATURE through the real ingest handler, with the secrets in the emulator's Secrets
Manager or SSM Parameter Store and the requests signed by the reference library (standardwebhooks)."""

from __future__ import annotations

import base64
import json
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from plutus_dev.emulator.resources import Emulator
from tests.builders import an_event, encoded
from tests.integration.harness import Harness, Response, harness

# Slow (21 tests of 2-3 s: secrets in moto and a stack per mode): not in `make test-fast`.
pytestmark = pytest.mark.slow

SOURCE = "payment_service"
# Who may send what in these stacks: the ledger's owner moves money, srcA sends anything unrestricted.
POLICY = {
    "sources": {
        SOURCE: ["<untyped>"],
        "core_banking": ["transaction_initiated", "transfer_requested"],
        "saas_billing": ["feature_used"],
        "srcA": ["*"],
    }
}


def new_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


def store_secret(stack: Harness, source: str, value: str) -> None:
    """Put a source's secrets where the template's parameters say the function reads them."""
    name = stack.stack.parameters["WebhookSecretPrefix"] + source
    if stack.stack.parameters["WebhookSecretStore"] == "SSM":
        stack.client("ssm").put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)
    else:
        stack.client("secretsmanager").create_secret(Name=name, SecretString=value)


def signed(
    secret: str, body: bytes, *, msg_id: str | None = None, at: datetime | None = None
) -> dict[str, str]:
    """Headers as a Standard Webhooks sender makes them, signed by the reference library."""
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    at = at or datetime.now(UTC)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, at, body.decode()),
    }


def post(stack: Harness, body: bytes, headers: dict[str, str]) -> Response:
    return stack.request("POST", "/api/v1/ingest", body, headers)


def assert_refused_and_nothing_stored(stack: Harness, response: Response) -> None:
    assert response.status == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["www-authenticate"] == "Standard-Webhooks"
    assert response.json()["type"].endswith("/unauthenticated")
    assert stack.scan("EventsTable") == []
    assert stack.queue_depth() == 0


def typed_body(source: str, event_type: str, payload: dict[str, Any], key: str | None = None) -> bytes:
    """A typed event of ``source`` as the bytes a signature covers (no key: the webhook-id keys it)."""
    return encoded(an_event(key, event_type, payload, source=source))


def assert_forbidden(response: Response, problem: str = "forbidden-event-type") -> None:
    assert response.status == 403
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"] == f"https://plutus.dev/problems/{problem}"


@pytest.fixture(params=["SECRETS_MANAGER", "SSM"])
def webhook_stack(request: pytest.FixtureRequest, emulator: Emulator) -> Iterator[Harness]:
    """A stack in WEBHOOK_SIGNATURE mode, its secrets under a prefix of its own, in either store."""
    parameters = {
        "AuthMode": "WEBHOOK_SIGNATURE",
        "WebhookSecretStore": request.param,
        "WebhookSecretPrefix": f"/t{uuid.uuid4().hex[:10]}/webhooks/",
        "ProducerPolicy": json.dumps(POLICY),
    }
    with harness(emulator.url, parameters=parameters) as h:
        yield h


def test_a_signed_event_is_accepted_and_processed(webhook_stack: Harness) -> None:
    secret = new_secret()
    store_secret(webhook_stack, SOURCE, secret)
    body = encoded(an_event())

    response = post(webhook_stack, body, signed(secret, body))

    assert response.status == 202
    event_id = response.json()["event_id"]
    webhook_stack.drain()
    assert webhook_stack.get_event(event_id).json()["status"] == "PROCESSED"


def test_every_active_secret_verifies_during_a_rotation_and_a_retired_one_does_not(
    webhook_stack: Harness,
) -> None:
    old, new, retired = new_secret(), new_secret(), new_secret()
    store_secret(webhook_stack, SOURCE, f"{new} {old}")

    for n, secret in enumerate((old, new)):
        body = encoded(an_event(f"evt_rot_{n}"))
        assert post(webhook_stack, body, signed(secret, body)).status == 202

    body = encoded(an_event("evt_rot_retired"))
    response = post(webhook_stack, body, signed(retired, body))
    assert response.status == 401
    assert len(webhook_stack.scan("EventsTable")) == 2


def test_a_stale_timestamp_is_refused_and_nothing_is_stored(webhook_stack: Harness) -> None:
    secret = new_secret()
    store_secret(webhook_stack, SOURCE, secret)
    body = encoded(an_event())
    # Validly signed by the reference library, six minutes ago: a replay outside the 5-minute window.
    headers = signed(secret, body, at=datetime.now(UTC) - timedelta(minutes=6))

    response = post(webhook_stack, body, headers)

    assert_refused_and_nothing_stored(webhook_stack, response)
    assert "webhook-timestamp" in response.json()["detail"]


@pytest.mark.parametrize("case", ["unsigned", "bad_signature", "tampered_body", "unknown_source"])
def test_a_missing_or_bad_signature_is_401_and_nothing_is_stored(webhook_stack: Harness, case: str) -> None:
    secret = new_secret()
    store_secret(webhook_stack, SOURCE, secret)
    body = encoded(an_event())
    headers = {
        "unsigned": {},
        "bad_signature": signed(new_secret(), body),
        "tampered_body": signed(secret, encoded(an_event(payload={"amount": 1}))),
        "unknown_source": signed(secret, encoded(an_event(source="billing"))),
    }[case]
    if case == "unknown_source":
        body = encoded(an_event(source="billing"))

    assert_refused_and_nothing_stored(webhook_stack, post(webhook_stack, body, headers))


def test_webhook_id_is_the_idempotency_key_when_the_body_has_none(webhook_stack: Harness) -> None:
    secret = new_secret()
    store_secret(webhook_stack, SOURCE, secret)
    body = encoded(an_event(None))

    # The sender retries one message: same webhook-id and body, new timestamp and signature.
    first = post(webhook_stack, body, signed(secret, body, msg_id="msg_retry_1"))
    retry = post(webhook_stack, body, signed(secret, body, msg_id="msg_retry_1"))
    other = post(webhook_stack, body, signed(secret, body, msg_id="msg_retry_2"))

    assert first.status == 202
    assert retry.status == 200 and retry.headers["idempotent-replayed"] == "true"
    assert retry.json() == first.json()
    assert other.status == 202 and other.json() != first.json()


def test_the_body_key_wins_over_webhook_id(webhook_stack: Harness) -> None:
    secret = new_secret()
    store_secret(webhook_stack, SOURCE, secret)
    body = encoded(an_event("evt_from_body"))

    first = post(webhook_stack, body, signed(secret, body, msg_id="msg_a"))
    second = post(webhook_stack, body, signed(secret, body, msg_id="msg_b"))

    assert (first.status, second.status) == (202, 200)
    assert second.json() == first.json()


def test_reads_and_health_need_no_signature(webhook_stack: Harness) -> None:
    assert webhook_stack.request("GET", "/health").status == 200
    assert webhook_stack.get_event(str(uuid.uuid4())).status == 404


def test_without_webhook_mode_unsigned_events_are_accepted(stack: Harness) -> None:
    assert stack.post_event(an_event()).status == 202


def test_without_a_policy_a_correctly_signed_event_is_refused(emulator: Emulator) -> None:
    parameters = {"AuthMode": "WEBHOOK_SIGNATURE", "WebhookSecretPrefix": f"/t{uuid.uuid4().hex[:10]}/wh/"}
    with harness(emulator.url, parameters=parameters) as stack:
        secret = new_secret()
        store_secret(stack, SOURCE, secret)
        body = encoded(an_event())

        response = post(stack, body, signed(secret, body))

        assert_forbidden(response)
        assert stack.scan("EventsTable") == []
        assert stack.queue_depth() == 0


def test_a_correctly_signed_source_cannot_debit_an_account_it_is_not_allowed_to_move_money_for(
    webhook_stack: Harness,
) -> None:
    # Given: the ledger's owner credited acc_victim with 5,000; srcA holds a valid secret of its own
    bank, attacker = new_secret(), new_secret()
    store_secret(webhook_stack, "core_banking", bank)
    store_secret(webhook_stack, "srcA", attacker)
    credit = typed_body(
        "core_banking",
        "transaction_initiated",
        {
            "transaction_id": "txn_1",
            "account_id": "acc_victim",
            "direction": "credit",
            "amount": 5000,
            "currency": "KES",
        },
        key="txn_1",
    )
    assert post(webhook_stack, credit, signed(bank, credit)).status == 202
    stored = len(webhook_stack.scan("EventsTable"))

    # When: srcA, correctly signed, asks for a transfer out of it (the red-team case)
    theft = typed_body(
        "srcA",
        "transfer_requested",
        {
            "transfer_id": "trf_x",
            "from_account_id": "acc_victim",
            "to_account_id": "acc_attacker",
            "amount": 400,
            "currency": "KES",
        },
        key="trf_x",
    )
    response = post(webhook_stack, theft, signed(attacker, theft))

    # Then: 403, nothing stored or queued for it, and the balance is untouched
    assert_forbidden(response)
    assert response.json()["errors"] == [{"field": "event_type", "message": "not granted to this source"}]
    assert len(webhook_stack.scan("EventsTable")) == stored
    webhook_stack.drain()
    account = webhook_stack.request("GET", "/api/v1/fintech/accounts/acc_victim").json()
    assert float(account["balances"]["KES"]) == 5000
    assert webhook_stack.request("GET", "/api/v1/fintech/accounts/acc_attacker").status == 404


def test_a_signed_batch_is_refused_per_event(webhook_stack: Harness) -> None:
    secret = new_secret()
    store_secret(webhook_stack, "srcA", secret)
    events = [
        an_event("b_ok", source="srcA"),
        json.loads(
            typed_body(
                "srcA",
                "transfer_requested",
                {
                    "transfer_id": "trf_b",
                    "from_account_id": "acc_1",
                    "to_account_id": "acc_2",
                    "amount": 1,
                    "currency": "KES",
                },
                key="b_money",
            )
        ),
    ]
    body = json.dumps({"events": events}).encode()

    response = webhook_stack.request("POST", "/api/v1/ingest/batch", body, signed(secret, body))

    first, second = response.json()["results"]
    assert first["status"] == 202
    assert second["status"] == 403 and second["error"]["type"].endswith("/forbidden-event-type")
    assert [e["event_id"] for e in webhook_stack.scan("EventsTable")] == [first["event_id"]]
    assert webhook_stack.queue_depth() == 1


def test_a_captured_request_replayed_with_new_headers_is_never_a_new_event(webhook_stack: Harness) -> None:
    # Given: one signed meter reading of 100 units, keyed by its webhook-id (the body names no key)
    secret = new_secret()
    store_secret(webhook_stack, "saas_billing", secret)
    body = typed_body(
        "saas_billing",
        "feature_used",
        {
            "account_id": "acct_1",
            "user_id": "usr_1",
            "feature": "api_access",
            "units": 100,
            "occurred_at": "2026-11-26T14:22:05Z",
        },
    )
    captured = signed(secret, body)
    first = post(webhook_stack, body, captured)
    assert first.status == 202

    # When: an attacker replays it inside the 300 s tolerance, with a fresh Idempotency-Key each time
    replays = [post(webhook_stack, body, {**captured, "Idempotency-Key": f"evt_{n}"}) for n in range(3)]
    # ...or as captured, or restating the signed key
    again = post(webhook_stack, body, captured)
    restated = post(webhook_stack, body, {**captured, "Idempotency-Key": captured["webhook-id"]})

    # Then: refused naming the header, or answered as the duplicate it is; the meter reads 100, not 400
    for replay in replays:
        assert replay.status == 422
        assert replay.json()["errors"][0]["field"] == "Idempotency-Key"
    assert (again.status, restated.status) == (200, 200)
    assert again.json() == restated.json() == first.json()
    assert len(webhook_stack.scan("EventsTable")) == 1
    webhook_stack.drain()
    meter = webhook_stack.request("GET", "/api/v1/saas/accounts/acct_1/meters/2026-11").json()
    assert meter["meters"]["units_api_access"] == 100
