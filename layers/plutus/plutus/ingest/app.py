"""The ingest HTTP API (FastAPI): event status, domain reads, health and docs, plus the two ingest routes.

On Lambda the ingest routes are served without this app (``plutus.ingest.entry``); the app mounts the same
framework-free endpoints, so OpenAPI documents them and ASGI servers serve them alike.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from pydantic import BaseModel

from plutus.adapters import events_store
from plutus.core.envelope import IngestRequest, IngestResult
from plutus.core.errors import EventNotFoundError
from plutus.core.registry import Registry
from plutus.ingest import batch_route as batch
from plutus.ingest import problems
from plutus.ingest.auth import Authenticator, Unauthenticated
from plutus.ingest.endpoints import INGEST_PATH, IngestEndpoint
from plutus.ingest.http import count_problem, from_starlette, to_starlette
from plutus.ingest.parsing import parse_ingest_body as parse_ingest_body  # callers import it from here too
from plutus.settings import Settings


class EventAccepted(BaseModel):
    """Answer to an accepted (202) or replayed (200) event."""

    event_id: str


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
    accept_event: Callable[..., IngestResult],
    dynamodb: Any,
    authenticator: Authenticator | None = None,
) -> FastAPI:
    """The FastAPI application, wired to its dependencies."""
    app = FastAPI(
        title="Plutus",
        version="1.0.0",
        description="Idempotent, asynchronous event ingestion. Events are validated, deduplicated on "
        "(source, idempotency_key) and queued; processing happens asynchronously.",
    )
    problems.install(app, count_problem)
    single = IngestEndpoint(settings, registry, accept_event, authenticator or Unauthenticated())
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
        item = events_store.get_event(dynamodb, settings.events_table, event_id)
        if item is None:
            raise EventNotFoundError(f"no event {event_id!r}")
        return events_store.public_view(item)

    app.include_router(batch.router)

    from plutus.domains import read_routers

    for router in read_routers():
        app.include_router(router)

    @app.get("/health")
    def health() -> dict[str, str]:
        """Liveness: the function is up and configured."""
        return {"status": "ok", "environment": settings.environment}

    return app


@lru_cache(maxsize=1)
def get_app() -> FastAPI:
    """The FastAPI app of this execution environment, on the ingest function's wiring."""
    from plutus.ingest.entry import get_ingest

    ingest = get_ingest()
    single = ingest.single
    return create_app(
        ingest.settings, ingest.registry, single.accept_event, ingest.dynamodb, single.authenticator
    )
