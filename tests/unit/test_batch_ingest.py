"""The batch ingest use case against in-memory fakes of the idempotency store and the queue."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)

from plutus.adapters.idempotency_records import Clock, Seen
from plutus.adapters.idempotency_store import Claim, Claimed, Completion, Verdict
from plutus.adapters.queue import Message
from plutus.core.envelope import IngestRequest
from plutus.core.errors import EventNotQueuedError, InvalidEventError
from plutus.ingest.accept import command_for
from plutus.ingest.accept_batch import BatchIngest, Outcome
from tests.fakes import settings


@dataclass
class FakeStore:
    """Records by key: (status, validation, event id), with the store's verdicts."""

    records: dict[str, tuple[str, str, str | None]] = field(default_factory=dict)
    fail_claim: set[str] = field(default_factory=set)  # keys whose claim has an unknown outcome
    fail_completion: set[str] = field(default_factory=set)
    released: list[str] = field(default_factory=list)

    def _verdict(self, rid: str, validation: str) -> Verdict | None:
        if rid not in self.records:
            return None
        status, stored, event_id = self.records[rid]
        if stored != validation:
            return Seen.REUSED, None
        return (Seen.IN_PROGRESS, None) if status == "INPROGRESS" else (Seen.REPLAY, event_id)

    def seen(self, claims: Sequence[Claim], clock: Clock) -> dict[str, Verdict]:
        found = {c.rid: self._verdict(c.rid, c.validation) for c in claims}
        return {rid: v for rid, v in found.items() if v is not None}

    def claim(self, claims: Sequence[Claim], clock: Clock, expiry: int, deadline_ms: int) -> Claimed:
        out = Claimed()
        for c in claims:
            if c.rid in self.fail_claim:
                out.unavailable.append(c.rid)
            elif (verdict := self._verdict(c.rid, c.validation)) is not None:
                out.answered[c.rid] = verdict
            else:
                self.records[c.rid] = ("INPROGRESS", c.validation, None)
                out.claimed.append(c.rid)
        return out

    def complete(self, completions: Sequence[Completion], expiry: int) -> set[str]:
        done = set()
        for c in completions:
            if c.rid not in self.fail_completion:
                self.records[c.rid] = ("COMPLETED", c.validation, c.result.event_id)
                done.add(c.rid)
        return done

    def release(self, rids: Sequence[str]) -> None:
        for rid in rids:
            self.records.pop(rid, None)
            self.released.append(rid)


@dataclass
class FakeQueue:
    messages: list[Message] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)  # message bodies containing one of these are not taken

    def send(self, messages: Sequence[Message], extra: dict[str, Any] | None = None) -> set[str]:
        taken = [m for m in messages if not any(r in m.body for r in self.refuse)]
        self.messages += taken
        return {m.id for m in taken}


def _command(key: str, amount: int = 1, note: str = "") -> Any:
    payload = {"amount": amount, "note": note}
    request = IngestRequest.model_validate(
        {"source": "shop", "schema_version": "1.0", "idempotency_key": key, "payload": payload}
    )
    return command_for(request)


def _batch(store: FakeStore, queue: FakeQueue, **overrides: Any) -> BatchIngest:
    return BatchIngest(settings(**overrides), store, queue, remaining_ms=lambda: 1_000)  # type: ignore[arg-type]


def _rid(store: FakeStore, batch: BatchIngest, key: str) -> str:
    from plutus.adapters import idempotency_records as records

    return records.record_id(batch.settings.idempotency_key_prefix, "shop", key)


def test_new_events_are_claimed_queued_and_completed_in_order() -> None:
    store, queue = FakeStore(), FakeQueue()
    commands = [_command("k1"), _command("k2")]

    outcomes = _batch(store, queue)(commands)

    assert outcomes == [Outcome(event_id=commands[0].event_id), Outcome(event_id=commands[1].event_id)]
    assert len(queue.messages) == 2
    assert {status for status, _, _ in store.records.values()} == {"COMPLETED"}


def test_a_key_repeated_in_one_batch_is_one_event() -> None:
    store, queue = FakeStore(), FakeQueue()
    first, same, other = _command("k1"), _command("k1"), _command("k1", amount=2)

    outcomes = _batch(store, queue)([first, same, other])

    assert outcomes[0] == Outcome(event_id=first.event_id)
    assert outcomes[1] == Outcome(event_id=first.event_id, replayed=True)
    assert isinstance(outcomes[2].error, IdempotencyValidationError)
    assert len(queue.messages) == 1


def test_keys_seen_before_are_answered_from_their_records() -> None:
    # Given one key completed earlier, one held by a request in progress, one reused with new content
    store, queue = FakeStore(), FakeQueue()
    batch = _batch(store, queue)
    done, busy, reused = _command("done"), _command("busy"), _command("reused")
    batch([done, reused])
    store.records[_rid(store, batch, "busy")] = ("INPROGRESS", busy_validation(busy), None)
    queue.messages.clear()

    outcomes = batch([done, busy, _command("reused", amount=99)])

    assert outcomes[0] == Outcome(event_id=done.event_id, replayed=True)
    assert isinstance(outcomes[1].error, IdempotencyAlreadyInProgressError)
    assert isinstance(outcomes[2].error, IdempotencyValidationError)
    assert queue.messages == []


def busy_validation(command: Any) -> str:
    from plutus.adapters import idempotency_records as records

    return records.validation_hash(command.digest)


def test_an_event_sqs_did_not_take_is_a_503_and_its_claim_is_released() -> None:
    store, queue = FakeStore(), FakeQueue(refuse={"marked-lost"})
    batch = _batch(store, queue)
    lost = _command("k-lost", note="marked-lost")

    outcomes = batch([_command("k-ok"), lost])

    assert outcomes[0].error is None and isinstance(outcomes[1].error, EventNotQueuedError)
    assert store.released == [_rid(store, batch, "k-lost")]
    # so the client's retry is a new claim, not a 409
    queue.refuse.clear()
    assert batch([lost])[0] == Outcome(event_id=lost.event_id)


def test_an_event_queued_but_not_completed_is_a_503_and_released() -> None:
    store, queue = FakeStore(), FakeQueue()
    batch = _batch(store, queue)
    store.fail_completion.add(_rid(store, batch, "k2"))

    outcomes = batch([_command("k1"), _command("k2")])

    assert outcomes[0].error is None and isinstance(outcomes[1].error, EventNotQueuedError)
    assert store.released == [_rid(store, batch, "k2")]


def test_a_key_whose_claim_has_an_unknown_outcome_is_a_503_and_never_queued() -> None:
    store, queue = FakeStore(), FakeQueue()
    batch = _batch(store, queue)
    store.fail_claim.add(_rid(store, batch, "k1"))

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
