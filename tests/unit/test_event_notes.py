"""Event notes: effects on the event's own item, folded into its PROCESSED update, in their own namespace."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from plutus.adapters.events_store import (
    EventStatus,
    Retention,
    accepted_update,
    failure_update,
    kept_put,
    poison_update,
    processed_update,
)
from plutus.adapters.idempotency_records import Clock, claim_update, completed
from plutus.consumer.processor import Consumer
from plutus.core.effects import MAX_NOTE_ATTRIBUTES, MAX_NOTE_TEXT, EventNote, Put, Update, fold_effects
from plutus.core.envelope import IngestResult, QueuedEvent
from plutus.core.errors import EffectRejectedError
from plutus.core.registry import EventContext, EventModel, Registry, Router
from plutus.domains import default
from tests.builders import a_queued_event, an_sqs_record
from tests.fakes import FakeDeadLetters, FakeEvents, FakeState, settings

NOW = "2026-12-01T12:00:00.000Z"
EVENT = QueuedEvent.model_validate(a_queued_event("evt-1", None, {"amount": 1}, received_at=NOW))

# What the events table's item holds besides notes (the events store's and the ingest idempotency record's
# attribute names), and names that look like notes but are not.
FORBIDDEN = [
    "status",
    "event_id",
    "ops_pk",
    "ops_sk",
    "expires_at",
    "attempts",
    "kept_message",
    "fanout_batch",
    "source",
    "received_at",
    "processed_at",
    "last_error",
    "idem_state",
    "idem_digest",
    "idem_deadline",
    "applied",
    "note_",
    "NOTE_applied",
    "note_Applied",
    "note_a-b",
    "note_a b",
    "note_a.b",
    "note_#x",
    "note_" + "a" * 33,
    "xnote_a",
]


@pytest.mark.parametrize("name", FORBIDDEN)
def test_a_note_refuses_any_name_outside_its_namespace(name: str) -> None:
    with pytest.raises(EffectRejectedError, match="note_ attributes"):
        EventNote(add={name: 1})
    with pytest.raises(EffectRejectedError, match="note_ attributes"):
        EventNote(set_if_absent={name: "x"})


def test_a_refused_name_is_echoed_only_when_it_is_a_plain_identifier() -> None:
    with pytest.raises(EffectRejectedError) as plain:
        EventNote(add={"status": 1})
    with pytest.raises(EffectRejectedError) as crafted:
        EventNote(add={"card 4111 1111 1111 1111": 1})

    assert "status" in str(plain.value)
    assert "4111" not in str(crafted.value)


@pytest.mark.parametrize(
    ("add", "set_if_absent"),
    [
        ({"note_n": 1.5}, {}),  # floats are not exact: Decimal
        ({"note_n": True}, {}),  # a flag is not a counter
        ({"note_n": "1"}, {}),
        ({"note_n": Decimal("NaN")}, {}),
        ({}, {"note_t": "x" * (MAX_NOTE_TEXT + 1)}),
        ({}, {"note_t": {"nested": 1}}),
        ({}, {"note_t": [1]}),
        ({}, {"note_t": None}),
        ({}, {"note_t": Decimal("Infinity")}),
        ({"note_n": 1}, {"note_n": 1}),  # one name, two writes: one expression cannot hold both
        ({f"note_n{i}": 1 for i in range(MAX_NOTE_ATTRIBUTES + 1)}, {}),
    ],
)
def test_a_note_refuses_values_it_cannot_store_small(
    add: dict[str, Any], set_if_absent: dict[str, Any]
) -> None:
    with pytest.raises(EffectRejectedError):
        EventNote(add=add, set_if_absent=set_if_absent)


def test_a_note_takes_counters_numbers_flags_and_short_text() -> None:
    note = EventNote(
        add={"note_applied": 1, "note_total": Decimal("2.5")},
        set_if_absent={"note_by": "x" * MAX_NOTE_TEXT, "note_flag": True, "note_n": 3},
    )

    assert note.add["note_applied"] == 1 and note.set_if_absent["note_flag"] is True


def test_notes_fold_into_one_as_if_applied_in_turn_and_state_effects_keep_their_order() -> None:
    first = Update("A", "1", add={"n": 1})
    second = Put("B", "2", {"x": 1})
    effects = [
        EventNote(add={"note_applied": 1}, set_if_absent={"note_by": "first"}),
        first,
        EventNote(add={"note_applied": 2}, set_if_absent={"note_by": "second", "note_at": 3}),
        second,
    ]

    note, state = fold_effects(effects)

    assert note == EventNote(add={"note_applied": 3}, set_if_absent={"note_by": "first", "note_at": 3})
    assert state == [first, second]
    assert fold_effects([first]) == (None, [first])


def test_notes_that_cannot_be_one_expression_are_refused_when_folded() -> None:
    with pytest.raises(EffectRejectedError):
        fold_effects([EventNote(add={"note_x": 1}), EventNote(set_if_absent={"note_x": 1})])
    many = [EventNote(add={f"note_n{i}": 1}) for i in range(MAX_NOTE_ATTRIBUTES + 1)]
    with pytest.raises(EffectRejectedError):
        fold_effects(many)


def test_the_note_is_part_of_the_marker_update_under_its_condition() -> None:
    plain = processed_update("events", EVENT, NOW, Retention())
    note = EventNote(add={"note_applied": 1}, set_if_absent={"note_by": "x"})

    noted = processed_update("events", EVENT, NOW, Retention(), note=note)

    # The same item, the same condition: applied exactly when the event moves to PROCESSED
    assert noted["Key"] == plain["Key"]
    assert noted["ConditionExpression"] == plain["ConditionExpression"]
    expression = noted["UpdateExpression"]
    assert "ADD attempts :one, #note1 :note1" in expression
    assert "#note0 = if_not_exists(#note0, :note0)" in expression
    assert {k: v for k, v in noted["ExpressionAttributeNames"].items() if k.startswith("#note")} == {
        "#note0": "note_by",
        "#note1": "note_applied",
    }
    assert (noted["ExpressionAttributeValues"][":note0"], noted["ExpressionAttributeValues"][":note1"]) == (
        {"S": "x"},
        {"N": "1"},
    )
    # and nothing else of the marker changes
    without = {k: v for k, v in noted["ExpressionAttributeValues"].items() if not k.startswith(":note")}
    assert without == plain["ExpressionAttributeValues"]


def test_no_attribute_the_events_store_writes_is_in_the_notes_namespace() -> None:
    result = IngestResult(event_id="evt-1", source="s", event_type="t", schema_version="1.0", received_at=NOW)
    updates = [
        claim_update("events", "evt-1", "digest", 1, 2, Clock(1, 1), "token"),
        completed(accepted_update("events", result, Retention()), "digest"),
        processed_update("events", EVENT, NOW, Retention(), fanout_batch="b"),
        failure_update("events", EVENT, "boom", EventStatus.FAILED, NOW, Retention()),
        poison_update("events", "m-1", "boom", EventStatus.FAILED, NOW, Retention()),
    ]
    names: set[str] = set(kept_put("events", "evt-1", b"{}", 1)["Item"])  # the kept message's own item
    for update in updates:
        names |= set(update["ExpressionAttributeNames"].values())
        # and the bare names (not placeholders, not functions) of the expression
        names |= set(re.findall(r"(?<![#:\w])[a-z][a-z_]*", update["UpdateExpression"])) - {"if_not_exists"}

    assert names and {"status", "attempts", "expires_at", "ops_pk", "idem_state", "idem_digest"} <= names
    assert not [n for n in names if n.startswith("note_")]


# --- in the consumer ---------------------------------------------------------------------------------------

router = Router("notes")


class ForgedV1(EventModel):
    """An event whose handler tries to write one of the event's own attributes through a note."""

    event_type = "test_forged"
    schema_version = "1.0"

    attribute: str


@router.on(ForgedV1)
def handle_forge_status(event: ForgedV1, ctx: EventContext) -> Any:
    yield EventNote(set_if_absent={event.attribute: "PROCESSED"})


def _consumer() -> tuple[Consumer, FakeEvents, FakeDeadLetters]:
    registry = Registry(default_handler=default.handle_record_receipt)
    registry.include_router(router)
    state = FakeState()
    events = FakeEvents(state)
    letters = FakeDeadLetters()
    consumer = Consumer(settings(), registry, events, state, letters)  # type: ignore[arg-type]
    return consumer, events, letters


def test_the_default_receipt_is_a_counter_on_the_event_item_applied_once() -> None:
    consumer, events, _ = _consumer()
    body = a_queued_event("evt-1", None, {"amount": 1})

    # When the event arrives, then again as a first delivery (an ingest retry) and as a redelivery
    outcomes = [
        consumer.process_record(SQSRecord(an_sqs_record(body, message_id=m, receive_count=n)))
        for m, n in (("m-1", 1), ("m-2", 1), ("m-1", 2))
    ]

    # Then the receipt is on the event's own item, applied once, and no state item was written
    assert outcomes == ["processed", "duplicate", "duplicate"]
    item = events.get("evt-1") or {}
    assert (item["status"], default.applied(item)) == (EventStatus.PROCESSED, 1)
    assert events.state.items == {}


def test_a_note_forging_the_status_fails_the_event_at_once_and_writes_nothing() -> None:
    consumer, events, letters = _consumer()
    body = a_queued_event("evt-1", "test_forged", {"attribute": "status"})

    outcome = consumer.process_record(SQSRecord(an_sqs_record(body)))

    # Then it is refused permanently: FAILED on its first attempt and dead-lettered, nothing noted
    assert outcome == "dead-lettered"
    assert [reason for _, reason in letters.sent] == ["EffectRejectedError"]
    item = events.get("evt-1") or {}
    assert item["status"] == EventStatus.FAILED and "note_" not in str(sorted(item))
