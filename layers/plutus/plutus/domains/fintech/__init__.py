"""Fintech pack: balances posted exactly once, anomaly scores per transaction, AML daily aggregates, KYC."""

from plutus.domains.fintech.api import api
from plutus.domains.fintech.handlers import router

__all__ = ["api", "router"]
