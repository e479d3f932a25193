"""What one event costs in AWS calls, counted with botocore event hooks on the handlers' own clients."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from tests.builders import an_event
from tests.integration.harness import Harness
from tests.integration.harness import app_client as client

SEED = an_event("evt_123456")


@contextmanager
def counting() -> Iterator[Counter[str]]:
    calls: Counter[str] = Counter()

    def count(event_name: str, **_: object) -> None:
        calls[event_name.split(".", 1)[1]] += 1  # "before-call.dynamodb.PutItem" -> "dynamodb.PutItem"

    clients = [client("dynamodb"), client("sqs")]
    for c in clients:
        c.meta.events.register("before-call", count)
    try:
        yield calls
    finally:
        for c in clients:
            c.meta.events.unregister("before-call", count)


def test_a_new_event_costs_three_calls_and_a_duplicate_one(stack: Harness) -> None:
    stack.request("GET", "/health")  # build the app and its clients first
    with counting() as new:
        assert stack.post_event(SEED).status == 202
    with counting() as duplicate:
        assert stack.post_event(SEED).status == 200

    # The claim and the completion, both an UpdateItem of the event's own item, and the message.
    assert new == {"dynamodb.UpdateItem": 2, "sqs.SendMessage": 1}
    assert duplicate == {"dynamodb.UpdateItem": 1}


def test_a_batch_of_default_handler_events_costs_one_call(stack: Harness) -> None:
    for i in range(5):
        stack.post_event(an_event(f"evt_{i}"))
    stack.request("GET", "/health")
    with counting() as calls:
        assert stack.drain() == 5

    # One transaction commits the five markers, each with its receipt folded into it (the poller receives all
    # five at once).
    assert calls == {"dynamodb.TransactWriteItems": 1}
