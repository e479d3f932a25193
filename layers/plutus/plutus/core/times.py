"""The window an event's own times must fall in, around the instant Plutus received it.

A payload's times decide state: the latest reading, a dose's window, a package's promise. One event dated
9999-12-31 would otherwise make every later real event "late" (and silence a patient's heart-rate alarm),
and one dated 0001-01-01 with an offset cannot even be converted to UTC. So times are refused at ingest, not
clamped: a clamped time is a fact Plutus made up, and the producer must learn that its clock or its data is
wrong.

The window travels as pydantic validation context (``validation_context``), so the payload models check it
wherever they are parsed: at ingest against the request's clock, in the consumer against the event's stored
``received_at`` (so a replay days later judges the event exactly as its first delivery did).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

CONTEXT_KEY = "plutus_time_window"
# The consumer judges against the stored received_at, taken a little after ingest judged against its own
# clock: this slack (well over the ingest function's timeout) keeps an event accepted at the edge of the
# window from failing in the consumer.
CONSUMER_SLACK = timedelta(seconds=60)


class WindowSettings(Protocol):
    """The settings the window is made of (``plutus.settings.Settings``; the core imports nothing)."""

    @property
    def event_time_max_past_seconds(self) -> int: ...
    @property
    def event_time_max_future_seconds(self) -> int: ...
    @property
    def planned_time_max_future_seconds(self) -> int: ...


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """Inclusive bounds (UTC) for event times and for planned times (a promise, a dose due)."""

    earliest: datetime
    latest: datetime
    latest_planned: datetime

    def check_event_time(self, at: datetime) -> None:
        """Raise ``ValueError`` (a 422 at ingest) unless ``at`` is inside the event-time window."""
        if at < self.earliest:
            raise ValueError(f"is before {_stamp(self.earliest)}, the earliest event time accepted now")
        if at > self.latest:
            raise ValueError(f"is after {_stamp(self.latest)}, the latest event time accepted now")

    def check_planned_time(self, at: datetime) -> None:
        """Raise ``ValueError`` unless ``at`` is inside the (longer) window of planned times."""
        if at < self.earliest:
            raise ValueError(f"is before {_stamp(self.earliest)}, the earliest time accepted now")
        if at > self.latest_planned:
            raise ValueError(f"is after {_stamp(self.latest_planned)}, the latest planned time accepted now")


def _stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def time_window(
    received_at: datetime, settings: WindowSettings, slack: timedelta = timedelta(0)
) -> TimeWindow:
    """The window around ``received_at`` that ``settings`` allow, widened by ``slack`` on each side."""
    return TimeWindow(
        earliest=received_at - timedelta(seconds=settings.event_time_max_past_seconds) - slack,
        latest=received_at + timedelta(seconds=settings.event_time_max_future_seconds) + slack,
        latest_planned=received_at + timedelta(seconds=settings.planned_time_max_future_seconds) + slack,
    )


def validation_context(
    received_at: datetime, settings: WindowSettings, slack: timedelta = timedelta(0)
) -> dict[str, Any]:
    """The pydantic validation context that carries the window to the payload models."""
    return {CONTEXT_KEY: time_window(received_at.astimezone(UTC), settings, slack)}


def window_of(context: Any) -> TimeWindow | None:
    """The window in a validation context, if the caller gave one."""
    window = context.get(CONTEXT_KEY) if isinstance(context, dict) else None
    return window if isinstance(window, TimeWindow) else None
