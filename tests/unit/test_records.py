"""The batch path writes idempotency records exactly as Powertools does (no sockets).

Each test runs Powertools' own DynamoDB persistence layer against a recording client and compares what it
sends with what ``plutus.adapters.idempotency_records`` builds.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig
from aws_lambda_powertools.utilities.idempotency.serialization.pydantic import PydanticSerializer

from plutus.adapters import idempotency_records as records
from plutus.adapters.idempotency_records import Clock, Seen
from plutus.core.envelope import IngestRequest, IngestResult
from plutus.ingest.accept import EVENT_KEY_JMESPATH, VALIDATION_JMESPATH, command_for
from tests.builders import an_event

PREFIX = "plutus.ingest"
EVENT = an_event("evt_é_123")
NUMERIC = {":now", ":now_in_millis", ":expiry"}


class _Events:
    def register(self, *args: Any, **kwargs: Any) -> None:
        return None


class _Meta:
    events = _Events()


class RecordingClient:
    """Stands in for the DynamoDB client: records each call's parameters."""

    meta = _Meta()

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def put_item(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("put_item", kwargs))
        return {}

    def update_item(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("update_item", kwargs))
        return {}


def _powertools() -> tuple[DynamoDBPersistenceLayer, RecordingClient]:
    client = RecordingClient()
    layer = DynamoDBPersistenceLayer(table_name="idem", boto3_client=client)  # type: ignore[arg-type]
    layer.configure(
        IdempotencyConfig(
            event_key_jmespath=EVENT_KEY_JMESPATH, payload_validation_jmespath=VALIDATION_JMESPATH
        ),
        key_prefix=PREFIX,
    )
    return layer, client


def _without_clock(params: dict[str, Any]) -> dict[str, Any]:
    copy = json.loads(json.dumps(params))
    for name in ("Item",):
        for attr in (records.EXPIRY_ATTR, records.IN_PROGRESS_EXPIRY_ATTR):
            copy.get(name, {}).pop(attr, None)
    for token in NUMERIC:
        copy.get("ExpressionAttributeValues", {}).pop(token, None)
    return copy


def test_key_and_validation_hash_are_powertools_own() -> None:
    command = command_for(IngestRequest.model_validate(EVENT))
    layer, _ = _powertools()
    data = command.model_dump(mode="json")

    assert records.record_id(PREFIX, command.source, command.idempotency_key) == (
        layer._get_hashed_idempotency_key(data)
    )
    assert records.validation_hash(command.digest) == layer._get_hashed_payload(data)


def test_in_progress_put_is_powertools_put() -> None:
    command = command_for(IngestRequest.model_validate(EVENT))
    layer, client = _powertools()
    before = Clock.read()
    layer.save_inprogress(command.model_dump(mode="json"), remaining_time_in_millis=5_000)
    after = Clock.read()
    [(operation, sent)] = client.calls
    rid = records.record_id(PREFIX, command.source, command.idempotency_key)
    ours = records.in_progress_put(
        "idem", rid, records.validation_hash(command.digest), 0, 0, Clock(before.now, before.now_ms)
    )

    assert operation == "put_item"
    assert _without_clock(ours) == _without_clock(sent)
    assert set(ours["Item"]) == set(sent["Item"])
    expiry = int(sent["Item"][records.EXPIRY_ATTR]["N"])
    assert before.now + 3600 - 1 <= expiry <= after.now + 3600 + 1, "seconds since the epoch"
    deadline = int(sent["Item"][records.IN_PROGRESS_EXPIRY_ATTR]["N"])
    assert before.now_ms + 5_000 - 1_000 <= deadline <= after.now_ms + 5_000 + 1_000, "milliseconds"


def test_completed_update_is_powertools_update() -> None:
    command = command_for(IngestRequest.model_validate(EVENT))
    result = IngestResult(
        event_id=command.event_id,
        source=command.source,
        event_type=None,
        schema_version="1.0",
        received_at="2026-01-01T00:00:00.000000Z",
    )
    layer, client = _powertools()
    layer.save_success(command.model_dump(mode="json"), PydanticSerializer(IngestResult).to_dict(result))
    [(operation, sent)] = client.calls
    rid = records.record_id(PREFIX, command.source, command.idempotency_key)
    ours = records.completed_update(
        "idem", rid, 0, records.response_data(result), records.validation_hash(command.digest)
    )

    assert operation == "update_item"
    assert _without_clock(ours) == _without_clock(sent)


def _item(status: str, validation: str = "v", expiry: int = 0, deadline: int | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {
        records.KEY_ATTR: {"S": "k"},
        records.STATUS_ATTR: {"S": status},
        records.EXPIRY_ATTR: {"N": str(expiry)},
        records.VALIDATION_ATTR: {"S": validation},
    }
    if deadline is not None:
        item[records.IN_PROGRESS_EXPIRY_ATTR] = {"N": str(deadline)}
    if status == records.COMPLETED:
        item[records.DATA_ATTR] = {"S": json.dumps({"event_id": "e-1"})}
    return item


NOW = Clock(int(time.time()), int(time.time() * 1000))
LATER = NOW.now + 3600


@pytest.mark.parametrize(
    ("item", "verdict", "event_id"),
    [
        (None, Seen.FREE, None),
        (_item(records.COMPLETED, expiry=LATER), Seen.REPLAY, "e-1"),
        (_item(records.COMPLETED, expiry=NOW.now - 1), Seen.FREE, None),
        (_item(records.COMPLETED, "other", expiry=LATER), Seen.REUSED, None),
        (_item(records.INPROGRESS, expiry=LATER, deadline=NOW.now_ms + 5_000), Seen.IN_PROGRESS, None),
        (_item(records.INPROGRESS, "other", expiry=LATER, deadline=NOW.now_ms + 5_000), Seen.REUSED, None),
        (_item(records.INPROGRESS, expiry=LATER, deadline=NOW.now_ms - 1), Seen.FREE, None),
        (_item(records.INPROGRESS, expiry=LATER), Seen.IN_PROGRESS, None),
    ],
    ids=[
        "absent",
        "completed",
        "expired",
        "completed-other-content",
        "in-progress",
        "in-progress-other-content",
        "abandoned",
        "in-progress-without-deadline",
    ],
)
def test_a_stored_record_is_read_as_powertools_reads_it(
    item: dict[str, Any] | None, verdict: Seen, event_id: str | None
) -> None:
    assert records.classify(item, "v", NOW) == (verdict, event_id)
