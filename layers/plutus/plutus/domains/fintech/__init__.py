"""Fintech pack: balances posted exactly once, anomaly scores per transaction, AML daily aggregates, KYC,
and Stripe's own payment and refund events posted to the same balances (``stripe_events``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from plutus.domains.fintech import stripe_events as stripe_events  # Stripe's own events, on the same router
from plutus.domains.fintech.handlers import router

if TYPE_CHECKING:
    from fastapi import APIRouter


def api_router() -> APIRouter:
    """The read endpoints, imported (with FastAPI) on call: the hot paths only need ``router``."""
    from plutus.domains.fintech.api import api

    return api


__all__ = ["api_router", "router"]
