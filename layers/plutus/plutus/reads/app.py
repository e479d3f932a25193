"""The read API (FastAPI): event status, every pack's read endpoints, docs and OpenAPI.

Served by the reads function, which holds read-only access to the events and state tables. The OpenAPI
document also describes the ingest routes (served by the ingest function), so one page documents the API.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from plutus import __version__
from plutus.adapters.events_store import EventsRepository, public_view
from plutus.core.effects import StateReader
from plutus.core.errors import EventNotFoundError
from plutus.core.pack_settings import PackSettings
from plutus.ingest import problems
from plutus.ingest.docs import install_docs
from plutus.ingest.http import count_problem
from plutus.settings import Settings

_PROBLEM: dict[str, Any] = {"content": {problems.PROBLEM_JSON: {}}}


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


def events_router(events: EventsRepository) -> APIRouter:
    """``GET /api/v1/events/{event_id}``."""
    router = APIRouter()

    @router.get("/api/v1/events/{event_id}", response_model=EventView, responses={404: _PROBLEM})
    def get_event(event_id: str) -> dict[str, Any]:
        """An event's status: RECEIVED, PROCESSING (an attempt failed; SQS retries), PROCESSED or FAILED."""
        # The detail never repeats the id: whatever the caller sent is not reflected back.
        try:
            uuid.UUID(event_id)
        except ValueError:
            if not event_id.startswith("message:") or len(event_id) > 200:
                raise EventNotFoundError("no event has this id") from None
        item = events.get(event_id)
        # An item without a status is a key claimed by an ingest that has not answered (or never will): not
        # an accepted event yet.
        if item is None or "status" not in item:
            raise EventNotFoundError("no event has this id")
        return public_view(item)

    return router


class NoStore:
    """``Cache-Control: no-store`` on every response: reads are per-caller and change as events land, so no
    browser, proxy or CDN may keep one."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_no_store(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"cache-control"]
                message = {**message, "headers": [*headers, (b"cache-control", b"no-store")]}
            await send(message)

        await self.app(scope, receive, send_no_store)


def create_reads_app(
    settings: Settings,
    events: EventsRepository,
    state: StateReader,
    packs: PackSettings | None = None,
    documented: Sequence[BaseRoute] = (),
) -> FastAPI:
    """The read API, wired to its dependencies (by :mod:`plutus.bootstrap`, or by a test).

    ``packs``: the packs' settings for their read endpoints (default: each model's defaults and environment).
    ``documented`` routes appear in the OpenAPI document without being served here.
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
        "(source, idempotency_key) and queued; processing happens asynchronously. Every route but "
        "`GET /health` needs credentials where deployed (see the README's Authentication).",
    )
    problems.install(app, count_problem)
    install_docs(app)
    app.add_middleware(NoStore)
    app.state.settings = settings
    # A 404 names the route the caller probably meant, served here or not (plutus.ingest.problems).
    app.state.documented_routes = [route for route in documented if hasattr(route, "path_regex")]
    app.include_router(events_router(events))

    from plutus.domains import deps, read_routers

    # What the packs' read endpoints depend on (plutus.domains.deps); tests install fakes the same way.
    deps.install(app, state, packs if packs is not None else PackSettings())
    for router in read_routers():
        app.include_router(router)
    if documented:

        def openapi() -> dict[str, Any]:
            if app.openapi_schema is None:
                app.openapi_schema = get_openapi(
                    title=app.title,
                    version=app.version,
                    description=app.description,
                    routes=[*app.routes, *documented],
                )
            return app.openapi_schema

        app.openapi = openapi  # type: ignore[method-assign]
    return app
