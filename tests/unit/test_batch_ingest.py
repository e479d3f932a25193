"""The batch ingest use case against in-memory fakes of the idempotency store and the queue."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from plutus.adapters.idempotency_records import Clock, Seen
from plutus.adapters.idempotency_store import Claim, Claimed
from plutus.adapters.queue import Message, Sent
from plutus.core.envelope import IngestRequest, IngestResult
from plutus.core.errors import (
    EventNotQueuedError,
    IdempotencyKeyReusedError,
    InvalidEventError,
    RequestInProgressError,
)
from plutus.ingest.accept import command_for
from plutus.ingest.accept_batch import BatchIngest, Outcome
from tests.fakes import settings


@dataclass
class FakeStore:
    """Records by event id: (state, digest), with the store's verdicts."""

    records: dict[str, tuple[str, str]] = field(default_factory=dict)
    fail_claim: set[str] = field(default_factory=set)  # keys whose claim has an unknown outcome
    fail_completion: set[str] = field(default_factory=set)
    released: list[str] = field(default_factory=list)

    def _verdict(self, claim: Claim) -> Seen | None:
        if claim.event_id not in self.records:
            return None
        state, digest = self.records[claim.event_id]
        if digest != claim.digest:
            return Seen.REUSED
        return Seen.IN_PROGRESS if state == "INPROGRESS" else Seen.REPLAY

    def seen(self, claims: Sequence[Claim], clock: Clock) -> dict[str, Seen]:
        found = {c.event_id: self._verdict(c) for c in claims}
        return {key: v for key, v in found.items() if v is not None}

    def claim(self, claims: Sequence[Claim], clock: Clock, deadline_ms: int) -> Claimed:
        out = Claimed()
        for c in claims:
            if c.event_id in self.fail_claim:
                out.unavailable.append(c.event_id)
            elif (verdict := self._verdict(c)) is not None:
                out.answered[c.event_id] = verdict
            else:
                self.records[c.event_id] = ("INPROGRESS", c.digest)
                out.claimed.append(c.event_id)
        return out

    def complete(self, results: Sequence[IngestResult], digests: Mapping[str, str]) -> set[str]:
        done = set()
        for result in results:
            if result.event_id not in self.fail_completion:
                self.records[result.event_id] = ("COMPLETED", digests[result.event_id])
                done.add(result.event_id)
        return done

    def release(self, claims: Sequence[Claim]) -> None:
        for claim in claims:
            self.records.pop(claim.event_id, None)
            self.released.append(claim.event_id)


@dataclass
class FakeQueue:
    messages: list[Message] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)  # message bodies containing one of these are not taken

    def send(self, messages: Sequence[Message], extra: dict[str, Any] | None = None) -> Sent:
        taken = [m for m in messages if not any(r in m.body for r in self.refuse)]
        self.messages += taken
        return Sent(accepted={m.id for m in taken})


def _command(key: str, amount: int = 1, note: str = "") -> Any:
    payload = {"amount": amount, "note": note}
    request = IngestRequest.model_validate(
        {"source": "shop", "schema_version": "1.0", "idempotency_key": key, "payload": payload}
    )
    return command_for(request)


def _batch(store: FakeStore, queue: FakeQueue, **overrides: Any) -> BatchIngest:
    return BatchIngest(settings(**overrides), store, queue, remaining_ms=lambda: 1_000)  # type: ignore[arg-type]


def _id(key: str) -> str:
    return str(_command(key).event_id)


def test_new_events_are_claimed_queued_and_completed_in_order() -> None:
    store, queue = FakeStore(), FakeQueue()
    commands = [_command("k1"), _command("k2")]

    outcomes = _batch(store, queue)(commands)

    assert outcomes == [Outcome(event_id=commands[0].event_id), Outcome(event_id=commands[1].event_id)]
    assert len(queue.messages) == 2
    assert {state for state, _ in store.records.values()} == {"COMPLETED"}


def test_a_key_repeated_in_one_batch_is_one_event() -> None:
    store, queue = FakeStore(), FakeQueue()
    first, same, other = _command("k1"), _command("k1"), _command("k1", amount=2)

    outcomes = _batch(store, queue)([first, same, other])

    assert outcomes[0] == Outcome(event_id=first.event_id)
    assert outcomes[1] == Outcome(event_id=first.event_id, replayed=True)
    assert isinstance(outcomes[2].error, IdempotencyKeyReusedError)
    assert len(queue.messages) == 1


def test_keys_seen_before_are_answered_from_their_records() -> None:
    # Given one key completed earlier, one held by a request in progress, one reused with new content
    store, queue = FakeStore(), FakeQueue()
    batch = _batch(store, queue)
    done, busy, reused = _command("done"), _command("busy"), _command("reused")
    batch([done, reused])
    store.records[busy.event_id] = ("INPROGRESS", busy.digest)
    queue.messages.clear()

    outcomes = batch([done, busy, _command("reused", amount=99)])

    assert outcomes[0] == Outcome(event_id=done.event_id, replayed=True)
    assert isinstance(outcomes[1].error, RequestInProgressError)
    assert isinstance(outcomes[2].error, IdempotencyKeyReusedError)
    assert queue.messages == []


def test_an_event_sqs_did_not_take_is_a_503_and_its_claim_is_released() -> None:
    store, queue = FakeStore(), FakeQueue(refuse={"marked-lost"})
    batch = _batch(store, queue)
    lost = _command("k-lost", note="marked-lost")

    outcomes = batch([_command("k-ok"), lost])

    assert outcomes[0].error is None and isinstance(outcomes[1].error, EventNotQueuedError)
    assert store.released == [lost.event_id]
    # so the client's retry is a new claim, not a 409
    queue.refuse.clear()
    assert batch([lost])[0] == Outcome(event_id=lost.event_id)


def test_an_event_queued_but_not_completed_is_a_503_and_keeps_its_claim() -> None:
    # Its message is on the queue: released, the key could be claimed again by other content, whose 202
    # would then name an event the consumer already processed with the first.
    store, queue = FakeStore(), FakeQueue()
    batch = _batch(store, queue)
    store.fail_completion.add(_id("k2"))

    outcomes = batch([_command("k1"), _command("k2")])

    assert outcomes[0].error is None and isinstance(outcomes[1].error, EventNotQueuedError)
    assert store.released == []
    assert store.records[_id("k2")][0] == "INPROGRESS"
    assert isinstance(batch([_command("k2", amount=2)])[0].error, IdempotencyKeyReusedError)


def test_a_key_whose_claim_has_an_unknown_outcome_is_a_503_and_never_queued() -> None:
    store, queue = FakeStore(), FakeQueue()
    batch = _batch(store, queue)
    store.fail_claim.add(_id("k1"))

    outcomes = batch([_command("k1"), _command("k2")])

    assert isinstance(outcomes[0].error, EventNotQueuedError) and outcomes[1].error is None
    assert len(queue.messages) == 1


def test_invalid_items_are_answered_as_themselves_and_the_rest_go_through() -> None:
    # An event's own size is held to max_body_bytes by parsing (alike for single and batch); what reaches the
    # use case can still outgrow that limit once \u-escaped: refused as the single path refuses it.
    store, queue = FakeStore(), FakeQueue()
    invalid = InvalidEventError("bad", [{"field": "source", "message": "required"}])

    outcomes = _batch(store, queue)([invalid, _command("big", note="é" * 50_000), _command("ok")])

    assert outcomes[0].error is invalid
    assert (
        isinstance(outcomes[1].error, InvalidEventError)
        and outcomes[1].error.detail == "the event is too large"
    )
    assert outcomes[2].error is None and len(queue.messages) == 1
