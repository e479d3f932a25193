"""Small building blocks the domain packs share: identifiers safe inside keys, business time, versions."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import StringConstraints

from plutus.core.envelope import parse_timestamp
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
