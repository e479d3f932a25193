"""A pack's read endpoints over an in-memory state table (ASGI in-process, no sockets)."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient

from plutus.domains.reads import app_settings, state_reader
from plutus.ingest import problems
from plutus.settings import Settings
from tests.fakes import FakeState


def read_client(api: APIRouter, state: FakeState, settings: Settings | None = None) -> TestClient:
    """A client for ``api`` whose state dependency is ``state`` (and, if given, whose settings are
    ``settings``), with the real problem+json mapping."""
    app = FastAPI()
    problems.install(app, lambda _: None)
    app.include_router(api)
    app.dependency_overrides[state_reader] = lambda: state
    if settings is not None:
        app.dependency_overrides[app_settings] = lambda: settings
    return TestClient(app)
