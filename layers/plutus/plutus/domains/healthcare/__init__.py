"""Healthcare pack: vital-sign alerts, medication compliance and a text-free audit trail per patient."""

from __future__ import annotations

from typing import TYPE_CHECKING

from plutus.domains.healthcare.handlers import router

if TYPE_CHECKING:
    from fastapi import APIRouter


def api_router() -> APIRouter:
    """The read endpoints, imported (with FastAPI) on call: the hot paths only need ``router``."""
    from plutus.domains.healthcare.api import api

    return api


__all__ = ["api_router", "router"]
