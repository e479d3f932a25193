"""The ingest routes on FastAPI: for OpenAPI (the reads function documents them) and ASGI servers.

On Lambda the ingest function serves these routes without FastAPI (``plutus.ingest.entry``); the routes here
mount the same framework-free endpoints, so both answer alike.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import Response
from pydantic import BaseModel

from plutus.core.envelope import IngestRequest, IngestResult
from plutus.core.registry import Registry
from plutus.ingest import batch_route as batch
from plutus.ingest import problems
from plutus.ingest.auth import Authenticator, Unauthenticated
from plutus.ingest.endpoints import HEALTH_PATH, INGEST_PATH, HealthEndpoint, IngestEndpoint
from plutus.ingest.http import from_starlette, to_starlette
from plutus.ingest.parsing import parse_ingest_body as parse_ingest_body  # callers import it from here too
from plutus.settings import Settings


class EventAccepted(BaseModel):
    """Answer to an accepted (202) or replayed (200) event."""

    event_id: str


class Health(BaseModel):
    """Liveness: nothing more than that the function answers."""

    status: str


_PROBLEM: dict[str, Any] = {"content": {problems.PROBLEM_JSON: {}}}


def single_endpoint() -> IngestEndpoint:
    """FastAPI dependency: the single-event endpoint of this execution environment (tests override it)."""
    from plutus.ingest.entry import get_ingest

    return get_ingest().single


def ingest_router() -> APIRouter:
    """``POST /api/v1/ingest``, ``POST /api/v1/ingest/batch`` and ``GET /health``."""
    router = APIRouter()

    @router.post(
        INGEST_PATH,
        status_code=202,
        response_model=EventAccepted,
        responses={
            200: {"model": EventAccepted, "description": "Replay of an already accepted event"},
            400: _PROBLEM,
            401: _PROBLEM,
            409: _PROBLEM,
            413: _PROBLEM,
            415: _PROBLEM,
            422: _PROBLEM,
            503: _PROBLEM,
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": IngestRequest.model_json_schema()}},
            }
        },
    )
    async def ingest(
        request: Request,
        endpoint: IngestEndpoint = Depends(single_endpoint),  # noqa: B008 - FastAPI idiom
    ) -> Response:
        """Accept one event: 202 when new, 200 (``Idempotent-Replayed: true``) for a duplicate."""
        return to_starlette(endpoint(await from_starlette(request)))

    health_endpoint = HealthEndpoint()

    @router.get(HEALTH_PATH, response_model=Health)
    async def health(request: Request) -> Response:
        """Liveness: the one route that needs no credentials. It names nothing about the deployment."""
        return to_starlette(health_endpoint(await from_starlette(request)))

    router.include_router(batch.router)
    return router


def create_app(
    settings: Settings,
    registry: Registry,
    accept_event: Callable[..., IngestResult],
    dynamodb: Any,
    authenticator: Authenticator | None = None,
) -> FastAPI:
    """Every route on one ASGI app (the reads app plus the ingest routes), for ASGI servers and tests."""
    from plutus.reads.app import create_reads_app

    app = create_reads_app(settings, dynamodb)
    app.include_router(ingest_router())
    single = IngestEndpoint(settings, registry, accept_event, authenticator or Unauthenticated())
    app.dependency_overrides[single_endpoint] = lambda: single
    return app
