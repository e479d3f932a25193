"""AuthMode=WEBHOOK_SIGNATURE through the real ingest handler, with the secrets in the emulator's Secrets
Manager or SSM Parameter Store and the requests signed by the reference library (standardwebhooks)."""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook

from plutus_dev.emulator.resources import Emulator
from tests.builders import an_event, encoded
from tests.integration.harness import Harness, Response, harness

SOURCE = "payment_service"


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
    assert stack.scan("IdempotencyTable") == []
    assert stack.queue_depth() == 0


@pytest.fixture(params=["SECRETS_MANAGER", "SSM"])
def webhook_stack(request: pytest.FixtureRequest, emulator: Emulator) -> Iterator[Harness]:
    """A stack in WEBHOOK_SIGNATURE mode, its secrets under a prefix of its own, in either store."""
    parameters = {
        "AuthMode": "WEBHOOK_SIGNATURE",
        "WebhookSecretStore": request.param,
        "WebhookSecretPrefix": f"/t{uuid.uuid4().hex[:10]}/webhooks/",
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
