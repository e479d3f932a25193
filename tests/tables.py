"""Reading the emulator's tables and queues in tests: full scans, counts, and received messages.

A scan is fine in a test (the tables hold one test's items); the service itself never scans.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from plutus.adapters.state_store import from_item
from plutus.domains import default


def scan(ddb: Any, table_name: str) -> list[dict[str, Any]]:
    """Every item of ``table_name`` as plain Python values, read consistently, all pages."""
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": table_name, "ConsistentRead": True}
    while True:
        page = ddb.scan(**kwargs)
        items += [from_item(i) for i in page.get("Items", [])]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def by_key(items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """State items sorted by (pk, sk): two scans compare equal when the table did not change."""
    return sorted(items, key=lambda i: (i["pk"], i["sk"]))


def applied(event_items: Iterable[dict[str, Any]], event_id: str) -> list[int]:
    """How often the default handler's receipt on ``event_id``'s item (among the events table's items) says
    it was applied: ``[1]`` once, ``[]`` without a receipt."""
    counts = (default.applied(i) for i in event_items if i["event_id"] == event_id)
    return [count for count in counts if count is not None]


def queue_depth(sqs: Any, queue_url: str) -> int:
    """Messages in the queue, visible or in flight."""
    attrs = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


def receive(
    sqs: Any, queue_url: str, max_messages: int = 1, *, visibility_timeout: int | None = None
) -> list[dict[str, Any]]:
    """Up to ``max_messages`` messages with every system and message attribute (as the event source mapping
    receives them); an empty list when none is visible. ``visibility_timeout=0`` peeks: the messages stay
    visible."""
    kwargs: dict[str, Any] = {} if visibility_timeout is None else {"VisibilityTimeout": visibility_timeout}
    messages: list[dict[str, Any]] = sqs.receive_message(
        QueueUrl=queue_url,
        MaxNumberOfMessages=max_messages,
        MessageSystemAttributeNames=["All"],
        MessageAttributeNames=["All"],
        **kwargs,
    ).get("Messages", [])
    return messages
