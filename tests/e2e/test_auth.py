"""Producer authentication, black-box: against a deployed stack in IAM or WEBHOOK_SIGNATURE mode, or else
an embedded stack of its own in WEBHOOK_SIGNATURE mode (with the secret in its emulator's Secrets Manager)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from tests.builders import an_event
from tests.e2e.conftest import Target, WebhookSigner, start_embedded
from tests.e2e.test_api import wait_for_status


@pytest.fixture(scope="module")
def secured(target: Target) -> Iterator[Target]:
    """A target that authenticates producers."""
    if os.environ.get("PLUTUS_API_URL"):
        if target.auth_mode == "NONE":
            pytest.skip("the target runs AuthMode=NONE: it accepts unauthenticated producers by design")
        yield target
        return
    embedded = start_embedded("e2e-auth", {"AuthMode": "WEBHOOK_SIGNATURE"}, concurrency=1)
    yield embedded
    assert embedded.local is not None
    embedded.local.stop()


def test_an_unsigned_event_is_refused(secured: Target) -> None:
    with httpx.Client(base_url=secured.url, timeout=30) as anonymous:
        response = anonymous.post("/api/v1/ingest", json=an_event(f"evt_{uuid.uuid4().hex}"))
    if secured.auth_mode == "IAM":
        assert response.status_code == 403  # API Gateway refuses it before the function runs
        return
    assert response.status_code == 401
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert response.headers["WWW-Authenticate"] == "Standard-Webhooks"


def test_a_signed_event_is_accepted_processed_and_replayed(secured: Target) -> None:
    key = f"evt_{uuid.uuid4().hex}"
    with secured.client() as api:
        first = api.post("/api/v1/ingest", json=an_event(key))
        assert first.status_code == 202
        event_id = first.json()["event_id"]
        assert wait_for_status(api, event_id, {"PROCESSED"})["status"] == "PROCESSED"
        again = api.post("/api/v1/ingest", json=an_event(key))
    assert again.status_code == 200
    assert again.json() == {"event_id": event_id}


def test_a_stale_webhook_signature_is_refused(secured: Target) -> None:
    if secured.auth_mode != "WEBHOOK_SIGNATURE" or not isinstance(secured.auth, WebhookSigner):
        pytest.skip("only AuthMode=WEBHOOK_SIGNATURE checks webhook timestamps")
    body = httpx.Request("POST", "/", json=an_event(f"evt_{uuid.uuid4().hex}")).read()
    sent_at = datetime.now(UTC) - timedelta(minutes=10)
    headers = {
        "Content-Type": "application/json",
        "webhook-id": f"msg_{uuid.uuid4().hex}",
        "webhook-timestamp": str(int(sent_at.timestamp())),
    }
    webhook: Webhook = secured.auth.webhook
    headers["webhook-signature"] = webhook.sign(headers["webhook-id"], sent_at, body.decode())
    with httpx.Client(base_url=secured.url, timeout=30) as raw:
        response = raw.post("/api/v1/ingest", content=body, headers=headers)
    assert response.status_code == 401
    assert "webhook-timestamp" in response.json()["detail"]
