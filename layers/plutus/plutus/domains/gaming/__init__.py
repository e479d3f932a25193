"""Gaming pack: exactly-once leaderboards with top-N and rank, anti-cheat flags, a bounded social feed."""

from plutus.domains.gaming.handlers import router
from plutus.domains.kit import lazy_api

lazy_api(__name__)  # ``api``, the read endpoints, is imported (with FastAPI) on first use

__all__ = ["api", "router"]
