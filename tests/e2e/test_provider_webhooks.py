"""Point Stripe at it, black-box: an embedded stack (as ``make dev`` runs it) with a ``stripe`` webhook source
and its endpoint secret in the emulator's Secrets Manager. A Stripe-shaped ``payment_intent.succeeded``,
signed as Stripe signs it, is delivered twice: one event, one balance change. A badly signed copy is 401."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest
import stripe

from tests.e2e.conftest import Target, start_embedded
from tests.e2e.test_api import wait_for_status

# Slow (e2e: starts an embedded stack of its own): not in `make test-fast`.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stripe_stack() -> Iterator[tuple[Target, str]]:
    """An embedded stack serving a ``stripe`` source, and the endpoint secret it verifies with."""
    if os.environ.get("PLUTUS_API_URL"):
        pytest.skip("stores a Stripe secret in the stack's secret store: embedded stack only")
    embedded = start_embedded(
        "e2e-webhooks", {"WebhookSources": json.dumps({"stripe": {"kind": "stripe"}})}, concurrency=1
    )
    assert embedded.local is not None
    secret = "whsec_" + os.urandom(16).hex()
    embedded.local.client("secretsmanager").create_secret(
        Name=embedded.outputs["WebhookSecretPrefix"] + "stripe", SecretString=secret
    )
    yield embedded, secret
    embedded.local.stop()


def stripe_payment(event_id: str, account: str, cents: int) -> bytes:
    """A Stripe event as Stripe sends it (pretty-printed JSON: the bytes are what is signed)."""
    event = {
        "id": event_id,
        "object": "event",
        "api_version": "2024-06-20",
        "created": int(time.time()),
        "livemode": False,
        "type": "payment_intent.succeeded",
        "data": {
            "object": {
                "id": f"pi_{uuid.uuid4().hex[:16]}",
                "object": "payment_intent",
                "amount_received": cents,
                "currency": "usd",
                "metadata": {"account_id": account},
            }
        },
    }
    return json.dumps(event, indent=2).encode()


def deliver(target: Target, body: bytes, secret: str) -> httpx.Response:
    """One delivery, as Stripe makes it: a fresh Stripe-Signature each attempt, no other credentials."""
    header = stripe.WebhookSignature.generate_signature_header(body.decode(), secret)
    with httpx.Client(base_url=target.url, timeout=30) as stripe_side:
        return stripe_side.post(
            "/api/v1/webhooks/stripe",
            content=body,
            headers={"Stripe-Signature": header, "Content-Type": "application/json; charset=utf-8"},
        )


def test_a_stripe_webhook_delivered_twice_is_one_event_and_one_balance_change(
    stripe_stack: tuple[Target, str],
) -> None:
    target, secret = stripe_stack
    account = f"acc_{uuid.uuid4().hex[:12]}"
    body = stripe_payment(f"evt_{uuid.uuid4().hex[:20]}", account, 4250)

    # When Stripe delivers the event, and (its first reply lost) delivers it again
    first = deliver(target, body, secret)
    again = deliver(target, body, secret)

    # Then the second delivery is a replay of the first: the same event
    assert first.status_code == 202, first.text
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    with target.client() as api:
        view = wait_for_status(api, first.json()["event_id"], {"PROCESSED", "FAILED"})
        assert (view["status"], view["event_type"], view["attempts"]) == (
            "PROCESSED",
            "stripe.payment_intent.succeeded",
            1,
        )
        # And the account was credited once
        account_view = api.get(f"/api/v1/fintech/accounts/{account}")
        assert account_view.status_code == 200, account_view.text
        assert Decimal(account_view.json()["balances"]["USD"]) == Decimal("42.50")


def test_a_copy_signed_with_another_secret_is_401(stripe_stack: tuple[Target, str]) -> None:
    target, _ = stripe_stack
    body = stripe_payment(f"evt_{uuid.uuid4().hex[:20]}", "acc_forged", 100_000)

    response = deliver(target, body, "whsec_" + os.urandom(16).hex())

    assert response.status_code == 401
    assert response.headers["Content-Type"].startswith("application/problem+json")
