"""Logistics pack: lane-history ETAs, reroute on breaches and failed deliveries, SLA monitoring."""

from plutus.domains.kit import lazy_api
from plutus.domains.logistics.handlers import router

lazy_api(__name__)  # ``api``, the read endpoints, is imported (with FastAPI) on first use

__all__ = ["api", "router"]
