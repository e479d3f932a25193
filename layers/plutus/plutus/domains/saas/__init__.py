"""SaaS usage pack: customer health and churn-risk band, feature adoption, exactly-once billing meters."""

from plutus.domains.kit import lazy_api
from plutus.domains.saas.handlers import router

lazy_api(__name__)  # ``api``, the read endpoints, is imported (with FastAPI) on first use

__all__ = ["api", "router"]
