"""Message groups: the ordering key on FIFO, the source on standard (plutus.core.ordering), and their use."""

from __future__ import annotations

import string
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch import BatchProcessor, SqsFifoPartialProcessor
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from hypothesis import assume, given
from hypothesis import strategies as st
from pydantic import ValidationError

from plutus.adapters.dead_letters import DeadLetterQueue
from plutus.adapters.queue import EventQueue, Message
from plutus.consumer.entry import batch_processor
from plutus.core.errors import InvalidEventError
from plutus.core.ordering import (
    HASHED_PREFIX,
    MAX_GROUP_ID,
    message_group,
    message_group_id,
    ordering_value,
)
from plutus.core.registry import EventModel, Registry, Router
from plutus.domains import build_registry
from plutus.domains.default import handle_record_receipt
from plutus_dev.cli.samples import example_payload
from tests.builders import a_queued_event, an_sqs_record
from tests.fakes import settings

ALLOWED = set(string.ascii_letters + string.digits + string.punctuation)


class OrderedV1(EventModel):
    event_type = "test_ordered"
    schema_version = "1.0"
    ordering_key = "account_id"


class UnorderedV1(EventModel):
    event_type = "test_unordered"
    schema_version = "1.0"


def a_registry() -> Registry:
    router = Router("test")
    router.on(OrderedV1)(handle_record_receipt)
    router.on(UnorderedV1)(handle_record_receipt)
    registry = Registry(default_handler=handle_record_receipt)
    registry.include_router(router)
    return registry


REGISTRY = a_registry()


def group(payload: dict[str, Any], event_type: str | None = "test_ordered", mode: Any = "fifo") -> str:
    return message_group("shop", event_type, "1.0", payload, REGISTRY, mode)


# The group id itself


@pytest.mark.parametrize("value", ["acct-1", "a" * MAX_GROUP_ID, "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", "42"])
def test_a_value_sqs_accepts_is_its_own_group(value: str) -> None:
    assert message_group_id(value) == value


@pytest.mark.parametrize("value", ["a" * (MAX_GROUP_ID + 1), "acct 1", "compte-é", "tab\there", "", "日本"])
def test_a_value_sqs_refuses_is_hashed_to_a_stable_group(value: str) -> None:
    derived = message_group_id(value)

    assert derived.startswith(HASHED_PREFIX) and len(derived) == len(HASHED_PREFIX) + 64
    assert derived == message_group_id(value)


@given(st.text(max_size=300))
def test_every_value_gives_a_group_sqs_accepts_and_the_same_one_each_time(value: str) -> None:
    derived = message_group_id(value)

    assert 1 <= len(derived) <= MAX_GROUP_ID
    assert set(derived) <= ALLOWED
    assert derived == message_group_id(value)


@given(st.text(min_size=1, max_size=200), st.text(min_size=1, max_size=200))
def test_two_keys_share_a_group_only_when_they_are_the_same_key(a: str, b: str) -> None:
    # A raw key spelling another's digest could share its group: no key a producer sends looks like that.
    assume(a != b and not a.startswith(HASHED_PREFIX) and not b.startswith(HASHED_PREFIX))

    assert message_group_id(a) != message_group_id(b)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("acct-1", "acct-1"), (7, "7"), ("", None), (None, None), (True, None), (1.5, None), ({"a": 1}, None)],
)
def test_the_ordering_value_is_a_non_empty_string_or_an_integer(value: Any, expected: str | None) -> None:
    assert ordering_value({"account_id": value}, "account_id") == expected


# Which group an event joins


def test_on_fifo_an_event_is_grouped_by_its_types_ordering_field() -> None:
    assert group({"account_id": "acct-1"}) == "acct-1"
    assert group({"account_id": "acct 1"}) == message_group_id("acct 1")


def test_on_fifo_an_untyped_or_undeclared_or_unknown_type_is_grouped_by_source() -> None:
    assert group({"account_id": "acct-1"}, event_type=None) == "shop"
    assert group({"account_id": "acct-1"}, event_type="test_unordered") == "shop"
    assert group({"account_id": "acct-1"}, event_type="test_never_registered") == "shop"


@pytest.mark.parametrize("payload", [{}, {"account_id": ""}, {"account_id": None}, {"account_id": [1]}])
def test_on_fifo_an_event_without_its_ordering_field_is_refused_naming_the_field(
    payload: dict[str, Any],
) -> None:
    with pytest.raises(InvalidEventError) as refused:
        group(payload)

    [error] = refused.value.errors
    assert (error["field"], error["pointer"]) == ("payload.account_id", "/payload/account_id")
    assert "ordered by account_id" in error["message"]


def test_on_a_standard_queue_every_event_is_grouped_by_source_and_never_refused() -> None:
    assert group({"account_id": "acct-1"}, mode="standard") == "shop"
    assert group({}, mode="standard") == "shop"


def test_every_pack_type_orders_by_a_required_field_its_example_carries() -> None:
    registry = build_registry()
    for registration in registry.registrations:
        key = registry.ordering_key(registration.event_type, registration.schema_version)
        name = f"{registration.event_type} v{registration.schema_version}"
        assert key is not None, f"{name} declares no ordering_key"
        field = registration.model.model_fields.get(key)
        assert field is not None and field.is_required(), f"{name}: {key} is not a required field"
        payload = example_payload(registration)
        derived = message_group(
            "s", registration.event_type, registration.schema_version, payload, registry, "fifo"
        )
        assert derived == message_group_id(str(payload[key])), name


@pytest.mark.parametrize(
    ("event_type", "key"),
    [
        ("transaction_initiated", "account_id"),
        ("engine_temperature", "vehicle_id"),
        ("package_scanned", "package_id"),
    ],
)
def test_the_issues_examples_order_by_account_vehicle_and_package(event_type: str, key: str) -> None:
    assert build_registry().ordering_key(event_type, "1.0") == key


# Settings and the consumer's processor


def test_the_queue_mode_must_match_the_queue_name() -> None:
    assert settings(queue_mode="fifo", queue_url="https://sqs/q.fifo").queue_mode == "fifo"
    with pytest.raises(ValidationError):
        settings(queue_mode="fifo", queue_url="https://sqs/q")
    with pytest.raises(ValidationError):
        settings(queue_url="https://sqs/q.fifo")


def test_fifo_uses_the_group_skipping_processor_and_standard_the_batch_processor() -> None:
    fifo = batch_processor("fifo")
    standard = batch_processor("standard")

    assert isinstance(fifo, SqsFifoPartialProcessor) and fifo._skip_group_on_error
    assert type(standard) is BatchProcessor
    assert not fifo.raise_on_entire_batch_failure and not standard.raise_on_entire_batch_failure


# Where the group goes: the batch send, the early dead letter


class RecordingSqs:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def send_message_batch(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        return {"Successful": [{"Id": e["Id"]} for e in kwargs["Entries"]], "Failed": []}

    def send_message(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        return {"MessageId": "m"}


def test_each_batch_entry_carries_its_own_group_and_deduplication_id() -> None:
    sqs = RecordingSqs()
    fields = {"MessageGroupId": "acct-1", "MessageDeduplicationId": "evt-1"}

    EventQueue(sqs, "q.fifo").send([Message("0", "{}", {}, fields), Message("1", "{}", {})], extra={"X": 1})

    [call] = sqs.calls
    first, second = call["Entries"]
    assert (
        first["MessageGroupId"] == "acct-1" and first["MessageDeduplicationId"] == "evt-1" and first["X"] == 1
    )
    assert "MessageGroupId" not in second and second["X"] == 1


def fifo_record(group_id: str) -> SQSRecord:
    record = an_sqs_record("{}", message_id="msg-1")
    record["attributes"]["MessageGroupId"] = group_id
    return SQSRecord(record)


def test_an_early_dead_letter_keeps_its_group_and_has_a_dedup_id_only_on_a_fifo_dlq() -> None:
    sqs = RecordingSqs()

    DeadLetterQueue(sqs, "https://sqs/dlq.fifo").send(fifo_record("acct-1"), "PoisonMessageError")
    DeadLetterQueue(sqs, "https://sqs/dlq").send(fifo_record("shop"), "PoisonMessageError")

    fifo, standard = sqs.calls
    assert (fifo["MessageGroupId"], fifo["MessageDeduplicationId"]) == ("acct-1", "msg-1")
    assert standard["MessageGroupId"] == "shop" and "MessageDeduplicationId" not in standard


# The operator's replay and redrive


def replayed(event_type: str | None, payload: dict[str, Any], queue_url: str) -> dict[str, Any]:
    from plutus.core.envelope import QueuedEvent
    from plutus_dev.cli.replay import replay_message

    event = QueuedEvent.model_validate(a_queued_event("e-1", event_type, payload, source="bank"))
    return replay_message(event, queue_url)


def test_a_replay_on_fifo_joins_its_keys_group_with_a_fresh_deduplication_id() -> None:
    first = replayed("transaction_initiated", {"account_id": "acct-7"}, "https://sqs/q.fifo")
    second = replayed("transaction_initiated", {"account_id": "acct-7"}, "https://sqs/q.fifo")

    assert first["MessageGroupId"] == "acct-7"
    assert first["MessageDeduplicationId"].startswith("replay:")
    assert first["MessageDeduplicationId"] != second["MessageDeduplicationId"] != "e-1"


def test_a_replay_of_an_event_without_a_key_goes_to_its_sources_group() -> None:
    # Accepted while the queue was standard, replayed after the switch to FIFO.
    assert replayed("transaction_initiated", {}, "https://sqs/q.fifo")["MessageGroupId"] == "bank"


def test_a_replay_on_a_standard_queue_joins_its_sources_group_without_a_deduplication_id() -> None:
    message = replayed("transaction_initiated", {"account_id": "acct-7"}, "https://sqs/q")

    assert message["MessageGroupId"] == "bank" and "MessageDeduplicationId" not in message


def test_a_redrive_by_hand_keeps_the_group_and_dedups_only_on_fifo() -> None:
    from plutus_dev.cli.dlq import _send_entry

    message = {"MessageId": "m-1", "Body": "{}", "Attributes": {"MessageGroupId": "bank"}}

    assert _send_entry(0, message, fifo=True)["MessageDeduplicationId"] == "m-1"
    standard = _send_entry(0, message, fifo=False)
    assert standard["MessageGroupId"] == "bank" and "MessageDeduplicationId" not in standard


def test_a_command_without_a_derived_group_is_sent_in_its_sources_group() -> None:
    from plutus.ingest.accept import IngestCommand, group_attributes

    command = IngestCommand(
        source="bank",
        idempotency_key="k",
        digest="d",
        event_id="e-1",
        event_type=None,
        schema_version="1.0",
        payload={},
    )

    fifo = group_attributes(command, settings(queue_mode="fifo", queue_url="https://sqs/q.fifo"))
    assert fifo == {"MessageGroupId": "bank", "MessageDeduplicationId": "e-1"}
    assert group_attributes(command, settings()) == {"MessageGroupId": "bank"}
