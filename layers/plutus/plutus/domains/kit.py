"""Small building blocks the domain packs share: identifiers safe inside keys, business time, versions, and
the binding of a business id to the first event that used it."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, StringConstraints, ValidationInfo

from plutus.core.effects import Update
from plutus.core.envelope import parse_timestamp
from plutus.core.errors import BusinessIdConflictError
from plutus.core.registry import EventContext
from plutus.core.times import window_of

# Identifiers become parts of state-table keys, so "#" (the key separator) and whitespace are refused.
Ident = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:@\-]{0,127}$")]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
PATH_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:@\-]{0,127}$"


_UTC_MIN = datetime.min.replace(tzinfo=UTC)
_UTC_MAX = datetime.max.replace(tzinfo=UTC)
# Read endpoints judge at any instant in this range (``as_of``); arithmetic around it cannot overflow.
READ_TIME_MIN = datetime(1970, 1, 1, tzinfo=UTC)
READ_TIME_MAX = datetime(2999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)


def to_utc(at: datetime) -> datetime:
    """``at`` in UTC (a naive time is taken as UTC). Total: an instant that falls outside ``datetime``'s range
    once converted (``0001-01-01T00:00:00+01:00``) is clamped to the range's edge. Validated payload times
    never get there (see ``EventTime``)."""
    if at.tzinfo is None:
        return at.replace(tzinfo=UTC)
    try:
        return at.astimezone(UTC)
    except OverflowError:
        return _UTC_MAX if (at.utcoffset() or timedelta(0)) < timedelta(0) else _UTC_MIN


def _utc_or_refuse(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is outside the representable range once converted to UTC") from None


def _check_event_time(value: datetime, info: ValidationInfo) -> datetime:
    # The producer's offset is kept (IoT judges night driving in the device's local time); the window is
    # checked on the UTC instant, when the caller passed one as validation context (plutus.core.times).
    at = _utc_or_refuse(value)
    window = window_of(info.context)
    if window is not None:
        window.check_event_time(at)
    return value


def _check_planned_time(value: datetime, info: ValidationInfo) -> datetime:
    at = _utc_or_refuse(value)
    window = window_of(info.context)
    if window is not None:
        window.check_planned_time(at)
    return value


def _check_read_time(value: datetime) -> datetime:
    at = _utc_or_refuse(value)
    if not READ_TIME_MIN <= at <= READ_TIME_MAX:
        raise ValueError("must be between 1970-01-01T00:00:00Z and 2999-12-31T23:59:59Z")
    return value


# When an event happened, by its producer's clock: inside the event-time window around the receive time.
# ``EventTime`` takes a naive time as UTC; ``AwareEventTime`` requires an offset.
EventTime = Annotated[datetime, AfterValidator(_check_event_time)]
AwareEventTime = Annotated[AwareDatetime, AfterValidator(_check_event_time)]
# A time an event plans for (a delivery promise, a dose's next due time): up to a year ahead.
PlannedTime = Annotated[AwareDatetime, AfterValidator(_check_planned_time)]
# A read endpoint's ``as_of``.
ReadTime = Annotated[AwareDatetime, AfterValidator(_check_read_time)]


def event_time(occurred_at: datetime | None, ctx: EventContext) -> datetime:
    """Business time of an event: its own timestamp if it has one, else when Plutus received it (UTC)."""
    if occurred_at is None:
        return parse_timestamp(ctx.received_at)
    return to_utc(occurred_at)


def iso(at: datetime) -> str:
    """A sortable UTC timestamp for sort keys and attributes. Total: four-digit years always (strftime writes
    year 1 as ``1``, which sorts after ``2026`` and cannot be parsed back)."""
    u = to_utc(at)
    return f"{u.year:04d}-{u.month:02d}-{u.day:02d}T{u:%H:%M:%S}.{u.microsecond:06d}Z"


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
    u = to_utc(at)
    return f"{u.year:04d}-{u.month:02d}-{u.day:02d}"


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
