"""Gaming pack: exactly-once leaderboards with top-N and rank, anti-cheat flags, a bounded social feed."""

from plutus.domains.gaming.api import api
from plutus.domains.gaming.handlers import router

__all__ = ["api", "router"]
