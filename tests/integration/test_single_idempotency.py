"""The single path's idempotency protocol (plutus.ingest.idempotent) on the events' own items: a live claim is
answered 409, an abandoned one is taken over by the same content only, a claim never erases what the consumer
wrote, a key is remembered for as long as its event, and a claim whose event was refused inside the use case
is released so the client's corrected retry is accepted."""

from __future__ import annotations

import json
import time

from plutus.adapters import idempotency_records as records
from plutus.adapters.events_store import Retention
from plutus.adapters.idempotency_records import Clock
from plutus.adapters.idempotency_store import Claim, IdempotencyStore
from plutus.core.envelope import IngestRequest
from plutus.ingest.accept import IngestCommand, command_for
from plutus_dev.emulator.resources import Emulator
from tests.builders import an_event
from tests.integration.harness import Harness, harness


def _command(event: dict[str, object]) -> IngestCommand:
    return command_for(IngestRequest.model_validate(event))


def _claim(stack: Harness, event: dict[str, object], deadline_ms: int) -> Claim:
    """An INPROGRESS record for ``event``'s key, as another invocation holding it would have written; that
    invocation's claim."""
    command = _command(event)
    claim = Claim(command.event_id, command.digest)
    clock = Clock.read()
    update = records.claim_update(
        stack.stack.refs["EventsTable"],
        command.event_id,
        command.digest,
        deadline_ms,
        clock.now + 3600,
        clock,
        claim.token,
    )
    update.pop("ConditionExpression")
    update.pop("ReturnValuesOnConditionCheckFailure")
    values = update["ExpressionAttributeValues"]
    values.pop(":now_ms")
    stack.client("dynamodb").update_item(**update)
    return claim


def _item(stack: Harness, event_id: str) -> dict[str, object]:
    found = [i for i in stack.scan("EventsTable") if i["event_id"] == event_id]
    assert len(found) == 1
    return found[0]


def test_a_key_held_by_a_live_invocation_is_answered_409_and_nothing_is_queued(stack: Harness) -> None:
    # Given another invocation holds the key until well after now
    event = an_event("held-1")
    _claim(stack, event, int(time.time() * 1000) + 600_000)

    # When the same event arrives
    response = stack.post_event(event)

    # Then it is told to retry later, and nothing was queued
    assert response.status == 409
    assert response.headers["retry-after"] == "1"
    assert stack.queue_depth() == 0


def test_a_claim_whose_invocation_ended_is_taken_over(stack: Harness) -> None:
    # Given a claim whose invocation's deadline has passed (a crashed or timed-out Lambda)
    event = an_event("abandoned-1")
    _claim(stack, event, int(time.time() * 1000) - 1_000)

    # When the client retries, then the event is accepted, queued once and readable
    response = stack.post_event(event)
    assert response.status == 202
    assert stack.queue_depth() == 1
    assert stack.get_event(response.json()["event_id"]).status == 200


def test_a_claim_is_released_when_the_event_is_refused_inside_the_use_case(emulator: Emulator) -> None:
    with harness(emulator.url, parameters={"MaxBodyBytes": "262144"}) as stack:
        _released(stack)


def _released(stack: Harness) -> None:
    # Given an event within a 256 KiB body limit whose queued message is not (non-ASCII is \u-escaped)
    too_large = an_event("released-1", payload={"note": "é" * 50_000})
    body = json.dumps(too_large, ensure_ascii=False)  # 100 KB of UTF-8 on the wire, 300 KB once escaped
    assert stack.request("POST", "/api/v1/ingest", body).status == 422

    # When the client corrects it and retries with the same key
    response = stack.post_event(an_event("released-1", payload={"note": "short"}))

    # Then the key was free again: accepted, not 409 (held) or 422 (reused with other content)
    assert response.status == 202
    assert stack.queue_depth() == 1


def test_an_abandoned_claim_of_other_content_is_never_taken_over(stack: Harness) -> None:
    # Given a claim whose invocation died, for other content under the same key (its message may be queued)
    _claim(stack, an_event("abandoned-2", payload={"amount": 1}), int(time.time() * 1000) - 1_000)

    # When a request with the same key and new content arrives
    response = stack.post_event(an_event("abandoned-2", payload={"amount": 2}))

    # Then it is refused as a reused key, and nothing is queued
    assert response.status == 422
    assert stack.queue_depth() == 0


def test_a_takeover_keeps_what_the_consumer_wrote_and_its_second_message_changes_nothing(
    stack: Harness,
) -> None:
    # Given an ingest that queued its event and died before completing, and the consumer processed the event
    event = an_event("crashed-after-send")
    event_id = _command(event).event_id
    _claim(stack, event, int(time.time() * 1000) - 1_000)
    stack.client("dynamodb").update_item(
        TableName=stack.stack.refs["EventsTable"],
        Key={"event_id": {"S": event_id}},
        UpdateExpression="SET #status = :processed, attempts = :one, processed_at = :at",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={
            ":processed": {"S": "PROCESSED"},
            ":one": {"N": "1"},
            ":at": {"S": "2026-12-01T00:00:00.000000Z"},
        },
    )

    # When the client retries
    response = stack.post_event(event)

    # Then it is accepted under the same id, the event stays PROCESSED, and its second message is absorbed
    assert response.status == 202 and response.json()["event_id"] == event_id
    assert stack.drain() == 1
    item = _item(stack, event_id)
    assert item["status"] == "PROCESSED" and int(item["attempts"]) == 1
    assert item["processed_at"] == "2026-12-01T00:00:00.000000Z"
    assert item[records.STATE_ATTR] == records.COMPLETED


def test_a_key_is_remembered_for_as_long_as_its_event(stack: Harness) -> None:
    # Given an event accepted and processed
    event = an_event("remembered-1", payload={"amount": 1})
    first = stack.post_event(event)
    assert first.status == 202 and stack.drain() == 1

    # When the same request comes again, and then the key with other content
    again = stack.post_event(event)
    reused = stack.post_event(an_event("remembered-1", payload={"amount": 2}))

    # Then the first is answered from the event, the second refused; nothing queued
    assert again.status == 200 and again.json()["event_id"] == first.json()["event_id"]
    assert reused.status == 422
    assert stack.queue_depth() == 0
    assert _item(stack, first.json()["event_id"])["status"] == "PROCESSED"


def test_a_bare_claim_is_not_an_event(stack: Harness) -> None:
    # Given a key claimed by an invocation that has not answered
    event = an_event("claimed-only")
    _claim(stack, event, int(time.time() * 1000) + 600_000)

    # Then its event cannot be read: nothing was accepted
    assert stack.get_event(_command(event).event_id).status == 404


def test_a_release_never_deletes_an_item_the_consumer_wrote(stack: Harness) -> None:
    # Given a claim on an item the consumer already wrote (an earlier attempt's message was processed)
    event = an_event("release-guard")
    command = _command(event)
    claim = _claim(stack, event, int(time.time() * 1000) - 1_000)
    table = stack.stack.refs["EventsTable"]
    dynamodb = stack.client("dynamodb")
    dynamodb.update_item(
        TableName=table,
        Key={"event_id": {"S": command.event_id}},
        UpdateExpression="SET #status = :processed",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={":processed": {"S": "PROCESSED"}},
    )
    store = IdempotencyStore(dynamodb, table, Retention())

    # When that attempt gives its claim up, alone or in a batch
    store.release_one(claim)
    store.release([claim])

    # Then the event is still there, PROCESSED; a bare claim of another key is released by its own holder only
    assert _item(stack, command.event_id)["status"] == "PROCESSED"
    bare = an_event("release-bare")
    bare_claim = _claim(stack, bare, int(time.time() * 1000) + 600_000)
    store.release([Claim(bare_claim.event_id, bare_claim.digest)])  # same key and content, another request
    assert len([i for i in stack.scan("EventsTable") if i["event_id"] == bare_claim.event_id]) == 1
    store.release([bare_claim])
    assert [i for i in stack.scan("EventsTable") if i["event_id"] == bare_claim.event_id] == []
