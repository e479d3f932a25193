"""Adtech pack: exactly-once spend, budget pacing, last-click attribution and the bid decision read."""

from plutus.domains.adtech.handlers import router
from plutus.domains.kit import lazy_api

lazy_api(__name__)  # ``api``, the read endpoints, is imported (with FastAPI) on first use

__all__ = ["api", "router"]
