"""Large payloads over the emulator: inline below the threshold, a checked S3 pointer above it.

The bucket, queues and tables come from template.yaml; the handlers are the real ingest and consumer.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest

from plutus.core.payloads import payload_prefix
from plutus.core.registry import EventContext, EventModel, Router
from plutus_dev.cli.replay import Outcome, replay_one
from plutus_dev.emulator.resources import Emulator
from tests import tables
from tests.builders import a_batch, an_event
from tests.integration.harness import Harness, harness

THRESHOLD = 4_096


class BlobRecordedV1(EventModel):
    event_type = "test_blob_recorded"
    schema_version = "1.0"

    blob: str


router = Router("test")
# What the handler saw, by event id: the blob's length and digest (a handler never sees a pointer).
seen: dict[str, tuple[int, str]] = {}
failing: set[str] = set()


@router.on(BlobRecordedV1)
def handle_record_blob(event: BlobRecordedV1, ctx: EventContext) -> None:
    if event.blob[:1] in failing:
        raise RuntimeError("downstream unavailable")
    seen[ctx.event_id] = (len(event.blob), hashlib.sha256(event.blob.encode()).hexdigest())


blob_event = partial(an_event, event_type="test_blob_recorded")


@pytest.fixture
def big(emulator: Emulator) -> Iterator[Harness]:
    seen.clear()
    failing.clear()
    parameters = {"MaxReceiveCount": "3", "InlineMessageMaxBytes": str(THRESHOLD)}
    with harness(emulator.url, parameters=parameters, routers=[router]) as h:
        yield h


def _messages(h: Harness) -> list[dict[str, Any]]:
    return [
        json.loads(m["Body"]) for m in tables.receive(h.client("sqs"), h.queue_url, 10, visibility_timeout=0)
    ]


def _key_of(h: Harness, event_id: str) -> str:
    """The one stored payload object of ``event_id``."""
    (key,) = [k for k in _objects(h) if k.startswith(payload_prefix(event_id))]
    return key


def _objects(h: Harness) -> dict[str, bytes]:
    s3, bucket = h.client("s3"), h.stack.refs["PayloadBucket"]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    return {k: s3.get_object(Bucket=bucket, Key=k)["Body"].read() for k in keys}


def test_a_small_payload_stays_inline_and_stores_nothing(big: Harness) -> None:
    # Given an event well under the threshold
    event_id = big.post_event(blob_event("small", payload={"blob": "a" * 100})).json()["event_id"]

    # Then its message carries the payload, and the bucket stays empty
    [message] = _messages(big)
    assert message["payload"] == {"blob": "a" * 100} and "payload_ref" not in message
    assert _objects(big) == {}

    # And it is processed as before
    big.drain()
    assert big.get_event(event_id).json()["status"] == "PROCESSED"
    assert seen[event_id][0] == 100


def test_a_large_payload_goes_to_s3_with_a_matching_digest_and_is_resolved_for_the_handler(
    big: Harness,
) -> None:
    # Given an event above the threshold
    blob = "b" * 50_000
    response = big.post_event(blob_event("large", payload={"blob": blob}))
    assert response.status == 202, response.body
    event_id = response.json()["event_id"]

    # Then its message is a pointer, to its own key, whose size and sha256 match the stored object
    [message] = _messages(big)
    assert "payload" not in message
    pointer = message["payload_ref"]
    stored = _objects(big)
    assert list(stored) == [pointer["key"]] and pointer["key"].startswith(payload_prefix(event_id))
    assert pointer["bucket"] == big.stack.refs["PayloadBucket"]
    assert pointer["size"] == len(stored[pointer["key"]])
    assert pointer["sha256"] == hashlib.sha256(stored[pointer["key"]]).hexdigest()
    assert json.loads(stored[pointer["key"]]) == {"blob": blob}

    # When the consumer runs
    big.drain()

    # Then the handler saw the payload itself, and the event is PROCESSED
    assert seen[event_id] == (len(blob), hashlib.sha256(blob.encode()).hexdigest())
    assert big.get_event(event_id).json()["status"] == "PROCESSED"


def test_a_retried_ingest_rewrites_the_same_object(big: Harness) -> None:
    # Given the same large event posted twice (a client retry)
    body = blob_event("again", payload={"blob": "c" * 20_000})
    first, second = big.post_event(body), big.post_event(body)

    # Then it is one event, one message and one object
    assert (first.status, second.status) == (202, 200)
    assert len(_messages(big)) == 1 and len(_objects(big)) == 1


def test_a_tampered_object_fails_the_event_with_its_error_recorded_and_nothing_processed(
    big: Harness,
) -> None:
    # Given a large event whose stored payload is replaced after ingest by one of the same size
    event_id = big.post_event(blob_event("tampered", payload={"blob": "d" * 30_000})).json()["event_id"]
    s3, bucket = big.client("s3"), big.stack.refs["PayloadBucket"]
    original = s3.get_object(Bucket=bucket, Key=_key_of(big, event_id))["Body"].read()
    forged = original.replace(b"d", b"e")
    assert len(forged) == len(original)
    s3.put_object(Bucket=bucket, Key=_key_of(big, event_id), Body=forged)

    # When the consumer runs
    big.drain()

    # Then the handler never ran, and the event is FAILED at once (permanent), dead-lettered, error recorded
    assert event_id not in seen
    view = big.get_event(event_id).json()
    assert view["status"] == "FAILED" and view["attempts"] == 1
    assert view["last_error"].startswith(
        "PayloadIntegrityError: the stored payload does not match its sha256"
    )
    assert "eeee" not in view["last_error"] and "dddd" not in view["last_error"]
    [dead] = tables.receive(big.client("sqs"), big.dlq_url, 10)
    assert json.loads(dead["Body"])["event_id"] == event_id


def test_a_deleted_object_fails_the_event_as_missing(big: Harness) -> None:
    event_id = big.post_event(blob_event("deleted", payload={"blob": "f" * 30_000})).json()["event_id"]
    big.client("s3").delete_object(Bucket=big.stack.refs["PayloadBucket"], Key=_key_of(big, event_id))

    big.drain()

    view = big.get_event(event_id).json()
    assert view["status"] == "FAILED" and "missing" in view["last_error"] and event_id not in seen


def test_the_batch_route_applies_the_same_threshold_per_event(big: Harness) -> None:
    # Given a batch of one small and one large event
    events = [
        blob_event("batch-small", payload={"blob": "g" * 10}),
        blob_event("batch-large", payload={"blob": "h" * 40_000}),
    ]

    # When it is ingested and processed
    results = big.post_batch(a_batch(events)["events"]).json()["results"]
    assert [r["status"] for r in results] == [202, 202]
    messages = {m["event_id"]: m for m in _messages(big)}
    small, large = (r["event_id"] for r in results)

    # Then only the large one is a pointer, and both reach the handler whole
    assert "payload" in messages[small] and "payload_ref" in messages[large]
    assert [k.startswith(payload_prefix(large)) for k in _objects(big)] == [True]
    big.drain()
    assert seen[small][0] == 10 and seen[large][0] == 40_000


def test_a_failed_large_event_keeps_its_pointer_and_replays(big: Harness) -> None:
    # Given a large event whose handler fails on every attempt
    failing.add("i")
    event_id = big.post_event(blob_event("fails", payload={"blob": "i" * 30_000})).json()["event_id"]
    big.drain()
    assert big.get_event(event_id).json()["status"] == "FAILED"

    # When the cause is fixed and the event is replayed by id
    failing.clear()
    dynamodb, sqs = big.client("dynamodb"), big.client("sqs")
    table = big.stack.refs["EventsTable"]
    result = replay_one(dynamodb, sqs, table, big.queue_url, event_id, s3=big.client("s3"))

    # Then the pointer was re-enqueued as a pointer, and the event is processed from the stored payload
    assert result.outcome is Outcome.REPLAYED
    [message] = _messages(big)
    assert "payload_ref" in message and "payload" not in message
    big.drain()
    assert big.get_event(event_id).json()["status"] == "PROCESSED"
    assert seen[event_id][0] == 30_000


def test_replay_says_so_when_the_stored_payload_is_gone(big: Harness) -> None:
    # Given a FAILED large event whose stored payload has expired
    failing.add("j")
    event_id = big.post_event(blob_event("expired", payload={"blob": "j" * 30_000})).json()["event_id"]
    big.drain()
    s3 = big.client("s3")
    s3.delete_object(Bucket=big.stack.refs["PayloadBucket"], Key=_key_of(big, event_id))

    # When it is replayed
    table = big.stack.refs["EventsTable"]
    result = replay_one(big.client("dynamodb"), big.client("sqs"), table, big.queue_url, event_id, s3=s3)

    # Then nothing is re-enqueued, and the operator is told why
    assert result.outcome is Outcome.NOT_REPLAYABLE and "gone" in result.detail
    assert big.queue_depth() == 0


def test_a_failed_inline_event_too_large_for_its_item_keeps_a_pointer(emulator: Emulator) -> None:
    # Given an inline threshold above what an event item keeps (300 KB), and a 350 KB event that fails
    # (two receives: the test peeks at the message once)
    parameters = {"MaxReceiveCount": "2", "InlineMessageMaxBytes": "1000000"}
    with harness(emulator.url, parameters=parameters, routers=[router]) as h:
        failing.add("k")
        blob = "k" * 350_000
        event_id = h.post_event(blob_event("inline-big", payload={"blob": blob})).json()["event_id"]
        assert "payload" in _messages(h)[0]

        # When it fails for good
        h.drain()

        # Then its item keeps a pointer message, and the payload is stored under its own key
        [item] = [i for i in h.scan("EventsTable") if i["event_id"] == f"kept:{event_id}"]
        kept = json.loads(zlib.decompress(bytes(item["kept_message"])))
        assert kept["payload_ref"]["key"].startswith(payload_prefix(event_id))
        assert json.loads(_objects(h)[kept["payload_ref"]["key"]]) == {"blob": blob}

        # And a replay, the cause fixed, processes it from the stored copy
        failing.clear()
        table = h.stack.refs["EventsTable"]
        result = replay_one(h.client("dynamodb"), h.client("sqs"), table, h.queue_url, event_id)
        assert result.outcome is Outcome.REPLAYED
        h.drain()
        assert h.get_event(event_id).json()["status"] == "PROCESSED" and seen[event_id][0] == 350_000
