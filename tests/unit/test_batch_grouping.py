"""How a batch's commits are grouped into transactions: limits, one operation per item, order kept."""

from __future__ import annotations

from plutus.adapters.events_store import MAX_TRANSACT_ITEMS, _transactions
from plutus.consumer.processor import ReadLog
from tests.fakes import FakeState


def marker(event_id: str) -> dict[str, object]:
    return {"Update": {"TableName": "events", "Key": {"event_id": {"S": event_id}}}}


def effect(pk: str, sk: str = "S") -> dict[str, object]:
    return {"Update": {"TableName": "state", "Key": {"pk": {"S": pk}, "sk": {"S": sk}}}}


def test_events_fill_a_transaction_up_to_100_items() -> None:
    events = [[marker(f"e{i}"), effect(f"R#{i}")] for i in range(120)]

    groups = _transactions(events)

    assert [len(g) for g in groups] == [MAX_TRANSACT_ITEMS // 2, MAX_TRANSACT_ITEMS // 2, 20]
    assert [i for g in groups for i in g] == list(range(120))


def test_an_event_sharing_an_item_goes_to_a_later_transaction() -> None:
    events = [[marker("e0"), effect("A")], [marker("e1"), effect("B")], [marker("e2"), effect("A")]]
    events.append([marker("e3"), effect("C")])

    # e2 writes A after e0: never in e0's transaction, never before it; e3 fills the first one
    assert _transactions(events) == [[0, 1, 3], [2]]


def test_an_event_of_99_effects_starts_its_own_transaction() -> None:
    big = [marker("big")] + [effect(f"X#{i}") for i in range(99)]

    assert _transactions([[marker("e0"), effect("A")], big, [marker("e1")]]) == [[0, 2], [1]]


def test_a_read_log_knows_what_a_handler_saw() -> None:
    log = ReadLog(FakeState())
    log.get("ACC#1", "BALANCE")
    log.query("PLAYER#7", "SCORE#")

    assert log.saw_any({("ACC#1", "BALANCE")})
    assert log.saw_any({("PLAYER#7", "SCORE#2026")})
    assert not log.saw_any({("PLAYER#7", "PROFILE"), ("ACC#2", "BALANCE")})
