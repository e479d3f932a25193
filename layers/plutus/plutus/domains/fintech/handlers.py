"""Fintech processors. Payloads are sensitive: nothing here logs, and state holds no card data.

Every money movement (a transaction, a card swipe, each leg of a transfer) goes through the same steps, all
committed in the event's one transaction:

- exactly-once posting: the consumer's marker on the event id stops a redelivered or replayed event, and a
  marker per transaction, swipe or transfer id (``POSTED#<id>`` on the account) binds the id to its first
  event (``kit.bind_business_id``): the same movement sent again under another key posts nothing, and the
  same id with another amount, currency, direction or counterparty account is a conflict: nothing posts and
  the event fails for an operator (a 0.01 credit cannot take the id of a real 5,000 credit unnoticed);
- a decision (debits need funds, and KYC above a limit), then the balance update, with a floor so a
  concurrent debit can never overdraw (the record then retries and is declined on a fresh read);
- an anomaly score against the account's own history: a streaming z-score (Welford mean and variance per
  currency and direction) combined with velocity (attempts in a sliding window);
- AML aggregates: daily totals per account and currency, flagged when a side crosses the reporting threshold,
  and when several amounts just under it (structuring) land on one day.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from plutus.core.effects import Effect, Put, Update
from plutus.core.registry import EventContext, Router
from plutus.domains.fintech.models import (
    CardSwipeV1,
    KycDocumentUploadedV1,
    TransactionInitiatedV1,
    TransferRequestedV1,
    document_category,
)
from plutus.domains.fintech.settings import FintechSettings
from plutus.domains.kit import as_float, as_int, bind_business_id, epoch, event_time, iso, num, version_of

router = Router("fintech", settings=FintechSettings)

BALANCE_PREFIX = "BALANCE#"
POSTED_PREFIX = "POSTED#"
TXN_PREFIX = "TXN#"
STATS_PREFIX = "STATS#"
DAY_PREFIX = "DAY#"
FLAG_PREFIX = "FLAG#"
KYC = "KYC"


def account_pk(account_id: str) -> str:
    """Partition of one account: balances, ledger, baselines, daily aggregates, flags, KYC."""
    return f"FIN#ACCOUNT#{account_id}"


@dataclass(frozen=True, slots=True)
class Movement:
    """One leg of money moving in or out of one account."""

    account_id: str
    entry_id: str
    kind: str
    direction: str
    amount: Decimal
    currency: str
    at: datetime
    counterparty: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether a movement posts, and why not."""

    posted: bool
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Score:
    """How unusual a movement is for its account: ``score >= 1`` is anomalous."""

    zscore: float
    velocity: int
    score: float
    baseline_n: int

    @property
    def anomalous(self) -> bool:
        """Whether either component reached its threshold."""
        return self.score >= 1


def kyc_status(item: dict[str, Any] | None, required: tuple[str, ...]) -> str:
    """``none``, ``incomplete`` or ``complete`` (every required category has a document)."""
    documents = (item or {}).get("documents", {})
    if not documents:
        return "none"
    covered = {document_category(t) for t in documents}
    return "complete" if set(required) <= covered else "incomplete"


def decide(m: Movement, ctx: EventContext) -> Decision:
    """Credits always post; a debit needs KYC above the unverified limit, and funds (plus overdraft)."""
    if m.direction == "credit":
        return Decision(True)
    settings = ctx.settings_of(FintechSettings)
    pk = account_pk(m.account_id)
    if m.amount > settings.unverified_debit_limit:
        if kyc_status(ctx.state.get(pk, KYC), settings.kyc_required) != "complete":
            return Decision(False, "kyc_required")
    balance = Decimal((ctx.state.get(pk, BALANCE_PREFIX + m.currency) or {}).get("balance", 0))
    if balance + settings.overdraft_limit < m.amount:
        return Decision(False, "insufficient_funds")
    return Decision(True)


def score_movement(m: Movement, ctx: EventContext) -> tuple[Score, Update]:
    """Score ``m`` against the account's history before it, and fold ``m`` into that history (Welford)."""
    settings = ctx.settings_of(FintechSettings)
    pk, sk = account_pk(m.account_id), f"{STATS_PREFIX}{m.currency}#{m.direction}"
    item = ctx.state.get(pk, sk) or {}
    n, mean, m2 = as_int(item.get("n")), as_float(item.get("mean")), as_float(item.get("m2"))
    x = float(m.amount)
    z = 0.0
    if n >= settings.anomaly_min_history:
        std = math.sqrt(m2 / (n - 1))
        # A perfectly regular history (rent, payroll) has std 0; the floor keeps a cent's difference from
        # scoring as infinitely unusual.
        z = max(0.0, (x - mean) / max(std, settings.anomaly_min_std_ratio * mean, 0.01))
    now = epoch(m.at)
    window = settings.velocity_window_seconds
    recent = sorted([as_float(t) for t in item.get("recent", [])] + [now])
    velocity = sum(1 for t in recent if now - window <= t <= now)
    combined = max(z / settings.anomaly_z_threshold, velocity / settings.velocity_limit)
    n1 = n + 1
    delta = x - mean
    mean1 = mean + delta / n1
    update = Update(
        pk,
        sk,
        set={
            "n": n1,
            "mean": num(mean1),
            "m2": num(m2 + delta * (x - mean1)),
            "recent": [num(t, 3) for t in recent[-settings.velocity_limit :]],
        },
        expect_version=version_of(item or None),
    )
    return Score(round(z, 3), velocity, round(combined, 3), n), update


def aggregate_day(m: Movement, ctx: EventContext) -> Iterator[Effect]:
    """Fold a posted movement into the account's daily totals; flag threshold crossings and structuring."""
    settings = ctx.settings_of(FintechSettings)
    day = m.at.date().isoformat()
    pk, sk = account_pk(m.account_id), f"{DAY_PREFIX}{day}#{m.currency}"
    item = ctx.state.get(pk, sk) or {}
    side = m.direction
    threshold: Decimal = settings.aml_reporting_threshold
    total = Decimal(item.get(f"{side}_total", 0)) + m.amount
    near = settings.aml_structuring_ratio * threshold <= m.amount < threshold
    near_count = as_int(item.get("near_threshold_count")) + int(near)
    flagged = [str(k) for k in item.get("flagged", [])]
    new_flags = []
    if total >= threshold and f"threshold_{side}" not in flagged:
        new_flags.append(f"threshold_{side}")
    if near_count >= settings.aml_structuring_count and "structuring" not in flagged:
        new_flags.append("structuring")
    for kind in new_flags:
        yield _flag(m, ctx, kind, {"day": day, "total": total, "threshold": threshold, "near": near_count})
    yield Update(
        pk,
        sk,
        set={
            "day": day,
            "currency": m.currency,
            f"{side}_total": total,
            f"{side}_count": as_int(item.get(f"{side}_count")) + 1,
            "near_threshold_count": near_count,
            "flagged": flagged + new_flags,
        },
        expect_version=version_of(item or None),
    )


def _flag(m: Movement, ctx: EventContext, kind: str, details: dict[str, Any]) -> Put:
    return Put(
        account_pk(m.account_id),
        f"{FLAG_PREFIX}{iso(m.at)}#{kind}#{m.entry_id}",
        {
            "kind": kind,
            "account_id": m.account_id,
            "entry_id": m.entry_id,
            "amount": m.amount,
            "currency": m.currency,
            "at": iso(m.at),
            "event_id": ctx.event_id,
            "details": details,
        },
    )


def ledger_sk(m: Movement) -> str:
    """Where a movement's ledger entry lives on its account."""
    return f"{TXN_PREFIX}{iso(m.at)}#{m.entry_id}"


def bind_movement(m: Movement, kind: str, content: dict[str, Any], ctx: EventContext) -> Update | None:
    """The marker binding ``m``'s id to this event; ``None`` for a duplicate; raises on a conflict."""
    return bind_business_id(
        ctx,
        account_pk(m.account_id),
        POSTED_PREFIX + m.entry_id,
        kind=kind,
        content=content,
        at=m.at,
        ledger_sk=ledger_sk(m),
    )


def apply_movement(m: Movement, decision: Decision, marker: Update, ctx: EventContext) -> Iterator[Effect]:
    """Every effect of one movement: its marker, ledger entry, baseline, balance, aggregates, flags."""
    pk = account_pk(m.account_id)
    entry_sk = ledger_sk(m)
    score, baseline = score_movement(m, ctx)
    yield baseline
    # A versioned create: a concurrent copy of the same id under another event cancels this transaction, and
    # the consumer's re-run of the handler finds the marker (a duplicate, or a conflict).
    yield marker
    yield Put(
        pk,
        entry_sk,
        {
            "entry_id": m.entry_id,
            "kind": m.kind,
            "direction": m.direction,
            "amount": m.amount,
            "currency": m.currency,
            "counterparty": m.counterparty,
            "at": iso(m.at),
            "status": "posted" if decision.posted else "declined",
            "decline_reason": decision.reason,
            "anomaly_score": num(score.score, 3),
            "zscore": num(score.zscore, 3),
            "velocity": score.velocity,
            "baseline_n": score.baseline_n,
            "anomalous": score.anomalous,
            "event_id": ctx.event_id,
        },
    )
    if score.anomalous:
        yield _flag(m, ctx, "anomaly", {"zscore": num(score.zscore, 3), "velocity": score.velocity})
    if decision.posted:
        sign = 1 if m.direction == "credit" else -1
        yield Update(
            pk,
            BALANCE_PREFIX + m.currency,
            add={"balance": sign * m.amount},
            set_if_absent={"currency": m.currency},
            floor=None if sign > 0 else ("balance", -ctx.settings_of(FintechSettings).overdraft_limit),
        )
        yield from aggregate_day(m, ctx)


@router.on(TransactionInitiatedV1)
def handle_post_transaction(event: TransactionInitiatedV1, ctx: EventContext) -> Iterator[Effect]:
    """A credit or debit of one account."""
    m = Movement(
        event.account_id,
        event.transaction_id,
        "transaction",
        event.direction,
        event.amount,
        event.currency,
        event_time(event.occurred_at, ctx),
        event.counterparty,
    )
    content = {
        "account_id": m.account_id,
        "direction": m.direction,
        "amount": m.amount,
        "currency": m.currency,
    }
    marker = bind_movement(m, "transaction_id", content, ctx)
    if marker is not None:
        yield from apply_movement(m, decide(m, ctx), marker, ctx)


@router.on(CardSwipeV1)
def handle_post_card_swipe(event: CardSwipeV1, ctx: EventContext) -> Iterator[Effect]:
    """A card payment: a debit of the card's account, declined rather than overdrawn."""
    m = Movement(
        event.account_id,
        event.swipe_id,
        "card_swipe",
        "debit",
        event.amount,
        event.currency,
        event_time(event.occurred_at, ctx),
        event.merchant_name,
    )
    content = {"account_id": m.account_id, "amount": m.amount, "currency": m.currency}
    marker = bind_movement(m, "swipe_id", content, ctx)
    if marker is not None:
        yield from apply_movement(m, decide(m, ctx), marker, ctx)


@router.on(TransferRequestedV1)
def handle_post_transfer(event: TransferRequestedV1, ctx: EventContext) -> Iterator[Effect]:
    """Both legs of a transfer in one transaction; a declined transfer touches only the payer's ledger."""
    at = event_time(event.occurred_at, ctx)
    out = Movement(
        event.from_account_id,
        f"{event.transfer_id}:out",
        "transfer_out",
        "debit",
        event.amount,
        event.currency,
        at,
        event.to_account_id,
    )
    into = Movement(
        event.to_account_id,
        f"{event.transfer_id}:in",
        "transfer_in",
        "credit",
        event.amount,
        event.currency,
        at,
        event.from_account_id,
    )
    content = {
        "from_account_id": event.from_account_id,
        "to_account_id": event.to_account_id,
        "amount": event.amount,
        "currency": event.currency,
    }
    # The transfer id is bound on the payer's leg; the payee's leg marker only records where its entry is.
    marker = bind_movement(out, "transfer_id", content, ctx)
    if marker is None:
        return
    decision = decide(out, ctx)
    yield from apply_movement(out, decision, marker, ctx)
    if decision.posted:
        into_marker = Update(
            account_pk(into.account_id),
            POSTED_PREFIX + into.entry_id,
            set={"first_event_id": ctx.event_id, "first_at": iso(at), "ledger_sk": ledger_sk(into)},
            expect_version=0,
        )
        yield from apply_movement(into, decision, into_marker, ctx)


@router.on(KycDocumentUploadedV1)
def handle_record_kyc_document(event: KycDocumentUploadedV1, ctx: EventContext) -> Iterator[Effect]:
    """Keep the newest document per type (metadata only) and the account's KYC status."""
    pk = account_pk(event.account_id)
    item = ctx.state.get(pk, KYC)
    uploaded = iso(event_time(event.occurred_at, ctx))
    documents: dict[str, Any] = dict((item or {}).get("documents", {}))
    current = documents.get(event.document_type)
    if current is None or str(current["uploaded_at"]) <= uploaded:
        documents[event.document_type] = {
            "document_id": event.document_id,
            "issuing_country": event.issuing_country,
            "uploaded_at": uploaded,
        }
    status = kyc_status({"documents": documents}, ctx.settings_of(FintechSettings).kyc_required)
    changes: dict[str, Any] = {"documents": documents, "status": status}
    if status == "complete" and (item or {}).get("status") != "complete":
        changes["completed_at"] = uploaded
    yield Update(pk, KYC, set=changes, expect_version=version_of(item))
