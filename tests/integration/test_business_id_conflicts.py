"""A business id bound to its first event, through the real ingest and consumer against the emulator: the real
5,000 credit under a transaction id a source took first with 0.01 is a recorded conflict (FAILED, named in
last_error, dead-lettered with its message kept for a replay, counted by event type, logged without its
payload), never a silent PROCESSED no-op; the same content under a new key stays a quiet duplicate."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from plutus_dev.cli.replay import Outcome, replay_one
from tests.builders import an_event
from tests.clock import DAY
from tests.integration.capture import capture_output
from tests.integration.harness import Harness


def _credit(key: str, amount: float) -> dict[str, Any]:
    payload = {
        "transaction_id": "txn_X",
        "account_id": "acc_victim",
        "direction": "credit",
        "amount": amount,
        "currency": "KES",
        "occurred_at": f"{DAY}T08:00:00Z",
    }
    return an_event(key, "transaction_initiated", payload, source="srcA")


def _balance(stack: Harness) -> Decimal:
    view = stack.request("GET", "/api/v1/fintech/accounts/acc_victim")
    assert view.status == 200
    return Decimal(view.json()["balances"]["KES"])


def test_the_same_transaction_id_with_another_amount_is_a_recorded_conflict(stack: Harness) -> None:
    # Given a source that took transaction id txn_X first with a 0.01 credit, processed
    first = stack.post_event(_credit("k-tiny", 0.01)).json()["event_id"]
    assert stack.drain() == 1
    assert stack.get_event(first).json()["status"] == "PROCESSED"

    # When the real 5,000.37 credit under txn_X arrives under its own key: accepted, then processed
    real = stack.post_event(_credit("k-real", 5000.37))
    assert real.status == 202
    real_id = real.json()["event_id"]
    with capture_output() as out:
        stack.drain()  # until the last allowed receive

    # Then nothing was posted, and the event is FAILED with the conflict named (not its content)
    assert _balance(stack) == Decimal("0.01")
    view = stack.get_event(real_id).json()
    assert view["status"] == "FAILED"
    assert view["last_error"] == (
        f"BusinessIdConflictError: transaction_id is bound to event {first} with different content; "
        "nothing applied"
    )
    # and its message is in the DLQ, kept (beside the event) for a replay once an operator has resolved it
    sqs = stack.client("sqs")
    dead = sqs.receive_message(QueueUrl=stack.dlq_url, MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(m["Body"])["event_id"] for m in dead] == [real_id]
    assert any(i["event_id"] == f"kept:{real_id}" and "kept_message" in i for i in stack.scan("EventsTable"))
    # and it is counted once, by event type, and logged without its payload
    assert out.total("business_id_conflict_total", event_type="transaction_initiated") == 1
    logged = [line for line in out.lines if "BusinessIdConflictError" in line]
    assert logged and not any("5000.37" in line or "acc_victim" in line for line in out.lines)

    # When the first credit's content is sent again under a third key: a duplicate, quietly PROCESSED
    again = stack.post_event(_credit("k-tiny-again", 0.01)).json()["event_id"]
    assert stack.drain() == 1
    assert stack.get_event(again).json()["status"] == "PROCESSED"
    assert _balance(stack) == Decimal("0.01")

    # When an operator replays it before resolving anything: it conflicts again, harmlessly
    replay = replay_one(
        stack.client("dynamodb"), sqs, stack.stack.refs["EventsTable"], stack.queue_url, real_id
    )
    assert replay.outcome == Outcome.REPLAYED
    stack.drain()
    assert stack.get_event(real_id).json()["status"] == "FAILED"
    assert _balance(stack) == Decimal("0.01")

    # When an operator removes the binding (having dealt with the first event, left posted here), the replay
    # applies the real credit
    stack.client("dynamodb").delete_item(
        TableName=stack.stack.refs["StateTable"],
        Key={"pk": {"S": "FIN#ACCOUNT#acc_victim"}, "sk": {"S": "POSTED#txn_X"}},
    )
    replay_one(stack.client("dynamodb"), sqs, stack.stack.refs["EventsTable"], stack.queue_url, real_id)
    stack.drain()
    assert stack.get_event(real_id).json()["status"] == "PROCESSED"
    assert _balance(stack) == Decimal("5000.38")
