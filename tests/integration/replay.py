"""Redelivery and replay of already processed events, for the packs' exactly-once tests.

``recording`` keeps the SQS bodies the consumer was handed while draining; ``redeliver`` sends them to the
queue again, either as SQS at-least-once delivery would (same body, first receive) or as an operator replay
(the ``plutus-replay`` message attribute); ``stable_state`` is the part of the state table a duplicate must
leave untouched.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any

from plutus.consumer import REPLAY_ATTRIBUTE
from tests.integration.harness import Harness


class _Recorder:
    """Stands in for the consumer function: records each record body, then invokes the real one."""

    def __init__(self, function: Any) -> None:
        self.function = function
        self.name = function.name
        self.bodies: list[str] = []

    def invoke(self, event: dict[str, Any]) -> tuple[str, Any, list[str]]:
        self.bodies += [r["body"] for r in event["Records"]]
        result: tuple[str, Any, list[str]] = self.function.invoke(event)
        return result

    def invoke_async(self, event: dict[str, Any]) -> Future[tuple[str, Any, list[str]]]:
        self.bodies += [r["body"] for r in event["Records"]]
        future: Future[tuple[str, Any, list[str]]] = self.function.invoke_async(event)
        return future


@contextmanager
def recording(h: Harness) -> Iterator[list[str]]:
    """Within the block, every message body the consumer receives is appended to the yielded list."""
    recorder = _Recorder(h.consumer)
    original, h.consumer = h.consumer, recorder  # type: ignore[assignment]
    try:
        yield recorder.bodies
    finally:
        h.consumer = original


def redeliver(h: Harness, bodies: list[str], *, replay: bool) -> None:
    """Queue ``bodies`` again: plain duplicates (``replay=False``) or flagged operator replays."""
    sqs = h.client("sqs")
    for body in bodies:
        attributes = {REPLAY_ATTRIBUTE: {"DataType": "String", "StringValue": "operator"}} if replay else {}
        sqs.send_message(QueueUrl=h.queue_url, MessageBody=body, MessageAttributes=attributes)


def stable_state(h: Harness, pk_prefix: str) -> list[dict[str, Any]]:
    """The state items of partitions starting with ``pk_prefix``, sorted (a scan is fine in a test)."""
    items = [i for i in h.scan("StateTable") if str(i["pk"]).startswith(pk_prefix)]
    return sorted(items, key=lambda i: (i["pk"], i["sk"]))
