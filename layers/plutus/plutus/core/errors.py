"""Exceptions shared by ingest and consumer. Mapped to HTTP by type, never by message text."""

from __future__ import annotations

from typing import Any


class PlutusError(Exception):
    """Base of every error Plutus raises on purpose."""


class InvalidEventError(PlutusError):
    """The request or payload failed validation. ``errors`` lists ``{field, message}``."""

    def __init__(self, detail: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []


class MalformedBodyError(PlutusError):
    """The body is not JSON (or not UTF-8, or nested beyond reason)."""


class UnsupportedMediaTypeError(PlutusError):
    """The body is not declared as JSON."""


class BodyTooLargeError(PlutusError):
    """The body exceeds ``max_body_bytes``."""

    @classmethod
    def of(cls, size: int | str, limit: int) -> BodyTooLargeError:
        """The error for a ``size``-byte body, naming the limit, why it is there, and what to do instead."""
        return cls(
            f"body is {size} bytes; the limit is {limit} bytes (a Lambda invocation carries at most 6 MB, so "
            "no deployment takes more than 6,000,000). Send larger data by reference: store it where the "
            "consumer's handler can read it and put its location and digest in the payload"
        )


class UnauthenticatedError(PlutusError):
    """The request is not signed by its source (``AuthMode`` ``WEBHOOK_SIGNATURE``).

    ``reason`` is a bounded class (``missing_headers``, ``stale_timestamp``, ``no_matching_signature``...) for
    logs and metrics; the message is what the caller is told, and never says whether a source exists.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


class ForbiddenEventTypeError(PlutusError):
    """The producer policy does not let this source send this event type (answered 403)."""

    def __init__(self, source: str, event_type: str | None) -> None:
        # The message echoes neither: the caller knows what it sent, and logs get the names (not the payload).
        super().__init__("the producer policy does not let this source send this event type")
        self.source = source
        self.event_type = event_type


class ForbiddenSourceError(PlutusError):
    """The authenticated caller may not write events of this source (answered 403)."""

    def __init__(self, source: str) -> None:
        super().__init__("the caller may not send events of this source")
        self.source = source


class UnknownEventTypeError(PlutusError):
    """The event type is not registered and unregistered types are not allowed."""

    def __init__(self, event_type: str, known: list[str]) -> None:
        super().__init__(f"unknown event_type {event_type!r}")
        self.event_type = event_type
        self.known = known


class EventNotFoundError(PlutusError):
    """No event has that id."""


class ResourceNotFoundError(PlutusError):
    """A read endpoint's entity (account, product, vehicle, player...) has no state."""


class EventNotQueuedError(PlutusError):
    """An event of a batch could not be stored or queued; retrying it can succeed."""


class SendOutcomeUnknownError(EventNotQueuedError):
    """The event's message may be queued although sending it failed (an answer lost, a retried 5xx): its key
    stays claimed until the invocation's deadline, so no other content can take it meanwhile."""


class IdempotencyKeyReusedError(PlutusError):
    """The idempotency key was already used with different content (a 422: the client must pick a new key)."""


class RequestInProgressError(PlutusError):
    """Another request holds the idempotency key right now (a 409: retrying later can succeed)."""


class PermanentError(PlutusError):
    """A processing failure that no retry can cure: the consumer fails the event on its first attempt."""


class PoisonMessageError(PermanentError):
    """A queued message that can never be processed (unparseable body, unknown type)."""


class EffectRejectedError(PermanentError):
    """A handler's effect was refused by its own condition (e.g. a balance would go negative)."""


class BusinessIdConflictError(EffectRejectedError):
    """A business id (a transaction, transfer, impression, export...) is already bound to another event whose
    content differs: nothing is applied, and the event fails for an operator to resolve.

    Deterministic, like every ``EffectRejectedError``: running the event again gives the same answer until an
    operator changes the binding. The message names the kind of id and the first event, never the content.
    """

    def __init__(self, kind: str, first_event_id: str) -> None:
        super().__init__(f"{kind} is bound to event {first_event_id} with different content; nothing applied")
        self.kind = kind
        self.first_event_id = first_event_id


class PayloadIntegrityError(PermanentError):
    """A stored payload is missing, elsewhere than its event's own key, or does not match its size and
    SHA-256 digest: the object was tampered with, replaced or expired. Nothing is processed.

    The message names sizes and digests only, never the content.
    """


class ConcurrentUpdateError(PlutusError):
    """Optimistic concurrency kept failing; SQS will redeliver."""


def is_permanent(exc: BaseException) -> bool:
    """Whether a retry of the same message can only fail the same way (bad payload, poison, refused effect).

    Anything else (throttling, a timeout, a version conflict, a bug that may depend on state) is retried by
    SQS.
    """
    from pydantic import ValidationError

    return isinstance(exc, PermanentError | ValidationError)


def describe(exc: BaseException, limit: int = 1000) -> str:
    """A payload-free, bounded description of ``exc`` for ``last_error`` and logs.

    pydantic's messages embed the offending input, which may be a card number or a diagnosis, so validation
    errors are reduced to their locations and types.
    """
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        parts = [f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['type']}" for e in exc.errors()]
        text = f"ValidationError: {'; '.join(parts)}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    return text[:limit]
