"""The ingest HTTP API (FastAPI): event status, domain reads, health and docs, plus the two ingest routes.

On Lambda the ingest routes are served without this app (``plutus.ingest.entry``); the app mounts the same
framework-free endpoints, so OpenAPI documents them and ASGI servers serve them alike.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from pydantic import BaseModel

from plutus import __version__
from plutus.adapters.events_store import EventsRepository, public_view
from plutus.core.effects import StateReader
from plutus.core.envelope import IngestRequest
from plutus.core.errors import EventNotFoundError
from plutus.core.pack_settings import PackSettings
from plutus.core.registry import Registry
from plutus.ingest import batch_route, problems
from plutus.ingest.docs import install_docs
from plutus.ingest.endpoints import INGEST_PATH, BatchIngestEndpoint, IngestEndpoint
from plutus.ingest.http import count_problem, from_starlette, to_starlette
from plutus.ingest.parsing import parse_ingest_body as parse_ingest_body  # callers import it from here too
from plutus.ingest.replies import EventAccepted
from plutus.settings import Settings


class EventView(BaseModel):
    """An event's status."""

    event_id: str
    source: str | None
    event_type: str | None
    schema_version: str | None
    status: str | None
    attempts: int
    last_error: str | None
    received_at: str | None
    processed_at: str | None


_PROBLEM: dict[str, Any] = {"content": {problems.PROBLEM_JSON: {}}}


def create_app(
    settings: Settings,
    registry: Registry,
    single: IngestEndpoint,
    batch_ingest: BatchIngestEndpoint,
    events: EventsRepository,
    state: StateReader,
    packs: PackSettings | None = None,
) -> FastAPI:
    """The FastAPI application, wired to its dependencies (by :mod:`plutus.bootstrap`, or by a test).

    ``packs``: the packs' settings for their read endpoints (default: each model's defaults and environment).
    """
    app = FastAPI(
        title="Plutus",
        version=__version__,
        # No 307 to the slash-less path: behind API Gateway it pointed at an https URL the client may not
        # follow (curl -L failed locally). A trailing slash is a 404 problem naming the route instead.
        redirect_slashes=False,
        # Served by install_docs with assets from a package: FastAPI's own pages load them from a CDN.
        docs_url=None,
        redoc_url=None,
        description="Idempotent, asynchronous event ingestion. Events are validated, deduplicated on "
        "(source, idempotency_key) and queued; processing happens asynchronously.",
    )
    problems.install(app, count_problem)
    install_docs(app)
    # What route dependencies read (plutus.ingest.batch_route; the packs' reads: plutus.domains.deps).
    app.state.settings = settings
    app.state.registry = registry
    app.state.batch_endpoint = batch_ingest
    ingest_schema = IngestRequest.model_json_schema()

    @app.post(
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
            "requestBody": {"required": True, "content": {"application/json": {"schema": ingest_schema}}}
        },
    )
    async def ingest(request: Request) -> Response:
        """Accept one event: 202 when new, 200 (``Idempotent-Replayed: true``) for a duplicate."""
        return to_starlette(single(await from_starlette(request)))

    @app.get("/api/v1/events/{event_id}", response_model=EventView, responses={404: _PROBLEM})
    def get_event(event_id: str) -> dict[str, Any]:
        """An event's status: RECEIVED, PROCESSING (an attempt failed; SQS retries), PROCESSED or FAILED."""
        try:
            uuid.UUID(event_id)
        except ValueError:
            if not event_id.startswith("message:") or len(event_id) > 200:
                raise EventNotFoundError(f"no event {event_id[:64]!r}") from None
        item = events.get(event_id)
        if item is None:
            raise EventNotFoundError(f"no event {event_id!r}")
        return public_view(item)

    app.include_router(batch_route.router)

    from plutus.domains import deps, read_routers

    deps.install(app, state, packs if packs is not None else PackSettings())
    for router in read_routers():
        app.include_router(router)

    @app.get("/health")
    def health() -> dict[str, str]:
        """Liveness: the function is up and configured."""
        return {"status": "ok", "environment": settings.environment}

    return app
