"""The ingest routes on FastAPI: for OpenAPI (the reads function documents them) and ASGI servers.

On Lambda the ingest function serves these routes without FastAPI (``plutus.ingest.entry``); the routes here
mount the same framework-free endpoints, so both answer alike.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import Response
from pydantic import BaseModel

from plutus.adapters.events_store import EventsRepository
from plutus.core.effects import StateReader
from plutus.core.envelope import IngestRequest
from plutus.core.pack_settings import PackSettings
from plutus.core.registry import Registry
from plutus.ingest import batch_route, problems, webhook_route
from plutus.ingest.endpoints import (
    HEALTH_PATH,
    INGEST_PATH,
    BatchIngestEndpoint,
    HealthEndpoint,
    IngestEndpoint,
)
from plutus.ingest.http import from_starlette, to_starlette
from plutus.ingest.parsing import parse_ingest_body as parse_ingest_body  # callers import it from here too
from plutus.ingest.replies import EventAccepted
from plutus.ingest.webhooks import ProviderWebhookEndpoint
from plutus.settings import Settings


class Health(BaseModel):
    """Liveness: nothing more than that the function answers."""

    status: str


_PROBLEM: dict[str, Any] = {"content": {problems.PROBLEM_JSON: {}}}


def single_endpoint(request: Request) -> IngestEndpoint:
    """FastAPI dependency: the single-event endpoint the app was wired with."""
    endpoint: IngestEndpoint = request.app.state.single_endpoint
    return endpoint


def ingest_router() -> APIRouter:
    """``POST /api/v1/ingest``, ``POST /api/v1/ingest/batch``, ``POST /api/v1/webhooks/{source}`` and
    ``GET /health``."""
    router = APIRouter()

    @router.post(
        INGEST_PATH,
        status_code=202,
        response_model=EventAccepted,
        responses={
            200: {"model": EventAccepted, "description": "Replay of an already accepted event"},
            400: _PROBLEM,
            401: _PROBLEM,
            403: _PROBLEM,
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

    router.include_router(batch_route.router)
    router.include_router(webhook_route.router)
    return router


def create_app(
    settings: Settings,
    registry: Registry,
    single: IngestEndpoint,
    batch_ingest: BatchIngestEndpoint,
    events: EventsRepository,
    state: StateReader,
    packs: PackSettings | None = None,
    webhooks: ProviderWebhookEndpoint | None = None,
) -> FastAPI:
    """Every route on one ASGI app (the read API plus the ingest routes), for ASGI servers and tests.

    ``packs``: the packs' settings for their read endpoints (default: each model's defaults and environment).
    """
    from plutus.reads.app import create_reads_app

    app = create_reads_app(settings, events, state, packs)
    app.include_router(ingest_router())
    # What the ingest routes' dependencies read (plutus.ingest.batch_route, single_endpoint).
    app.state.registry = registry
    app.state.single_endpoint = single
    app.state.batch_endpoint = batch_ingest
    app.state.webhook_endpoint = webhooks
    return app
