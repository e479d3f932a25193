"""Run a function once per idempotency key: Powertools' idempotency protocol, on the event's own item.

The single path used Powertools' ``@idempotent_function``. Its import (the persistence layers, boto3 and
s3transfer with them) and its per-call work (serialising the command to hash it again with jmespath) were
most of what made a cold start and a new event dearer than the bare Powertools reference, for nothing Plutus
needs: it already derives the key and the content digest itself. The record now lives on the event's item
(:mod:`plutus.adapters.idempotency_records`), which the batch path claims and completes the same way, so one
(source, idempotency_key) is deduplicated across both paths.

The protocol, as Powertools runs it: claim the key with a conditional update marking it INPROGRESS (its
deadline the invocation's); a key held by a live record is answered from it (replay, 409 in progress, 422
reused with new content); the function runs; if it raises, the claim is released so a retry can succeed
(unless its message may be queued: :class:`plutus.core.errors.SendOutcomeUnknownError`); if
it returns, the record completes in the same ``UpdateItem`` that writes the event RECEIVED (so its status is
readable at 202).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from plutus.adapters import idempotency_records as records
from plutus.adapters.idempotency_records import Clock, Seen
from plutus.adapters.idempotency_store import Claim, IdempotencyStore
from plutus.core.envelope import IngestResult
from plutus.core.errors import (
    EventNotQueuedError,
    IdempotencyKeyReusedError,
    RequestInProgressError,
    SendOutcomeUnknownError,
)


class Keyed(Protocol):
    """What keys a command (``plutus.ingest.accept.IngestCommand`` has it)."""

    @property
    def digest(self) -> str:
        """Its content digest: the same key with another digest is a reused key."""
        ...

    @property
    def event_id(self) -> str:
        """The id derived from (source, idempotency_key): the key's record lives on the event's item."""
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


def _answer(seen: Seen, item: dict[str, Any], command: Keyed) -> IngestResult:
    if seen is Seen.REUSED:
        raise IdempotencyKeyReusedError("the idempotency key was already used with different content")
    if seen is Seen.IN_PROGRESS:
        raise RequestInProgressError("a request with this key is in progress")
    if records.KEY_ATTR not in item or "received_at" not in item:
        raise EventNotQueuedError(f"the completed record of event {command.event_id} holds no answer")
    return records.answer(item)


def idempotent[C: Keyed](
    fn: Callable[[C], IngestResult], store: IdempotencyStore, invocation: Invocation
) -> Callable[..., IngestResult]:
    """``accept(command=...)``: ``fn`` run at most once per (source, idempotency_key) while its event is
    kept."""

    def accept(*, command: C) -> IngestResult:
        claim = Claim(command.event_id, command.digest)
        deadline_ms = Clock.read().now_ms + (invocation.remaining_ms() or DEFAULT_IN_PROGRESS_MS)
        held = store.claim_one(claim, deadline_ms)
        if held is not None:
            return _answer(*held, command)
        try:
            result = fn(command)
        except SendOutcomeUnknownError:
            # Its message may be on the queue: released, the key could be claimed by other content, answered
            # 202 and dropped as a duplicate of this message. The claim is kept until its deadline (a retry
            # is answered 409, then the same content takes it over).
            raise
        except Exception:
            try:
                store.release_one(claim)
            except Exception as release_error:
                # The claim stays until its deadline: the client's retry is answered 409, then succeeds.
                raise EventNotQueuedError("the event was not accepted; retry it") from release_error
            raise
        store.complete_one(result, command.digest)
        return result

    return accept
