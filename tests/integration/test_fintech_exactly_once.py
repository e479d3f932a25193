"""Fintech balances through the real ingest and consumer against the emulator: each movement changes a balance
exactly once, whether its message is redelivered after a lost delete, duplicated, replayed, or the producer
sends the same transaction again under a new idempotency key."""

from __future__ import annotations

from decimal import Decimal
from functools import partial
from typing import Any

from tests import tables
from tests.builders import an_event
from tests.clock import DAY
from tests.integration.harness import Harness
from tests.integration.redelivery import drain_capturing, redeliver_after_commit, send_duplicate, send_replay

# Every event of this test comes from one producer.
core_banking = partial(an_event, source="core_banking")
PAYROLL = core_banking(
    "k-payroll",
    "transaction_initiated",
    {
        "transaction_id": "txn_1",
        "account_id": "acc_a",
        "direction": "credit",
        "amount": 2500.00,
        "currency": "KES",
        "channel": "mobile_money",
        "counterparty": "Acme Payroll",
        "occurred_at": f"{DAY}T08:00:00Z",
    },
)
COFFEE = core_banking(
    "k-coffee",
    "card_swipe",
    {
        "swipe_id": "auth_1",
        "account_id": "acc_a",
        "card_token": "tok_9",
        "card_last4": "4242",
        "amount": 36.40,
        "currency": "KES",
        "merchant_name": "Java House",
        "occurred_at": f"{DAY}T09:00:00Z",
    },
)
RENT = core_banking(
    "k-rent",
    "transfer_requested",
    {
        "transfer_id": "trf_1",
        "from_account_id": "acc_a",
        "to_account_id": "acc_b",
        "amount": 750.00,
        "currency": "KES",
        "reference": "Rent November",
        "occurred_at": f"{DAY}T10:00:00Z",
    },
)


def balances(stack: Harness) -> dict[str, Decimal]:
    out = {}
    for account in ("acc_a", "acc_b"):
        view = stack.request("GET", f"/api/v1/fintech/accounts/{account}")
        assert view.status == 200
        out[account] = Decimal(view.json()["balances"]["KES"])
    return out


def state(stack: Harness) -> list[dict[str, Any]]:
    return tables.by_key(stack.scan("StateTable"))


def test_balances_change_exactly_once_under_redelivery_duplicates_and_replays(stack: Harness) -> None:
    # Given a payroll credit, a card payment and a rent transfer, accepted
    ids = [stack.post_event(e).json()["event_id"] for e in (PAYROLL, COFFEE, RENT)]

    # When the consumer commits each one but its deletes are lost, so SQS delivers every message again
    assert redeliver_after_commit(stack) == 3
    bodies = drain_capturing(stack)
    assert len(bodies) == 3

    # Then each movement was applied once
    expected = {"acc_a": Decimal("1713.60"), "acc_b": Decimal("750.00")}
    assert balances(stack) == expected
    before = state(stack)

    # When every message arrives yet again, as a fresh duplicate and as an operator replay, and the producer
    # retries every POST
    for body in bodies:
        send_duplicate(stack, body)
        send_replay(stack, body)
    assert stack.drain() == 6
    assert [stack.post_event(e).status for e in (PAYROLL, COFFEE, RENT)] == [200, 200, 200]
    assert stack.queue_depth() == 0

    # Then no balance, ledger entry, baseline or aggregate changed, and each event counts one attempt
    assert balances(stack) == expected
    assert state(stack) == before
    for event_id in ids:
        view = stack.get_event(event_id).json()
        assert (view["status"], view["attempts"]) == ("PROCESSED", 1)
    ledger = stack.request("GET", "/api/v1/fintech/accounts/acc_a/transactions").json()
    assert [(e["entry_id"], e["status"]) for e in ledger] == [
        ("trf_1:out", "posted"),
        ("auth_1", "posted"),
        ("txn_1", "posted"),
    ]


def test_the_same_transaction_under_a_new_idempotency_key_posts_once(stack: Harness) -> None:
    first = stack.post_event(PAYROLL).json()["event_id"]
    stack.drain()
    # Given the producer re-sends the payroll credit as a new event (new key, same transaction id)
    retry = stack.post_event({**PAYROLL, "idempotency_key": "k-payroll-retry"})
    assert retry.status == 202 and retry.json()["event_id"] != first
    stack.drain()

    # Then the new event is processed, and the balance still holds the credit once
    assert stack.get_event(retry.json()["event_id"]).json()["status"] == "PROCESSED"
    account = stack.request("GET", "/api/v1/fintech/accounts/acc_a").json()
    assert Decimal(account["balances"]["KES"]) == Decimal("2500.00")
    ledger = stack.request("GET", "/api/v1/fintech/accounts/acc_a/transactions").json()
    assert [e["entry_id"] for e in ledger] == ["txn_1"]


def test_an_invalid_card_swipe_is_422_naming_the_field_and_stores_nothing(stack: Harness) -> None:
    bad = {**COFFEE, "payload": {**COFFEE["payload"], "card_last4": "4111111111111111"}}
    response = stack.post_event(bad)
    assert response.status == 422
    assert [e["field"] for e in response.json()["errors"]] == ["payload.card_last4"]
    # the rejected value is never echoed back
    assert b"4111111111111111" not in response.body
    assert stack.queue_depth() == 0 and stack.scan("EventsTable") == []
