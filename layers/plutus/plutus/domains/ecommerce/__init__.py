"""E-commerce pack: also-bought recommendations, the funnel per product, checkout-velocity fraud flags."""

from __future__ import annotations

from typing import TYPE_CHECKING

from plutus.domains.ecommerce.handlers import router

if TYPE_CHECKING:
    from fastapi import APIRouter


def api_router() -> APIRouter:
    """The read endpoints, imported (with FastAPI) on call: the hot paths only need ``router``."""
    from plutus.domains.ecommerce.api import api

    return api


__all__ = ["api_router", "router"]
