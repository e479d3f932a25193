"""``POST /api/v1/webhooks/{source}`` on the FastAPI app (OpenAPI, ASGI servers).

The Lambda handler serves this route without FastAPI (see ``plutus.ingest.entry``); both call the same
framework-free :class:`~plutus.ingest.webhooks.ProviderWebhookEndpoint`, so they answer alike.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from plutus.core.errors import ResourceNotFoundError
from plutus.ingest.http import from_starlette, to_starlette
from plutus.ingest.replies import EventAccepted
from plutus.ingest.webhooks import WEBHOOKS_PATH, ProviderWebhookEndpoint

_PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}


def webhook_endpoint(request: Request) -> ProviderWebhookEndpoint:
    """FastAPI dependency: the provider webhook endpoint the app was wired with (404 if none)."""
    endpoint: ProviderWebhookEndpoint | None = getattr(request.app.state, "webhook_endpoint", None)
    if endpoint is None:
        raise ResourceNotFoundError("no webhook source of this name is configured")
    return endpoint


router = APIRouter()


@router.post(
    WEBHOOKS_PATH,
    status_code=202,
    response_model=EventAccepted,
    responses={
        200: {
            "model": EventAccepted,
            "description": "Redelivery of an accepted event (or Slack's challenge)",
        },
        **dict.fromkeys((400, 401, 403, 404, 409, 413, 415, 422, 503), _PROBLEM),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "The provider's own request, signed as the source's provider signs it.",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
async def ingest_webhook(
    source: str,
    request: Request,
    endpoint: ProviderWebhookEndpoint = Depends(webhook_endpoint),  # noqa: B008 - FastAPI idiom
) -> Response:
    """Accept one provider webhook (Stripe, GitHub, Shopify, Slack, Standard Webhooks, generic HMAC): 202 when
    new, 200 (``Idempotent-Replayed: true``) for a redelivery, 401 with nothing stored for a bad signature."""
    return to_starlette(endpoint(await from_starlette(request)))
