"""A pack's read endpoints over an in-memory state table (ASGI in-process, no sockets)."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient

from plutus.domains.reads import state_reader
from plutus.ingest import problems
from tests.fakes import FakeState


def read_client(api: APIRouter, state: FakeState) -> TestClient:
    """A client for ``api`` whose state dependency is ``state``, with the real problem+json mapping."""
    app = FastAPI()
    problems.install(app, lambda _: None)
    app.include_router(api)
    app.dependency_overrides[state_reader] = lambda: state
    return TestClient(app)
