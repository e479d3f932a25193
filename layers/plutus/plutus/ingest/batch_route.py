"""``POST /api/v1/ingest/batch`` on the FastAPI app (OpenAPI, ASGI servers).

The Lambda handler serves this route without FastAPI (see ``plutus.ingest.entry``); both call the same
framework-free :class:`~plutus.ingest.endpoints.BatchIngestEndpoint`, so they answer alike.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from plutus.core.envelope import IngestRequest
from plutus.ingest.endpoints import BATCH_PATH, BatchIngestEndpoint
from plutus.ingest.http import from_starlette, to_starlette
from plutus.ingest.replies import BatchIngestResponse

_PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}


def batch_endpoint(request: Request) -> BatchIngestEndpoint:
    """FastAPI dependency: the batch endpoint the app was wired with (tests override it)."""
    endpoint: BatchIngestEndpoint = request.app.state.batch_endpoint
    return endpoint


# The limit is a setting (PLUTUS_MAX_BATCH_EVENTS, 100 by default), so the schema states no maxItems.
_REQUEST_SCHEMA = {
    "type": "object",
    "required": ["events"],
    "additionalProperties": False,
    "properties": {"events": {"type": "array", "minItems": 1, "items": IngestRequest.model_json_schema()}},
}


router = APIRouter()


@router.post(
    BATCH_PATH,
    response_model=BatchIngestResponse,
    responses={400: _PROBLEM, 413: _PROBLEM, 415: _PROBLEM, 422: _PROBLEM},
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": _REQUEST_SCHEMA}}}
    },
)
async def ingest_batch(
    request: Request,
    endpoint: BatchIngestEndpoint = Depends(batch_endpoint),  # noqa: B008 - FastAPI idiom
) -> Response:
    """Accept up to ``PLUTUS_MAX_BATCH_EVENTS`` events, each deduplicated on its own key, in one request."""
    return to_starlette(endpoint(await from_starlette(request)))
