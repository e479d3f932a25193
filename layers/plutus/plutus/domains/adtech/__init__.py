"""Adtech pack: exactly-once spend, budget pacing, last-click attribution and the bid decision read."""

from __future__ import annotations

from typing import TYPE_CHECKING

from plutus.domains.adtech.handlers import router

if TYPE_CHECKING:
    from fastapi import APIRouter


def api_router() -> APIRouter:
    """The read endpoints, imported (with FastAPI) on call: the hot paths only need ``router``."""
    from plutus.domains.adtech.api import api

    return api


__all__ = ["api_router", "router"]
