"""Gaming pack: exactly-once leaderboards with top-N and rank, anti-cheat flags, a bounded social feed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from plutus.domains.gaming.handlers import router

if TYPE_CHECKING:
    from fastapi import APIRouter


def api_router() -> APIRouter:
    """The read endpoints, imported (with FastAPI) on call: the hot paths only need ``router``."""
    from plutus.domains.gaming.api import api

    return api


__all__ = ["api_router", "router"]
