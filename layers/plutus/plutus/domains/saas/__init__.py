"""SaaS usage pack: customer health and churn-risk band, feature adoption, exactly-once billing meters."""

from __future__ import annotations

from typing import TYPE_CHECKING

from plutus.domains.saas.handlers import router

if TYPE_CHECKING:
    from fastapi import APIRouter


def api_router() -> APIRouter:
    """The read endpoints, imported (with FastAPI) on call: the hot paths only need ``router``."""
    from plutus.domains.saas.api import api

    return api


__all__ = ["api_router", "router"]
