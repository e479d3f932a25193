"""Attacks on the unsigned headers of provider webhooks (security review, 2026-12-01).

GitHub and Shopify sign only the raw body: ``X-GitHub-Delivery``/``X-GitHub-Event`` and
``X-Shopify-Webhook-Id``/``X-Shopify-Topic`` are not covered by the signature and no timestamp is signed.
docs/security.md promises "a captured request replayed later carries its delivery id and is the same event
(200), never a new one". These tests replay one captured, validly signed body with altered unsigned headers
and require that the replay cannot become a *new* event or an event of *another* type. They fail today.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from plutus.core.webhook_secrets import load_secrets
from plutus.domains import build_registry
from tests.fakes import RecordingAccept

NOW = 1_795_737_600
SECRET = "review-secret-of-16-bytes-or-more"
REGISTRY = build_registry()


def endpoint(accept: RecordingAccept) -> Any:
    from plutus.ingest.producers import ProducerAuthorizer
    from plutus.ingest.webhooks import ProviderWebhookEndpoint
    from tests.fakes import settings as test_settings

    config = test_settings(webhook_sources={"github": {"kind": "github"}, "shop": {"kind": "shopify"}})
    return ProviderWebhookEndpoint(
        config,
        REGISTRY,
        accept,
        lambda _source, kind: load_secrets(kind, SECRET).keys,
        ProducerAuthorizer.for_settings(config, REGISTRY),
        clock=lambda: NOW,
    )


def post(source: str, body: bytes, headers: dict[str, str]) -> Any:
    from plutus.ingest.http import HttpRequest

    return HttpRequest(
        "POST",
        f"/api/v1/webhooks/{source}",
        {"content-type": "application/json", **{k.lower(): v for k, v in headers.items()}},
        body,
        None,
        {"source": source},
    )


GITHUB_BODY = json.dumps({"action": "opened", "pull_request": {"id": 1}}).encode()
GITHUB_SIG = "sha256=" + hmac.new(SECRET.encode(), GITHUB_BODY, hashlib.sha256).hexdigest()
SHOPIFY_BODY = b'{"id":1234567890,"total_price":"123.45","financial_status":"pending"}'
SHOPIFY_SIG = base64.b64encode(hmac.new(SECRET.encode(), SHOPIFY_BODY, hashlib.sha256).digest()).decode()


def test_a_captured_github_delivery_replayed_with_a_new_delivery_id_is_not_a_new_event() -> None:
    accept = RecordingAccept()
    send = endpoint(accept)
    genuine = {"X-Hub-Signature-256": GITHUB_SIG, "X-GitHub-Event": "pull_request"}

    first = send(post("github", GITHUB_BODY, {**genuine, "X-GitHub-Delivery": "delivery-1"}))
    # Days later (GitHub signs no timestamp): the same signed body, a made-up delivery id.
    replay = send(post("github", GITHUB_BODY, {**genuine, "X-GitHub-Delivery": "attacker-2"}))

    assert first.status == 202 and replay.status in (200, 202)
    one, two = accept.commands
    # Same idempotency key => the idempotent store answers the replay with 200, nothing stored twice.
    assert two.idempotency_key == one.idempotency_key, "replay with a forged delivery id is a new event"
    assert two.event_id == one.event_id


def test_a_captured_shopify_delivery_cannot_be_retyped_into_a_restricted_type(monkeypatch: Any) -> None:
    # X-Shopify-Topic is not signed, so a type read from it is a hint: were a pack to register a restricted
    # (money-moving) Shopify type, a re-posted body must not become one.
    restricted = {**REGISTRY.restricted_types(), "shopify.orders.paid": "moves money"}
    monkeypatch.setattr(REGISTRY, "restricted_types", lambda: restricted)
    accept = RecordingAccept()
    send = endpoint(accept)
    genuine = send(
        post(
            "shop",
            SHOPIFY_BODY,
            {
                "X-Shopify-Hmac-Sha256": SHOPIFY_SIG,
                "X-Shopify-Webhook-Id": "w-1",
                "X-Shopify-Topic": "orders/create",
            },
        )
    )
    forged = send(
        post(
            "shop",
            SHOPIFY_BODY,
            {
                "X-Shopify-Hmac-Sha256": SHOPIFY_SIG,
                "X-Shopify-Webhook-Id": "w-forged",
                "X-Shopify-Topic": "orders/paid",
            },
        )
    )

    assert genuine.status == 202 and forged.status == 403
    assert [c.event_type for c in accept.commands] == ["shopify.orders.create"]
