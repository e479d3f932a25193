"""IoT / fleet pack: predictive maintenance, last position and distance, usage-based insurance scores."""

from plutus.domains.iot.api import api
from plutus.domains.iot.handlers import router

__all__ = ["api", "router"]
