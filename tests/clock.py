"""Test times relative to today: ingest refuses event times outside its window around the receive time
(7 days back, 5 minutes ahead by default), so a test that sends events cannot use a fixed date."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def day(offset_days: int) -> str:
    """The UTC date ``offset_days`` from today, as ``YYYY-MM-DD``."""
    return (datetime.now(UTC) + timedelta(days=offset_days)).date().isoformat()


def midnight(offset_days: int) -> datetime:
    """00:00 UTC of the day ``offset_days`` from today."""
    return datetime.fromisoformat(day(offset_days)).replace(tzinfo=UTC)


# Two days ago: every time of that day is in the past, and well inside the window.
DAY = day(-2)
