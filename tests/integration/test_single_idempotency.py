"""The single path's idempotency protocol (plutus.ingest.idempotent) on the template's idempotency table:
a live claim is answered 409, an abandoned one is taken over, and a claim whose event was refused inside the
use case is released so the client's corrected retry is accepted."""

from __future__ import annotations

import json
import time

from plutus.adapters import idempotency_records as records
from plutus.adapters.idempotency_records import Clock
from plutus.core.envelope import IngestRequest
from plutus.ingest.accept import command_for
from plutus_dev.emulator.resources import Emulator
from tests.builders import an_event
from tests.integration.harness import Harness, harness

PREFIX = "plutus.ingest"


def _claim(stack: Harness, event: dict[str, object], deadline_ms: int) -> None:
    """An INPROGRESS record for ``event``'s key, as another invocation holding it would have written."""
    command = command_for(IngestRequest.model_validate(event))
    clock = Clock.read()
    put = records.in_progress_put(
        stack.stack.refs["IdempotencyTable"],
        records.record_id(PREFIX, command.source, command.idempotency_key),
        records.validation_hash(command.digest),
        clock.now + 3600,
        deadline_ms,
        clock,
    )
    put.pop("ConditionExpression")
    for name in (
        "ExpressionAttributeNames",
        "ExpressionAttributeValues",
        "ReturnValuesOnConditionCheckFailure",
    ):
        put.pop(name)
    stack.client("dynamodb").put_item(**put)


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
