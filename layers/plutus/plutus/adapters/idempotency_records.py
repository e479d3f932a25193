"""Idempotency records in exactly the format Powertools' DynamoDB persistence layer reads and writes.

Both ingest paths write these items themselves (the single path through :mod:`plutus.ingest.idempotent`, the
batch path through :mod:`plutus.adapters.idempotency_store`), so one (source, idempotency_key) is deduplicated
across both paths, and against records Powertools itself wrote. Attribute names, key derivation
(``key_prefix#md5(json.dumps([source, key], sort_keys=True))``), the validation hash (md5 of the JSON-encoded
content digest), seconds for ``expiration`` and milliseconds for ``in_progress_expiration`` all follow
``aws_lambda_powertools/utilities/idempotency/persistence/{base,dynamodb}.py``; a unit test compares them with
Powertools' own output.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from plutus.core.envelope import IngestResult

KEY_ATTR = "id"
EXPIRY_ATTR = "expiration"
IN_PROGRESS_EXPIRY_ATTR = "in_progress_expiration"
STATUS_ATTR = "status"
DATA_ATTR = "data"
VALIDATION_ATTR = "validation"
INPROGRESS = "INPROGRESS"
COMPLETED = "COMPLETED"

# Powertools' conditional put: the key is free, or its record expired, or an in-progress record outlived its
# invocation (a crashed or timed-out Lambda must not lock the key until the record's TTL).
PUT_CONDITION = (
    "attribute_not_exists(#id) OR #expiry < :now OR "
    "(#status = :inprogress AND attribute_exists(#in_progress_expiry) "
    "AND #in_progress_expiry < :now_in_millis)"
)


def _md5_json(value: Any) -> str:
    return hashlib.md5(json.dumps(value, sort_keys=True).encode()).hexdigest()  # noqa: S324 - Powertools' hash


def record_id(key_prefix: str, source: str, idempotency_key: str) -> str:
    """The ``id`` Powertools derives for ``[source, idempotency_key]`` under ``key_prefix``."""
    return f"{key_prefix}#{_md5_json([source, idempotency_key])}"


def validation_hash(digest: str) -> str:
    """The ``validation`` attribute Powertools stores for a content digest."""
    return _md5_json(digest)


def response_data(result: IngestResult) -> str:
    """The ``data`` attribute: the result as Powertools' PydanticSerializer + ``json.dumps`` store it."""
    return json.dumps(result.model_dump(mode="json"), sort_keys=True)


@dataclass(frozen=True, slots=True)
class Clock:
    """One reading of the clock, in the units each attribute uses."""

    now: int
    now_ms: int

    @classmethod
    def read(cls) -> Clock:
        """Now."""
        now = time.time()
        return cls(int(now), int(now * 1000))


def in_progress_put(
    table: str, rid: str, validation: str, expiry: int, in_progress_expiry_ms: int, clock: Clock
) -> dict[str, Any]:
    """The conditional put of an INPROGRESS record, as ``DynamoDBPersistenceLayer._put_record`` sends it.

    ``ReturnValuesOnConditionCheckFailure`` hands back the existing record on a conflict, so classifying it
    costs no extra read (in a transaction it arrives in the cancellation reasons).
    """
    return {
        "TableName": table,
        "Item": {
            KEY_ATTR: {"S": rid},
            EXPIRY_ATTR: {"N": str(expiry)},
            STATUS_ATTR: {"S": INPROGRESS},
            IN_PROGRESS_EXPIRY_ATTR: {"N": str(in_progress_expiry_ms)},
            VALIDATION_ATTR: {"S": validation},
        },
        "ConditionExpression": PUT_CONDITION,
        "ExpressionAttributeNames": {
            "#id": KEY_ATTR,
            "#expiry": EXPIRY_ATTR,
            "#in_progress_expiry": IN_PROGRESS_EXPIRY_ATTR,
            "#status": STATUS_ATTR,
        },
        "ExpressionAttributeValues": {
            ":now": {"N": str(clock.now)},
            ":now_in_millis": {"N": str(clock.now_ms)},
            ":inprogress": {"S": INPROGRESS},
        },
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }


def completed_update(table: str, rid: str, expiry: int, data: str, validation: str) -> dict[str, Any]:
    """The update that completes a record, as ``DynamoDBPersistenceLayer._update_record`` sends it."""
    return {
        "TableName": table,
        "Key": {KEY_ATTR: {"S": rid}},
        "UpdateExpression": (
            "SET #response_data = :response_data, #expiry = :expiry, #status = :status, "
            "#validation_key = :validation_key"
        ),
        "ExpressionAttributeNames": {
            "#expiry": EXPIRY_ATTR,
            "#response_data": DATA_ATTR,
            "#status": STATUS_ATTR,
            "#validation_key": VALIDATION_ATTR,
        },
        "ExpressionAttributeValues": {
            ":expiry": {"N": str(expiry)},
            ":response_data": {"S": data},
            ":status": {"S": COMPLETED},
            ":validation_key": {"S": validation},
        },
    }


class Seen(Enum):
    """What an existing record means for a request with the same key."""

    FREE = "free"  # no record, or one Powertools would overwrite (expired, or an abandoned INPROGRESS)
    REPLAY = "replay"  # COMPLETED with the same content: answer its event id
    IN_PROGRESS = "in_progress"  # another request holds the key right now: 409
    REUSED = "reused"  # same key, different content: 422


def classify(item: Mapping[str, Any] | None, validation: str, clock: Clock) -> tuple[Seen, str | None]:
    """Classify a stored record (DynamoDB JSON) the way Powertools' idempotency handler would.

    Returns the verdict and, for a replay, the stored event id.
    """
    if not item:
        return Seen.FREE, None
    if int(item[EXPIRY_ATTR]["N"]) < clock.now:
        return Seen.FREE, None
    # Powertools validates the payload before it looks at the status.
    if item.get(VALIDATION_ATTR, {}).get("S") != validation:
        return Seen.REUSED, None
    status = item[STATUS_ATTR]["S"]
    if status == INPROGRESS:
        deadline = item.get(IN_PROGRESS_EXPIRY_ATTR, {}).get("N")
        if deadline is not None and int(deadline) < clock.now_ms:
            return Seen.FREE, None
        return Seen.IN_PROGRESS, None
    stored = item.get(DATA_ATTR, {}).get("S")
    event_id = json.loads(stored).get("event_id") if stored else None
    return Seen.REPLAY, event_id
