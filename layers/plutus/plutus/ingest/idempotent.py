"""Run a function once per idempotency key: Powertools' idempotency protocol, on the records it writes.

The single path used Powertools' ``@idempotent_function``. Its import (the persistence layers, boto3 and
s3transfer with them) and its per-call work (serialising the command to hash it again with jmespath) were
most of what made a cold start and a new event dearer than the bare Powertools reference, for nothing Plutus
needs: it already derives the key and the content digest itself, and the batch path already writes the same
records (:mod:`plutus.adapters.idempotency_records`, checked against Powertools' own output). So one key is
deduplicated across both paths, and against records Powertools itself wrote.

The protocol, as Powertools runs it: claim the key with a conditional INPROGRESS put (its deadline the
invocation's); a key held by a live record is answered from it (replay, 409 in progress, 422 reused with new
content); the function runs; if it raises, the claim is deleted so a retry can succeed; if it returns, the
record completes, in the same transaction that writes the event RECEIVED (so its status is readable at 202).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from plutus.adapters import idempotency_records as records
from plutus.adapters.idempotency_records import Clock, Seen
from plutus.adapters.idempotency_store import Claim, Completion, IdempotencyStore
from plutus.core.envelope import IngestResult
from plutus.core.errors import EventNotQueuedError, IdempotencyKeyReusedError, RequestInProgressError
from plutus.settings import Settings


class Keyed(Protocol):
    """What keys a command (``plutus.ingest.accept.IngestCommand`` has it)."""

    @property
    def source(self) -> str:
        """Who sent the event."""
        ...

    @property
    def idempotency_key(self) -> str:
        """The producer's key for it."""
        ...

    @property
    def digest(self) -> str:
        """Its content digest: the same key with another digest is a reused key."""
        ...

    @property
    def event_id(self) -> str:
        """The id derived from the three above."""
        ...


# An INPROGRESS claim outlives no invocation: without a Lambda context, the ingest function's timeout.
DEFAULT_IN_PROGRESS_MS = 15_000


class Invocation:
    """The Lambda context of the invocation under way, registered by the entry point: how long a claim may
    hold its key (Powertools' ``IdempotencyConfig.register_lambda_context``, without the rest)."""

    def __init__(self) -> None:
        self.lambda_context: Any | None = None

    def register_lambda_context(self, context: Any) -> None:
        """Remember the current invocation's context."""
        self.lambda_context = context

    def remaining_ms(self) -> int | None:
        """Time left in the current invocation, if one is registered."""
        context = self.lambda_context
        return None if context is None else int(context.get_remaining_time_in_millis())


def _answer(seen: Seen, record: dict[str, Any], command: Keyed) -> IngestResult:
    if seen is Seen.REUSED:
        raise IdempotencyKeyReusedError("the idempotency key was already used with different content")
    if seen is Seen.IN_PROGRESS:
        raise RequestInProgressError("a request with this key is in progress")
    stored = record.get(records.DATA_ATTR, {}).get("S")
    if not stored:
        raise EventNotQueuedError(f"the completed record of event {command.event_id} holds no response")
    return IngestResult.model_validate_json(stored).model_copy(update={"replayed": True})


def idempotent[C: Keyed](
    fn: Callable[[C], IngestResult],
    store: IdempotencyStore,
    settings: Settings,
    invocation: Invocation,
) -> Callable[..., IngestResult]:
    """``accept(command=...)``: ``fn`` run at most once per (source, idempotency_key) while its record
    lives."""

    def accept(*, command: C) -> IngestResult:
        claim = Claim(
            records.record_id(settings.idempotency_key_prefix, command.source, command.idempotency_key),
            records.validation_hash(command.digest),
        )
        clock = Clock.read()
        held = store.claim_one(
            claim,
            clock.now + settings.idempotency_expiry_seconds,
            clock.now_ms + (invocation.remaining_ms() or DEFAULT_IN_PROGRESS_MS),
        )
        if held is not None:
            return _answer(*held, command)
        try:
            result = fn(command)
        except Exception:
            try:
                store.release_one(claim.rid)
            except Exception as release_error:
                # The claim stays until its deadline: the client's retry is answered 409, then succeeds.
                raise EventNotQueuedError("the event was not accepted; retry it") from release_error
            raise
        store.complete_one(
            Completion(claim.rid, claim.validation, result),
            Clock.read().now + settings.idempotency_expiry_seconds,
        )
        return result

    return accept
