"""The default handler, for events without a registered type.

Its one effect is a receipt per event with a counter of how often it was applied. The receipt commits in the
same transaction as the event's move to PROCESSED, so ``applied`` can only ever be 1: the fault-injection
suite audits exactly that.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from plutus.core.effects import Effect, Update
from plutus.core.registry import EventContext


def receipt_key(event_id: str) -> tuple[str, str]:
    """Where the receipt of ``event_id`` lives in the state table."""
    return f"RECEIPT#{event_id}", "RECEIPT"


def handle_record_receipt(payload: Any, ctx: EventContext) -> Iterable[Effect]:
    """Record that the event was applied once (and when), without storing its payload."""
    pk, sk = receipt_key(ctx.event_id)
    yield Update(
        pk,
        sk,
        add={"applied": 1},
        set_if_absent={
            "source": ctx.source,
            "received_at": ctx.received_at,
            "expires_at": int(time.time()) + ctx.settings.receipt_ttl_seconds,
        },
    )
