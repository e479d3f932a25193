"""The default handler, for events without a registered type.

Its one effect is a receipt: a counter of how often the event was applied (``note_applied``), kept on the
event's own item in the events table. It is an :class:`EventNote`, written by the very update that moves the
event to PROCESSED and under its condition, so ``applied`` can only ever be 1 (the fault-injection suite
audits exactly that), and it costs no item of its own: the event's item already holds its source and receive
time, and it expires with it (the processed-event retention).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from plutus.core.effects import Effect, EventNote
from plutus.core.registry import EventContext

# The receipt's counter on the event's item.
APPLIED = "note_applied"


def handle_record_receipt(payload: Any, ctx: EventContext) -> Iterable[Effect]:
    """Record that the event was applied once, without storing its payload."""
    yield EventNote(add={APPLIED: 1})


def applied(event_item: dict[str, Any]) -> int | None:
    """How often the event of ``event_item`` (its events-table item) was applied; ``None``: no receipt."""
    count = event_item.get(APPLIED)
    return None if count is None else int(count)
