"""Fintech pack: balances posted exactly once, anomaly scores per transaction, AML daily aggregates, KYC."""

from __future__ import annotations

from typing import TYPE_CHECKING

from plutus.domains.fintech.handlers import router

if TYPE_CHECKING:
    from fastapi import APIRouter


def api_router() -> APIRouter:
    """The read endpoints, imported (with FastAPI) on call: the hot paths only need ``router``."""
    from plutus.domains.fintech.api import api

    return api


__all__ = ["api_router", "router"]
