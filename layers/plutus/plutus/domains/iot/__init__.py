"""IoT / fleet pack: predictive maintenance, last position and distance, usage-based insurance scores."""

from plutus.domains.iot.handlers import router
from plutus.domains.kit import lazy_api

lazy_api(__name__)  # ``api``, the read endpoints, is imported (with FastAPI) on first use

__all__ = ["api", "router"]
