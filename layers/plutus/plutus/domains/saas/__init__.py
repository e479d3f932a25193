"""SaaS usage pack: customer health and churn-risk band, feature adoption, exactly-once billing meters."""

from plutus.domains.saas.api import api
from plutus.domains.saas.handlers import router

__all__ = ["api", "router"]
