"""Healthcare pack: vital-sign alerts, medication compliance and a text-free audit trail per patient."""

from plutus.domains.healthcare.api import api
from plutus.domains.healthcare.handlers import router

__all__ = ["api", "router"]
