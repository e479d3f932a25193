"""Small building blocks the domain packs share: identifiers safe inside keys, business time, versions, and
the binding of a business id to the first event that used it."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import StringConstraints

from plutus.core.effects import Update
from plutus.core.envelope import parse_timestamp
from plutus.core.errors import BusinessIdConflictError
from plutus.core.registry import EventContext

# Identifiers become parts of state-table keys, so "#" (the key separator) and whitespace are refused.
Ident = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:@\-]{0,127}$")]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
PATH_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:@\-]{0,127}$"


def event_time(occurred_at: datetime | None, ctx: EventContext) -> datetime:
    """Business time of an event: its own timestamp if it has one, else when Plutus received it (UTC)."""
    if occurred_at is None:
        return parse_timestamp(ctx.received_at)
    if occurred_at.tzinfo is None:
        return occurred_at.replace(tzinfo=UTC)
    return occurred_at.astimezone(UTC)


def iso(at: datetime) -> str:
    """A sortable UTC timestamp for sort keys and attributes."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def epoch(at: datetime) -> float:
    """Seconds since the epoch."""
    return at.timestamp()


def expires_at(at: datetime, ttl_seconds: int) -> int:
    """The TTL attribute for an item that should live ``ttl_seconds`` past business time ``at``."""
    return int(at.timestamp()) + ttl_seconds


def version_of(item: dict[str, Any] | None) -> int:
    """The optimistic-concurrency version of an item read from state (0: the item does not exist)."""
    return int((item or {}).get("version", 0))


def num(value: float, places: int = 6) -> Decimal:
    """A float as a DynamoDB-safe Decimal, rounded so stored values are stable and readable."""
    if not math.isfinite(value):
        raise ValueError("state numbers must be finite")
    return Decimal(str(round(value, places)))


def as_float(value: Any, default: float = 0.0) -> float:
    """A number read from state (Decimal) as a float."""
    return default if value is None else float(value)


def as_int(value: Any, default: int = 0) -> int:
    """A number read from state (Decimal) as an int."""
    return default if value is None else int(value)


def plain(value: Any) -> Any:
    """State values as JSON-friendly numbers (Decimal -> int or float), recursively. Not for money."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def parse_iso(value: str) -> datetime:
    """Inverse of :func:`iso`."""
    return parse_timestamp(value)


def day(at: datetime) -> str:
    """The UTC calendar day of ``at`` (``YYYY-MM-DD``), for day-bucket keys."""
    return at.astimezone(UTC).strftime("%Y-%m-%d")


def _canonical(value: Any) -> Any:
    # Equal values give equal text: 5000, 5000.0 and Decimal("5000.00") are one amount.
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | float | Decimal):
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        return format(number.normalize(), "f")
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    raise TypeError(f"cannot bind a business id to a {type(value).__name__}")


def content_digest(content: Mapping[str, Any]) -> str:
    """A digest of the fields that define what a business id does (amount, currency, accounts...)."""
    text = json.dumps(_canonical(content), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def bind_business_id(
    ctx: EventContext,
    pk: str,
    sk: str,
    *,
    kind: str,
    content: Mapping[str, Any],
    at: datetime,
    expires: int | None = None,
    **attributes: Any,
) -> Update | None:
    """Bind a business id (its marker item ``pk``/``sk``) to the first event that uses it.

    - A new id: returns the create-only marker (the first event id, ``at``, a digest of ``content`` and
      ``attributes``; ``expires``: its TTL), to be committed with the event's other effects.
    - The id bound to the same ``content``: returns ``None``: a duplicate (a producer resending under a new
      idempotency key), which has no effect.
    - The id bound to other content: raises :class:`BusinessIdConflictError`: nothing is applied and the event
      fails (FAILED, its message kept for a replay, in the DLQ), so a first event cannot silently swallow a
      later, different one (0.01 first, then the real 5,000 under the same transaction id). To apply it, an
      operator resolves the first event and the marker, then replays it by id.

    ``content`` holds only what defines the id's effect, not what a resend may legitimately restamp (times).
    Two copies racing both find no marker; the marker is a versioned create, so the loser's transaction is
    cancelled, the consumer re-runs its handlers, and the re-run sees the marker: one answer either way. A
    marker written before digests existed counts as the same content (as it did).
    """
    digest = content_digest(content)
    marker = ctx.state.get(pk, sk)
    if marker is None:
        fields = {"first_event_id": ctx.event_id, "first_at": iso(at), "digest": digest, **attributes}
        if expires is not None:
            fields["expires_at"] = expires  # the item's TTL, epoch seconds
        return Update(pk, sk, set=fields, expect_version=0)
    if marker.get("digest", digest) != digest:
        first = marker.get("first_event_id", marker.get("event_id", "unknown"))
        raise BusinessIdConflictError(kind, str(first))
    return None
