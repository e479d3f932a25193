"""EventBridge as the fan-out bus: announcements of PROCESSED events, sent with ``PutEvents``.

Two kinds of failure, told apart because they are retried differently:

- an entry refused inside a call that succeeded (``FailedEntryCount``, e.g. ``ThrottlingException`` for one
  entry): botocore does not retry it, so :func:`until_done` sends what is left again, twice, with backoff;
- a whole call that fails (throttled, 5xx, unreachable): botocore's standard mode has already retried it,
  so nothing here retries it again, and the calls after it in this invocation are not tried either (the bus
  is down: each would spend the consumer's time on the same timeouts).

What is still unpublished is returned; the consumer reports those records failed, so SQS redelivers them and
the publish is retried without running a handler again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from plutus.adapters.retry import until_done
from plutus.core.fanout import Announcement, calls
from plutus.observability import logger


class EventBridgePublisher:
    """Publishes announcements on one bus (a name in this account, or an ARN)."""

    def __init__(self, client: Any, bus: str) -> None:
        self.client = client
        self.bus = bus

    def publish(self, announcements: Sequence[Announcement]) -> frozenset[str]:
        """Publish every announcement; returns the event ids not published."""
        unpublished: set[str] = set()
        down = False
        for call in calls(announcements):
            if down:
                unpublished.update(a.event_id for a in call)
                continue
            left, down = self._publish_call(call)
            unpublished.update(a.event_id for a in left)
        return frozenset(unpublished)

    def _publish_call(self, call: list[Announcement]) -> tuple[list[Announcement], bool]:
        # (what is left unpublished, whether a whole call failed)
        left = call

        def send(pending: list[Announcement]) -> list[Announcement]:
            nonlocal left
            left = pending
            response = self.client.put_events(Entries=[self._entry(a) for a in pending])
            if not response.get("FailedEntryCount"):
                left = []
                return []
            results = response.get("Entries", [])
            left = [a for a, result in zip(pending, results, strict=True) if result.get("ErrorCode")]
            codes = sorted({str(r.get("ErrorCode")) for r in results if r.get("ErrorCode")})
            logger.warning("fan-out entries refused", extra={"refused": len(left), "error_codes": codes})
            return left

        try:
            until_done(send, call)
        except ClientError as exc:
            logger.warning("fan-out call failed", extra={"error": exc.response["Error"]["Code"]})
            return left, True
        except BotoCoreError as exc:
            logger.warning("fan-out call failed", extra={"error": type(exc).__name__})
            return left, True
        return left, False

    def _entry(self, announcement: Announcement) -> dict[str, Any]:
        return {
            "EventBusName": self.bus,
            "Source": announcement.source,
            "DetailType": announcement.detail_type,
            "Detail": announcement.detail,
        }
