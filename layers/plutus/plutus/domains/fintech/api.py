"""Fintech read endpoints under /api/v1/fintech."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel

from plutus.core.errors import ResourceNotFoundError
from plutus.domains.deps import State
from plutus.domains.fintech.handlers import (
    BALANCE_PREFIX,
    DAY_PREFIX,
    FLAG_PREFIX,
    KYC,
    STATS_PREFIX,
    TXN_PREFIX,
    account_pk,
)
from plutus.domains.kit import PATH_ID, as_float, as_int

api = APIRouter(prefix="/api/v1/fintech", tags=["fintech"])

AccountId = Annotated[str, Path(pattern=PATH_ID)]
Limit = Annotated[int, Query(ge=1, le=100)]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No state for this account"}}


class Baseline(BaseModel):
    """The account's history that new amounts are scored against."""

    currency: str
    direction: str
    transactions: int
    mean: float
    std: float


class DailyTotal(BaseModel):
    """One day's AML aggregate in one currency."""

    day: str
    currency: str
    credit_total: Decimal
    debit_total: Decimal
    credit_count: int
    debit_count: int
    near_threshold_count: int
    flagged: list[str]


class AccountView(BaseModel):
    """Balances, KYC, scoring baselines and the most recent daily totals of one account."""

    account_id: str
    balances: dict[str, Decimal]
    kyc_status: str
    kyc_documents: list[str]
    baselines: list[Baseline]
    daily_totals: list[DailyTotal]


class LedgerEntry(BaseModel):
    """One movement on the account, posted or declined, with its anomaly score."""

    entry_id: str
    kind: str
    direction: str
    amount: Decimal
    currency: str
    counterparty: str | None
    at: str
    status: str
    decline_reason: str | None
    anomaly_score: float
    zscore: float
    velocity: int
    baseline_n: int
    anomalous: bool


class Flag(BaseModel):
    """An anomaly or AML flag."""

    kind: str
    account_id: str
    entry_id: str
    amount: Decimal
    currency: str
    at: str
    details: dict[str, Any]


def _baseline(item: dict[str, Any]) -> Baseline:
    _, currency, direction = str(item["sk"]).split("#")
    n = as_int(item.get("n"))
    std = math.sqrt(as_float(item.get("m2")) / (n - 1)) if n > 1 else 0.0
    return Baseline(
        currency=currency, direction=direction, transactions=n, mean=as_float(item.get("mean")), std=std
    )


def _daily(item: dict[str, Any]) -> DailyTotal:
    return DailyTotal(
        day=item["day"],
        currency=item["currency"],
        credit_total=item.get("credit_total", Decimal(0)),
        debit_total=item.get("debit_total", Decimal(0)),
        credit_count=as_int(item.get("credit_count")),
        debit_count=as_int(item.get("debit_count")),
        near_threshold_count=as_int(item.get("near_threshold_count")),
        flagged=list(item.get("flagged", [])),
    )


@api.get("/accounts/{account_id}", response_model=AccountView, responses=_NOT_FOUND)
def get_account(account_id: AccountId, state: State) -> AccountView:
    """Balances per currency, KYC status, anomaly baselines and the last 7 days' AML totals."""
    pk = account_pk(account_id)
    balances = state.query(pk, BALANCE_PREFIX)
    kyc = state.get(pk, KYC)
    baselines = state.query(pk, STATS_PREFIX)
    days = state.query(pk, DAY_PREFIX, limit=7, newest_first=True)
    if not (balances or kyc or baselines):
        raise ResourceNotFoundError("no state for this account")
    return AccountView(
        account_id=account_id,
        balances={b["currency"]: b["balance"] for b in balances},
        kyc_status=str((kyc or {}).get("status", "none")),
        kyc_documents=sorted((kyc or {}).get("documents", {})),
        baselines=[_baseline(i) for i in baselines],
        daily_totals=[_daily(i) for i in days],
    )


@api.get("/accounts/{account_id}/transactions", response_model=list[LedgerEntry], responses=_NOT_FOUND)
def get_transactions(account_id: AccountId, state: State, limit: Limit = 20) -> list[dict[str, Any]]:
    """The ledger, newest first: every posted and declined movement with its anomaly score."""
    entries = state.query(account_pk(account_id), TXN_PREFIX, limit=limit, newest_first=True)
    if not entries:
        raise ResourceNotFoundError("no transactions for this account")
    return entries


@api.get("/accounts/{account_id}/flags", response_model=list[Flag])
def get_flags(account_id: AccountId, state: State, limit: Limit = 20) -> list[dict[str, Any]]:
    """Anomaly and AML flags, newest first (empty when none)."""
    return state.query(account_pk(account_id), FLAG_PREFIX, limit=limit, newest_first=True)
