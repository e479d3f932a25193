"""The events table's ops index is sparse and spread, and every write sets the record's retention (TTL)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from pydantic import ValidationError

from plutus.adapters.events_store import (
    DAY_SECONDS,
    EXPIRES_AT,
    INDEXED_STATUSES,
    OPS_INDEX,
    OPS_PK,
    OPS_SHARDS,
    OPS_SK,
    EventStatus,
    NotIndexedError,
    Retention,
    accepted_update,
    failure_update,
    ops_keys,
    ops_shard,
    poison_update,
    processed_update,
    query_by_status,
)
from plutus.core.envelope import IngestResult, QueuedEvent, parse_timestamp
from plutus.settings import Settings
from plutus_dev.emulator.template import load_template

NOW = "2026-12-01T12:00:00.000000Z"
EPOCH = int(parse_timestamp(NOW).timestamp())
RETENTION = Retention(processed_seconds=30 * DAY_SECONDS, failed_seconds=90 * DAY_SECONDS)
RECEIVED_AT = "2026-12-01T11:59:00.000000Z"
EVENT = QueuedEvent(
    event_id="0beac393-edf1-56a6-96e7-5b0fa4359fba",
    source="card_service",
    event_type="card_swipe",
    schema_version="1.0",
    received_at=RECEIVED_AT,
    payload={},
)
TEMPLATE = load_template()
EVENTS_TABLE = TEMPLATE["Resources"]["EventsTable"]["Properties"]


def _sets(update: dict[str, Any], attribute: str) -> bool:
    return f"{attribute} = " in update["UpdateExpression"].split(" REMOVE ")[0]


def _value(update: dict[str, Any], placeholder: str) -> str:
    (_, value), *_ = update["ExpressionAttributeValues"][placeholder].items()
    return str(value)


def test_an_accepted_event_stays_out_of_the_index_and_expires_after_the_failed_retention() -> None:
    result = IngestResult(**EVENT.model_dump(exclude={"payload"}))
    update = accepted_update("events", result, RETENTION)
    assert OPS_PK not in update["UpdateExpression"] and OPS_SK not in update["UpdateExpression"]
    # Only if the consumer has not set one: a PROCESSED event keeps its own (shorter) expiry.
    assert f"{EXPIRES_AT} = if_not_exists({EXPIRES_AT}, :expires)" in update["UpdateExpression"]
    assert int(_value(update, ":expires")) == int(parse_timestamp(RECEIVED_AT).timestamp()) + 90 * DAY_SECONDS


def test_processing_leaves_the_index_and_starts_the_processed_retention() -> None:
    update = processed_update("events", EVENT, NOW, RETENTION)
    removed = update["UpdateExpression"].split(" REMOVE ")[1]
    assert {OPS_PK, OPS_SK} <= {a.strip() for a in removed.split(",")}
    assert int(_value(update, ":expires")) == EPOCH + 30 * DAY_SECONDS
    # The exactly-once marker is still the condition.
    assert update["ConditionExpression"] == "attribute_not_exists(#status) OR #status <> :processed"


@pytest.mark.parametrize("status", [EventStatus.PROCESSING, EventStatus.FAILED])
def test_a_failed_attempt_enters_its_status_shard_and_restarts_the_failed_retention(
    status: EventStatus,
) -> None:
    update = failure_update("events", EVENT, "boom", status, NOW, RETENTION)
    pk, sk = _value(update, ":ops_pk"), _value(update, ":ops_sk")
    assert pk == f"{status}#{ops_shard(EVENT.event_id):02d}"
    assert sk == f"{RECEIVED_AT}#{EVENT.event_id}"
    assert int(_value(update, ":expires")) == EPOCH + 90 * DAY_SECONDS
    assert update["ConditionExpression"] == "attribute_not_exists(#status) OR #status <> :processed"


def test_a_replayed_event_that_fails_again_is_kept_longer_than_before() -> None:
    first = failure_update("events", EVENT, "boom", EventStatus.FAILED, NOW, RETENTION)
    later = "2026-12-20T08:00:00.000000Z"
    again = failure_update("events", EVENT, "boom", EventStatus.FAILED, later, RETENTION)
    assert int(_value(again, ":expires")) - int(_value(first, ":expires")) == (
        int(parse_timestamp(later).timestamp()) - EPOCH
    )


def test_a_poison_message_is_indexed_and_expires_like_a_failed_event() -> None:
    update = poison_update("events", "m-1", "not json", EventStatus.FAILED, NOW, RETENTION)
    assert _value(update, ":ops_pk").startswith("FAILED#")
    assert f"{OPS_SK} = if_not_exists({OPS_SK}, :ops_sk)" in update["UpdateExpression"]
    assert int(_value(update, ":expires")) == EPOCH + 90 * DAY_SECONDS
    assert update["ConditionExpression"] == "attribute_not_exists(#status) OR #status <> :processed"


def test_shards_spread_event_ids_evenly() -> None:
    counts = Counter(ops_shard(f"{n:08x}-event") for n in range(16_000))
    assert set(counts) == set(range(OPS_SHARDS))
    # No shard takes much more than its 1/16th: the failure write rate one partition key can see.
    assert max(counts.values()) < 1.1 * 16_000 / OPS_SHARDS


def test_index_keys_sort_by_receive_time_within_a_shard() -> None:
    early = ops_keys(EventStatus.FAILED, "b", "2026-12-01T10:00:00.000000Z")[1]
    late = ops_keys(EventStatus.FAILED, "a", "2026-12-01T11:00:00.000000Z")[1]
    assert early < late and late >= "2026-12-01T10:30:00.000000Z"


@pytest.mark.parametrize("status", [EventStatus.RECEIVED, EventStatus.PROCESSED])
def test_listing_a_state_the_index_does_not_hold_is_refused(status: EventStatus) -> None:
    with pytest.raises(NotIndexedError):
        next(query_by_status(object(), "events", status))


def test_the_template_has_no_index_keyed_on_a_low_cardinality_attribute() -> None:
    indexes = EVENTS_TABLE["GlobalSecondaryIndexes"]
    assert [i["IndexName"] for i in indexes] == [OPS_INDEX]
    (ops,) = indexes
    assert {k["KeyType"]: k["AttributeName"] for k in ops["KeySchema"]} == {"HASH": OPS_PK, "RANGE": OPS_SK}
    assert ops["Projection"] == {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["source", "event_type"]}
    for table in TEMPLATE["Resources"].values():
        for index in table.get("Properties", {}).get("GlobalSecondaryIndexes", []):
            hash_key = next(k["AttributeName"] for k in index["KeySchema"] if k["KeyType"] == "HASH")
            assert hash_key not in {"status", "event_type", "source", "schema_version"}
    assert INDEXED_STATUSES == {EventStatus.PROCESSING, EventStatus.FAILED}


def test_the_ttl_attribute_the_code_sets_is_the_one_the_template_enables() -> None:
    assert EVENTS_TABLE["TimeToLiveSpecification"] == {"AttributeName": EXPIRES_AT, "Enabled": True}
    parameters = TEMPLATE["Parameters"]
    assert (parameters["EventRetentionDays"]["Default"], parameters["FailedRetentionDays"]["Default"]) == (
        30,
        90,
    )
    variables = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    assert repr(variables["PLUTUS_EVENT_RETENTION_DAYS"]) == "!Ref 'EventRetentionDays'"
    assert repr(variables["PLUTUS_FAILED_RETENTION_DAYS"]) == "!Ref 'FailedRetentionDays'"


def _settings(**overrides: Any) -> Settings:
    names = {"events_table": "e", "state_table": "s", "queue_url": "q"}
    return Settings(**names, **overrides)


def test_a_failed_event_is_kept_at_least_as_long_as_a_processed_one() -> None:
    with pytest.raises(ValidationError, match="failed_retention_days"):
        _settings(event_retention_days=30, failed_retention_days=7)
    assert _settings().event_retention_days == 30
