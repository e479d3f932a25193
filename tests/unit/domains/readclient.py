"""A pack's read endpoints over an in-memory state table (ASGI in-process, no sockets)."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient

from plutus.core.pack_settings import PackSettings
from plutus.domains import deps
from plutus.ingest import problems
from tests.fakes import FakeState


def read_client(api: APIRouter, state: FakeState, packs: PackSettings | None = None) -> TestClient:
    """A client for ``api`` reading ``state`` with the packs' settings ``packs`` (default: their defaults),
    wired as the composition root wires the app, with the real problem+json mapping."""
    app = FastAPI()
    problems.install(app, lambda _: None)
    app.include_router(api)
    deps.install(app, state, packs if packs is not None else PackSettings())
    return TestClient(app)
