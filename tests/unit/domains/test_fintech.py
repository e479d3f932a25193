"""Fintech pack: balances, declines, anomaly scores, AML aggregates and KYC from event sequences."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from plutus.core.effects import Update
from plutus.core.errors import EffectRejectedError
from plutus.core.registry import EventContext
from plutus.domains import fintech
from plutus.domains.fintech.handlers import account_pk, handle_post_card_swipe
from plutus.domains.fintech.models import CardSwipeV1, TransferRequestedV1
from tests.fakes import DomainRunner, packs
from tests.unit.domains.readclient import read_client

T0 = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def runner(**overrides: Any) -> DomainRunner:
    return DomainRunner(routers=[fintech.router], packs=packs(**overrides))


def credit(r: DomainRunner, account: str, txn: str, amount: float, when: str, **extra: Any) -> str:
    payload = {
        "transaction_id": txn,
        "account_id": account,
        "direction": "credit",
        "amount": amount,
        "currency": "KES",
        "channel": "mobile_money",
        "occurred_at": when,
    }
    return r.send("transaction_initiated", payload | extra)


def swipe(r: DomainRunner, account: str, swipe_id: str, amount: float, when: str) -> str:
    return r.send(
        "card_swipe",
        {
            "swipe_id": swipe_id,
            "account_id": account,
            "card_token": "tok_1",
            "card_last4": "4242",
            "amount": amount,
            "currency": "KES",
            "merchant_name": "Java House",
            "merchant_category_code": "5814",
            "country": "KE",
            "entry_mode": "contactless",
            "occurred_at": when,
        },
    )


def transfer(r: DomainRunner, transfer_id: str, src: str, dst: str, amount: float, when: str) -> str:
    return r.send(
        "transfer_requested",
        {
            "transfer_id": transfer_id,
            "from_account_id": src,
            "to_account_id": dst,
            "amount": amount,
            "currency": "KES",
            "reference": "rent",
            "occurred_at": when,
        },
    )


def balance(r: DomainRunner, account: str, currency: str = "KES") -> Decimal:
    item = r.state.get(account_pk(account), f"BALANCE#{currency}")
    return Decimal(item["balance"]) if item else Decimal(0)


def test_credits_swipes_and_transfers_update_balances_and_the_ledger() -> None:
    r = runner()
    credit(r, "acc_a", "t1", 2500.00, at(0))
    swipe(r, "acc_a", "s1", 36.40, at(60))
    transfer(r, "trf_1", "acc_a", "acc_b", 750.00, at(120))

    assert balance(r, "acc_a") == Decimal("1713.60")
    assert balance(r, "acc_b") == Decimal("750.00")
    client = read_client(fintech.api_router(), r.state)
    account = client.get("/api/v1/fintech/accounts/acc_a").json()
    assert {k: Decimal(v) for k, v in account["balances"].items()} == {"KES": Decimal("1713.60")}
    ledger = client.get("/api/v1/fintech/accounts/acc_a/transactions").json()
    assert [
        (e["entry_id"], e["kind"], e["direction"], Decimal(e["amount"]), e["status"]) for e in ledger
    ] == [
        ("trf_1:out", "transfer_out", "debit", 750, "posted"),
        ("s1", "card_swipe", "debit", Decimal("36.40"), "posted"),
        ("t1", "transaction", "credit", 2500, "posted"),
    ]
    payee = client.get("/api/v1/fintech/accounts/acc_b/transactions").json()
    assert [(e["entry_id"], e["counterparty"]) for e in payee] == [("trf_1:in", "acc_a")]


def test_a_debit_without_funds_is_declined_and_changes_nothing_but_the_ledger() -> None:
    r = runner()
    credit(r, "acc_a", "t1", 100.00, at(0))
    swipe(r, "acc_a", "s1", 150.00, at(1))
    transfer(r, "trf_1", "acc_a", "acc_b", 500.00, at(2))

    assert balance(r, "acc_a") == Decimal("100.00")
    client = read_client(fintech.api_router(), r.state)
    ledger = client.get("/api/v1/fintech/accounts/acc_a/transactions").json()
    assert [(e["entry_id"], e["status"], e["decline_reason"]) for e in ledger] == [
        ("trf_1:out", "declined", "insufficient_funds"),
        ("s1", "declined", "insufficient_funds"),
        ("t1", "posted", None),
    ]
    # A declined transfer never reaches the payee, and declines are not AML turnover
    assert client.get("/api/v1/fintech/accounts/acc_b").status_code == 404
    days = client.get("/api/v1/fintech/accounts/acc_a").json()["daily_totals"]
    assert [(Decimal(d["credit_total"]), Decimal(d["debit_total"]), d["debit_count"]) for d in days] == [
        (100, 0, 0)
    ]


def test_an_overdraft_limit_lets_the_balance_go_that_far_below_zero() -> None:
    r = runner(fintech_overdraft_limit=Decimal(100))
    credit(r, "acc_a", "t1", 50.00, at(0))
    swipe(r, "acc_a", "s1", 140.00, at(1))
    swipe(r, "acc_a", "s2", 20.00, at(2))
    assert balance(r, "acc_a") == Decimal("-90.00")
    ledger = (
        read_client(fintech.api_router(), r.state).get("/api/v1/fintech/accounts/acc_a/transactions").json()
    )
    assert [e["status"] for e in ledger] == ["declined", "posted", "posted"]


def test_the_same_transaction_sent_again_under_another_key_posts_once() -> None:
    r = runner()
    first = credit(r, "acc_a", "t1", 2500.00, at(0))
    again = credit(r, "acc_a", "t1", 2500.00, at(0))
    transfer(r, "trf_1", "acc_a", "acc_b", 100.00, at(1))
    transfer(r, "trf_1", "acc_a", "acc_b", 100.00, at(1))
    assert first != again
    assert balance(r, "acc_a") == Decimal("2400.00") and balance(r, "acc_b") == Decimal("100.00")
    ledger = (
        read_client(fintech.api_router(), r.state).get("/api/v1/fintech/accounts/acc_a/transactions").json()
    )
    assert [e["entry_id"] for e in ledger] == ["trf_1:out", "t1"]


def test_a_debit_computed_on_a_stale_balance_cannot_overdraw() -> None:
    # Given two swipes computed against the same balance of 100, as two concurrent consumers would
    r = runner()
    credit(r, "acc_a", "t1", 100.00, at(0))

    def effects_of(swipe_id: str) -> list[Any]:
        event = CardSwipeV1.model_validate(
            {
                "swipe_id": swipe_id,
                "account_id": "acc_a",
                "card_token": "tok",
                "card_last4": "0001",
                "amount": 80,
                "currency": "KES",
                "merchant_name": "Shop",
                "occurred_at": at(1),
            }
        )
        ctx = EventContext(
            f"evt-{swipe_id}", "cards", "card_swipe", "1.0", at(1), r.state, r.settings, r.packs
        )
        return list(handle_post_card_swipe(event, ctx))

    first, second = effects_of("s1"), effects_of("s2")
    r.state.commit(first)
    # Then the second commit is refused as a whole (the balance floor, and the baseline's version)
    with pytest.raises(EffectRejectedError):
        r.state.commit(second)
    # and the balance update alone is refused by its floor, whatever the other effects do
    (debit,) = [e for e in second if isinstance(e, Update) and e.sk == "BALANCE#KES"]
    assert debit.floor == ("balance", 0)
    with pytest.raises(EffectRejectedError, match="balance would fall below 0"):
        r.state.commit([debit])
    assert balance(r, "acc_a") == Decimal("20.00")


def test_kyc_gates_large_debits_until_identity_and_address_are_on_file() -> None:
    r = runner(fintech_unverified_debit_limit=Decimal(1000))
    credit(r, "acc_a", "t1", 5000.00, at(0))
    transfer(r, "trf_1", "acc_a", "acc_b", 1500.00, at(1))
    r.send(
        "kyc_document_uploaded",
        {
            "account_id": "acc_a",
            "document_id": "doc_1",
            "document_type": "passport",
            "issuing_country": "KE",
            "occurred_at": at(2),
        },
    )
    client = read_client(fintech.api_router(), r.state)
    assert client.get("/api/v1/fintech/accounts/acc_a").json()["kyc_status"] == "incomplete"
    transfer(r, "trf_2", "acc_a", "acc_b", 1500.00, at(3))
    r.send(
        "kyc_document_uploaded",
        {
            "account_id": "acc_a",
            "document_id": "doc_2",
            "document_type": "proof_of_address",
            "issuing_country": "KE",
            "occurred_at": at(4),
        },
    )
    transfer(r, "trf_3", "acc_a", "acc_b", 1500.00, at(5))

    account = client.get("/api/v1/fintech/accounts/acc_a").json()
    assert account["kyc_status"] == "complete"
    assert account["kyc_documents"] == ["passport", "proof_of_address"]
    ledger = client.get("/api/v1/fintech/accounts/acc_a/transactions").json()
    assert [(e["entry_id"], e["decline_reason"]) for e in ledger[:3]] == [
        ("trf_3:out", None),
        ("trf_2:out", "kyc_required"),
        ("trf_1:out", "kyc_required"),
    ]
    assert balance(r, "acc_a") == Decimal("3500.00")
    kyc = r.state.get(account_pk("acc_a"), "KYC")
    assert kyc is not None and kyc["completed_at"] == "2026-11-26T08:04:00.000000Z"


def test_the_baseline_is_welford_exact_and_an_outlier_scores_as_anomalous() -> None:
    r = runner()
    credit(r, "acc_a", "t0", 50_000.00, at(0))
    # Given twelve ordinary coffee and lunch payments, hours apart
    amounts = [36.4, 42.0, 28.5, 55.0, 31.2, 47.8, 39.9, 44.1, 33.3, 51.6, 38.0, 40.5]
    for i, amount in enumerate(amounts):
        swipe(r, "acc_a", f"s{i}", amount, at(60 * (i + 1)))
    client = read_client(fintech.api_router(), r.state)
    ledger = client.get("/api/v1/fintech/accounts/acc_a/transactions", params={"limit": 50}).json()
    assert not any(e["anomalous"] for e in ledger)
    # the first payments have no history to be scored against
    assert [e["zscore"] for e in ledger if e["entry_id"] in {"s0", "s4"}] == [0.0, 0.0]

    # Then the streaming baseline matches the batch statistics
    (baseline,) = [
        b
        for b in client.get("/api/v1/fintech/accounts/acc_a").json()["baselines"]
        if b["direction"] == "debit"
    ]
    assert baseline["transactions"] == 12
    assert baseline["mean"] == pytest.approx(statistics.mean(amounts), abs=1e-6)
    assert baseline["std"] == pytest.approx(statistics.stdev(amounts), abs=1e-6)

    # When a payment ten times the usual arrives
    swipe(r, "acc_a", "s_big", 420.0, at(60 * 14))
    big = client.get("/api/v1/fintech/accounts/acc_a/transactions", params={"limit": 1}).json()[0]
    expected_z = (420.0 - statistics.mean(amounts)) / statistics.stdev(amounts)
    assert big["anomalous"] is True and big["status"] == "posted"
    assert big["zscore"] == pytest.approx(expected_z, abs=1e-3)
    assert big["anomaly_score"] == pytest.approx(expected_z / 3.0, abs=1e-3)
    flags = client.get("/api/v1/fintech/accounts/acc_a/flags").json()
    assert [(f["kind"], f["entry_id"]) for f in flags if f["kind"] == "anomaly"] == [("anomaly", "s_big")]


def test_velocity_alone_makes_a_burst_of_small_payments_anomalous() -> None:
    r = runner(fintech_velocity_limit=6, fintech_velocity_window_seconds=600)
    credit(r, "acc_a", "t0", 1000.00, at(0))
    # card testing: six tiny payments within five minutes
    for i in range(6):
        swipe(r, "acc_a", f"s{i}", 1.00, at(10 + i))
    ledger = (
        read_client(fintech.api_router(), r.state).get("/api/v1/fintech/accounts/acc_a/transactions").json()
    )
    velocity = {e["entry_id"]: (e["velocity"], e["anomalous"]) for e in ledger}
    assert velocity["s4"] == (5, False)
    assert velocity["s5"] == (6, True)


def test_aml_daily_totals_flag_the_threshold_crossing_once_and_structuring() -> None:
    r = runner(fintech_aml_reporting_threshold=Decimal(10_000), fintech_aml_structuring_count=3)
    credit(r, "acc_a", "t1", 4000.00, at(0))
    credit(r, "acc_a", "t2", 3500.00, at(30))
    credit(r, "acc_a", "t3", 3000.00, at(60))  # 10,500: crosses the reporting threshold
    credit(r, "acc_a", "t4", 200.00, at(90))
    # the next day: three cash deposits each just under the threshold
    for i in range(3):
        credit(r, "acc_a", f"c{i}", 9500.00, at(24 * 60 + i), channel="cash")

    client = read_client(fintech.api_router(), r.state)
    days = client.get("/api/v1/fintech/accounts/acc_a").json()["daily_totals"]
    assert [(d["day"], Decimal(d["credit_total"]), d["credit_count"], d["flagged"]) for d in days] == [
        ("2026-11-27", 28500, 3, ["threshold_credit", "structuring"]),
        ("2026-11-26", 10700, 4, ["threshold_credit"]),
    ]
    flags = client.get("/api/v1/fintech/accounts/acc_a/flags").json()
    aml = [
        (f["kind"], f["entry_id"], Decimal(f["details"]["total"])) for f in flags if f["kind"] != "anomaly"
    ]
    assert aml == [
        ("structuring", "c2", 28500),
        ("threshold_credit", "c1", 19000),
        ("threshold_credit", "t3", 10500),
    ]


def test_unknown_accounts_are_404_and_flags_empty() -> None:
    client = read_client(fintech.api_router(), runner().state)
    assert client.get("/api/v1/fintech/accounts/acc_x").status_code == 404
    assert client.get("/api/v1/fintech/accounts/acc_x/transactions").status_code == 404
    assert client.get("/api/v1/fintech/accounts/acc_x/flags").json() == []


@pytest.mark.parametrize(
    ("model", "payload", "field"),
    [
        (
            TransferRequestedV1,
            {
                "transfer_id": "t",
                "from_account_id": "a",
                "to_account_id": "a",
                "amount": 5,
                "currency": "KES",
            },
            (),
        ),
        (
            TransferRequestedV1,
            {
                "transfer_id": "t",
                "from_account_id": "a",
                "to_account_id": "b",
                "amount": 0,
                "currency": "KES",
            },
            ("amount",),
        ),
        (
            TransferRequestedV1,
            {
                "transfer_id": "t",
                "from_account_id": "a",
                "to_account_id": "b",
                "amount": 1.005,
                "currency": "KES",
            },
            ("amount",),
        ),
        (
            CardSwipeV1,
            {
                "swipe_id": "s",
                "account_id": "a",
                "card_token": "tok",
                "card_last4": "4111111111111111",
                "amount": 5,
                "currency": "KES",
                "merchant_name": "m",
            },
            ("card_last4",),
        ),
    ],
)
def test_invalid_money_movements_are_refused(
    model: Any, payload: dict[str, Any], field: tuple[str, ...]
) -> None:
    with pytest.raises(ValidationError) as exc:
        model.model_validate(payload)
    assert [e["loc"] for e in exc.value.errors()] == [field]
