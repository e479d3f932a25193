"""Serve a pack's read endpoints in-process (no sockets) over a FakeState, as the ingest function would."""

from __future__ import annotations

import warnings

from fastapi import APIRouter, FastAPI

from plutus.domains.reads import state_reader
from plutus.ingest import problems
from plutus.settings import Settings, get_settings
from tests.fakes import FakeState

with warnings.catch_warnings():
    # Starlette nags about its httpx backend on import; the in-process client is what we want here.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


def read_client(api: APIRouter, state: FakeState, settings: Settings | None = None) -> TestClient:
    """A test client for ``api`` reading ``state`` (and ``settings``), with the real problem+json mapping."""
    app = FastAPI()
    problems.install(app, lambda _problem: None)
    app.include_router(api)
    app.dependency_overrides[state_reader] = lambda: state
    if settings is not None:
        app.dependency_overrides[get_settings] = lambda: settings
    return TestClient(app)
