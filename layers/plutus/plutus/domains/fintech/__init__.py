"""Fintech pack: balances posted exactly once, anomaly scores per transaction, AML daily aggregates, KYC."""

from plutus.domains.fintech.handlers import router
from plutus.domains.kit import lazy_api

lazy_api(__name__)  # ``api``, the read endpoints, is imported (with FastAPI) on first use

__all__ = ["api", "router"]
