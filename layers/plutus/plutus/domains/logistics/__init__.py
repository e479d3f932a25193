"""Logistics pack: lane-history ETAs, reroute on breaches and failed deliveries, SLA monitoring."""

from __future__ import annotations

from typing import TYPE_CHECKING

from plutus.domains.logistics.handlers import router

if TYPE_CHECKING:
    from fastapi import APIRouter


def api_router() -> APIRouter:
    """The read endpoints, imported (with FastAPI) on call: the hot paths only need ``router``."""
    from plutus.domains.logistics.api import api

    return api


__all__ = ["api_router", "router"]
