"""Business time for domain packs: event time in handlers, an explicit ``as_of`` in reads.

Handlers never read the wall clock: an event's own timestamp (or, lacking one, when Plutus received it) is
the only clock they see, so replays and tests are deterministic. State keys carry times in one fixed UTC
format whose lexical order is time order, so a sort key prefix query returns items time-ordered.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from plutus.envelope import parse_timestamp
from plutus.registry import EventContext

_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def iso(moment: datetime) -> str:
    """``moment`` as a sortable UTC string (microseconds, ``Z``)."""
    return moment.astimezone(UTC).strftime(_FORMAT)


def parse_iso(value: str) -> datetime:
    """Inverse of :func:`iso`."""
    return parse_timestamp(value)


def event_time(moment: datetime | None, ctx: EventContext) -> datetime:
    """The event's own time when it has one, else when Plutus received it; always UTC."""
    return moment.astimezone(UTC) if moment is not None else parse_timestamp(ctx.received_at)


def read_clock(as_of: datetime | None) -> datetime:
    """The instant a read endpoint evaluates at: the caller's ``as_of`` or, by default, now."""
    return as_of.astimezone(UTC) if as_of is not None else datetime.now(UTC)


def day(moment: datetime) -> str:
    """The UTC calendar day of ``moment`` (``YYYY-MM-DD``)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d")


def number(value: Any, default: int = 0) -> Decimal:
    """A stored number (``Decimal`` from DynamoDB) or ``default`` when the attribute is missing."""
    return Decimal(default) if value is None else Decimal(value)


def version_of(item: dict[str, Any] | None) -> int:
    """The optimistic-concurrency version to expect when rewriting ``item`` (0: it must not exist)."""
    return int(item.get("version", 0)) if item else 0
