"""Healthcare pack: vital-sign alerts, medication compliance and a text-free audit trail per patient."""

from plutus.domains.healthcare.handlers import router
from plutus.domains.kit import lazy_api

lazy_api(__name__)  # ``api``, the read endpoints, is imported (with FastAPI) on first use

__all__ = ["api", "router"]
