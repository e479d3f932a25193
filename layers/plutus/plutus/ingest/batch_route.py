"""``POST /api/v1/ingest/batch`` on the FastAPI app (OpenAPI, ASGI servers).

The Lambda handler serves this route without FastAPI (see ``plutus.ingest.entry``); both call the same
framework-free :class:`~plutus.ingest.endpoints.BatchIngestEndpoint`, so they answer alike.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from plutus.core.envelope import IngestRequest
from plutus.ingest.endpoints import BATCH_PATH, BatchIngestEndpoint
from plutus.ingest.http import from_starlette, to_starlette

_PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}


class BatchItemResult(BaseModel):
    """The outcome of one event of a batch."""

    index: int = Field(description="Position of the event in the request.")
    status: int = Field(
        description="202 new, 200 duplicate, 403 refused by the producer policy, 409 in progress (retry), "
        "422 invalid or key reused with other content, 503 not queued (retry)."
    )
    event_id: str | None = Field(default=None, description="With 202 and 200.")
    error: dict[str, Any] | None = Field(
        default=None, description="Otherwise: the problem document the single endpoint would answer."
    )


class BatchIngestResponse(BaseModel):
    """One result per event, in request order."""

    results: list[BatchItemResult]


def batch_endpoint() -> BatchIngestEndpoint:
    """FastAPI dependency: the batch endpoint of this execution environment (tests override it)."""
    from plutus.ingest.entry import get_ingest

    return get_ingest().batch


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
    responses={400: _PROBLEM, 401: _PROBLEM, 413: _PROBLEM, 415: _PROBLEM, 422: _PROBLEM},
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
