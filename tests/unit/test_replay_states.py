"""`plutus replay` tells the truth about every state it cannot replay."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from plutus_dev.cli.replay import _not_kept

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("item", "says"),
    [
        (
            {"status": "RECEIVED", "received_at": "2026-12-01T11:58:00.000000Z"},
            "queued and not yet processed",
        ),
        ({"status": "RECEIVED", "received_at": "2026-12-01T10:00:00.000000Z"}, "received 120 min ago"),
        ({"status": "PROCESSING"}, "SQS is still retrying it"),
        ({"status": "FAILED"}, "redrive the DLQ instead"),
    ],
)
def test_each_unreplayable_state_says_what_it_is(item: dict[str, str], says: str) -> None:
    assert says in _not_kept(item, NOW)


def test_a_stale_received_event_is_not_called_still_queued() -> None:
    # RECEIVED two hours ago with no attempt is not simply "still queued": the reply names both causes
    text = _not_kept({"status": "RECEIVED", "received_at": "2026-12-01T10:00:00.000000Z"}, NOW)
    assert "no attempt recorded" in text and "plutus dlq list" in text
