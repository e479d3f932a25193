"""Adtech pack: exactly-once spend, budget pacing, last-click attribution and the bid decision read."""

from plutus.domains.adtech.api import api
from plutus.domains.adtech.handlers import router

__all__ = ["api", "router"]
