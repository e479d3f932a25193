"""Logistics pack: lane-history ETAs, reroute on breaches and failed deliveries, SLA monitoring."""

from plutus.domains.logistics.api import api
from plutus.domains.logistics.handlers import router

__all__ = ["api", "router"]
