"""E-commerce pack: also-bought recommendations, the funnel per product, checkout-velocity fraud flags."""

from plutus.domains.ecommerce.api import api
from plutus.domains.ecommerce.handlers import router

__all__ = ["api", "router"]
