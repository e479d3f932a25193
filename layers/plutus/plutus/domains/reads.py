"""What a pack's read endpoints depend on: the state table and the settings, from the app's wiring.

The composition root (:mod:`plutus.bootstrap`) puts them on the app; packs never reach down to adapters.
"""

from __future__ import annotations

from fastapi import Request

from plutus.core.effects import StateReader
from plutus.settings import Settings


def state_reader(request: Request) -> StateReader:
    """FastAPI dependency: the state table of this environment (tests override it)."""
    reader: StateReader = request.app.state.state_reader
    return reader


def app_settings(request: Request) -> Settings:
    """FastAPI dependency: the settings of this environment (tests override it)."""
    settings: Settings = request.app.state.settings
    return settings
