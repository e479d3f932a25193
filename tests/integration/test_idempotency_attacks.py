"""Attacks on the idempotency records on the events' own items (plutus.adapters.idempotency_records): races
between a claim, its takeover, a late release and the completion; each test stages the interleaving with the
adapter's own calls against the moto server, on the events table from template.yaml."""

from __future__ import annotations

import base64
import json
import random
import time
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from plutus.adapters import idempotency_records as records
from plutus.adapters.events_store import KEPT_MESSAGE, Retention, kept_id
from plutus.adapters.idempotency_records import Seen
from plutus.adapters.idempotency_store import Claim, IdempotencyStore
from plutus.core.envelope import IngestRequest, IngestResult, utc_now
from plutus.core.registry import EventContext, EventModel, Router
from plutus.ingest.accept import IngestCommand, command_for
from plutus_dev.cli import replay
from plutus_dev.cli.app import app
from plutus_dev.emulator.lambda_runtime import InProcessFunction
from plutus_dev.emulator.resources import Emulator
from plutus_dev.faults.proxy import FaultKind, FaultProxy, Rule
from tests.builders import an_event
from tests.integration.harness import Harness, harness


def _command(event: dict[str, object]) -> IngestCommand:
    return command_for(IngestRequest.model_validate(event))


def _result(command: IngestCommand) -> IngestResult:
    return IngestResult(
        event_id=command.event_id,
        source=command.source,
        event_type=command.event_type,
        schema_version=command.schema_version,
        received_at=utc_now(),
    )


def _store(stack: Harness) -> IdempotencyStore:
    return IdempotencyStore(stack.client("dynamodb"), stack.stack.refs["EventsTable"], Retention())


def _now_ms() -> int:
    return int(time.time() * 1000)


def test_a_late_release_never_deletes_the_claim_that_took_over(stack: Harness) -> None:
    # Given invocation A claimed a key and outlived its deadline (its release is still to come), and B, the
    # client's retry with the same content, took the claim over
    store = _store(stack)
    command = _command(an_event("takeover-release", payload={"amount": 1}))
    claim_a, claim_b = Claim(command.event_id, command.digest), Claim(command.event_id, command.digest)
    assert store.claim_one(claim_a, _now_ms() - 1_000) is None
    assert store.claim_one(claim_b, _now_ms() + 600_000) is None

    # When A's send fails and A gives its claim up, then B completes (its message is queued)
    store.release_one(claim_a)
    store.release([claim_a])
    store.complete_one(_result(command), command.digest)

    # Then B's record is intact: the same request again is a replay, other content a reused key
    held = store.claim_one(Claim(command.event_id, command.digest), _now_ms() + 600_000)
    assert held is not None and held[0] is Seen.REPLAY
    other = _command(an_event("takeover-release", payload={"amount": 2}))
    reused = store.claim_one(Claim(other.event_id, other.digest), _now_ms() + 600_000)
    assert reused is not None and reused[0] is Seen.REUSED


def test_other_content_never_claims_a_key_whose_taken_over_claim_is_still_sending(stack: Harness) -> None:
    # Given A's dead claim was taken over by B (same content), which is sending its message
    store = _store(stack)
    command = _command(an_event("takeover-steal", payload={"amount": 1}))
    claim_a, claim_b = Claim(command.event_id, command.digest), Claim(command.event_id, command.digest)
    assert store.claim_one(claim_a, _now_ms() - 1_000) is None
    assert store.claim_one(claim_b, _now_ms() + 600_000) is None

    # When A gives its claim up late, and a request with other content for the key arrives
    store.release_one(claim_a)
    other = _command(an_event("takeover-steal", payload={"amount": 2}))
    held = store.claim_one(Claim(other.event_id, other.digest), _now_ms() + 600_000)

    # Then that request is refused: B holds the key (its message may be on the queue already)
    assert held is not None and held[0] is Seen.REUSED


def test_a_completion_whose_claim_vanished_keeps_the_content_digest(stack: Harness) -> None:
    # Given a claim that is gone by the time its holder completes (whatever removed it: a release, the TTL)
    store = _store(stack)
    command = _command(an_event("vanished-claim"))
    claim = Claim(command.event_id, command.digest)
    assert store.claim_one(claim, _now_ms() + 600_000) is None
    store.release_one(claim)

    # When the holder completes (its message was queued)
    store.complete_one(_result(command), command.digest)

    # Then the record it leaves still names its content: the same request is a replay, never a 422
    item = stack.client("dynamodb").get_item(
        TableName=stack.stack.refs["EventsTable"], Key={"event_id": {"S": command.event_id}}
    )["Item"]
    assert item[records.DIGEST_ATTR]["S"] == command.digest
    held = store.claim_one(claim, _now_ms() + 600_000)
    assert held is not None and held[0] is Seen.REPLAY


@pytest.fixture
def faulty(proxy: FaultProxy) -> Iterator[Harness]:
    """Ingest talks to the emulator through the fault proxy, with a short Lambda timeout (claim deadline)."""
    with harness(proxy.url) as h:
        h.ingest = InProcessFunction("IngestFunction", h.ingest.handler, timeout=2)
        yield h


@pytest.mark.slow
@pytest.mark.parametrize("path", ["single", "batch"])
def test_a_send_whose_outcome_is_unknown_never_frees_the_key_for_other_content(
    faulty: Harness, proxy: FaultProxy, path: str
) -> None:
    # Given SQS applies every SendMessage of an event but each answer is lost (500 after the write), so the
    # producer gets a 503 while the event's message is on the queue, and the consumer then processes it
    proxy.add_rule(
        Rule(lambda c: c.service == "sqs" and c.operation.startswith("SendMessage"), FaultKind.LOST_500)
    )
    first = an_event("send-unknown", payload={"amount": 1})
    if path == "single":
        assert faulty.post_event(first).status == 503
    else:
        response = faulty.post_batch([first])
        assert response.status == 200 and response.json()["results"][0]["status"] == 503
    proxy.clear()
    assert faulty.drain() >= 1
    event_id = _command(first).event_id
    assert faulty.get_event(event_id).json()["status"] == "PROCESSED"

    # When the key comes again with other content
    other = an_event("send-unknown", payload={"amount": 2})
    response = faulty.post_event(other) if path == "single" else faulty.post_batch([other])

    # Then it is refused as a reused key: a 202 would accept content that is never processed (its message is
    # absorbed as a duplicate of the first)
    status = response.status if path == "single" else response.json()["results"][0]["status"]
    assert status == 422


class AlwaysFailsV1(EventModel):
    event_type = "test_attack_always_fails"
    schema_version = "1.0"


failing_router = Router("test-attacks")


@failing_router.on(AlwaysFailsV1)
def handle_fail_always(event: AlwaysFailsV1, ctx: EventContext) -> None:
    raise RuntimeError("downstream unavailable")


def test_a_failed_event_keeping_a_large_message_still_answers_its_key(emulator: Emulator) -> None:
    with harness(emulator.url, parameters={"MaxReceiveCount": "1"}, routers=[failing_router]) as stack:
        # Given an event that failed for good and keeps its (incompressible, ~150 KB) message for replay
        blob = base64.b64encode(random.Random(7).randbytes(150_000)).decode()
        event = an_event("failed-large", "test_attack_always_fails", payload={"blob": blob})
        accepted = stack.post_event(event)
        assert accepted.status == 202
        event_id = accepted.json()["event_id"]
        stack.drain()
        assert stack.get_event(event_id).json()["status"] == "FAILED"
        dynamodb, table = stack.client("dynamodb"), stack.stack.refs["EventsTable"]
        kept = dynamodb.get_item(TableName=table, Key={"event_id": {"S": kept_id(event_id)}})["Item"]
        assert len(kept[KEPT_MESSAGE]["B"]) > 100_000

        # When the same request comes again, alone and in a batch, and the key with other content
        again = stack.post_event(event)
        batch = stack.post_batch(
            [event, an_event("failed-large", "test_attack_always_fails", payload={"x": 1})]
        )
        reused = stack.post_event(an_event("failed-large", "test_attack_always_fails", payload={"x": 1}))

        # Then the duplicates are replays of the event, the other content a reused key; nothing is queued
        assert again.status == 200 and again.json()["event_id"] == event_id
        assert [r["status"] for r in batch.json()["results"]] == [200, 422]
        assert reused.status == 422
        assert stack.queue_depth() == 0
        assert stack.get_event(event_id).json()["status"] == "FAILED"
        # And the item those duplicates wrote to (single) and read (batch) is small, the message being kept
        # apart: each is billed 1 unit, not the ~150 the message would cost (review finding M1)
        item = dynamodb.get_item(TableName=table, Key={"event_id": {"S": event_id}})["Item"]
        assert KEPT_MESSAGE not in item and len(json.dumps(item)) < 1024


def test_a_bare_claim_is_no_event_to_the_operator_cli(stack: Harness) -> None:
    # Given a key claimed by an ingest that has not answered (or never will)
    command = _command(an_event("bare-for-cli"))
    assert _store(stack).claim_one(Claim(command.event_id, command.digest), _now_ms() + 600_000) is None

    # Then `plutus events get` and replay by id find no event, as GET /api/v1/events/{id} does
    shown = CliRunner().invoke(app, ["events", "get", command.event_id])
    assert shown.exit_code == 1 and "no event" in shown.output
    dynamodb, sqs = stack.client("dynamodb"), stack.client("sqs")
    (result,) = replay.replay_events(
        dynamodb, sqs, stack.stack.refs["EventsTable"], stack.queue_url, [command.event_id]
    )
    assert result.outcome is replay.Outcome.NOT_FOUND
    assert stack.queue_depth() == 0


def test_two_requests_with_one_key_and_one_deadline_are_told_apart(stack: Harness) -> None:
    # Given two requests for one key that started in the same millisecond with the same timeout (concurrent
    # retries of one webhook): their claims carry the same deadline
    store = _store(stack)
    command = _command(an_event("same-deadline"))
    first, second = Claim(command.event_id, command.digest), Claim(command.event_id, command.digest)
    deadline = _now_ms() + 600_000

    # When both claim the key
    assert store.claim_one(first, deadline) is None
    held = store.claim_one(second, deadline)

    # Then only the first holds it: the second is told it is in progress, never that the claim is its own
    assert held is not None and held[0] is Seen.IN_PROGRESS
    store.release_one(second)  # and the second cannot release the first's claim
    again = store.claim_one(Claim(command.event_id, command.digest), deadline)
    assert again is not None and again[0] is Seen.IN_PROGRESS
