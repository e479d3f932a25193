"""E-commerce pack: also-bought recommendations, the funnel per product, checkout-velocity fraud flags."""

from plutus.domains.ecommerce.handlers import router
from plutus.domains.kit import lazy_api

lazy_api(__name__)  # ``api``, the read endpoints, is imported (with FastAPI) on first use

__all__ = ["api", "router"]
