"""Ways the same event reaches the consumer again, for the packs' exactly-once tests.

- ``drain_capturing``: process the queue like the event source mapping, keeping each message body.
- ``send_duplicate``: the same QueuedEvent body as a brand-new message (receive count 1, no replay mark), as
  after an ingest crash between SendMessage and completion, or SQS's at-least-once duplicate delivery.
- ``send_replay``: the same body with the ``plutus-replay`` attribute, as an operator's replay sends it.
- ``deliver_again``: all of the above for a list of bodies, then drained.
- ``stable_state``: the state items a duplicate must leave untouched, to compare before and after.
- ``redeliver_after_commit``: a message whose handlers committed but whose deletion was lost (a consumer timed
  out after its transaction), so SQS delivers it again with a higher receive count.
"""

from __future__ import annotations

from typing import Any

from plutus.consumer.processor import REPLAY_ATTRIBUTE
from tests import tables
from tests.builders import an_sqs_event
from tests.integration.harness import Harness


def drain_capturing(stack: Harness, max_batches: int = 100) -> list[str]:
    """Drain the queue; returns the bodies delivered (in delivery order). Failed records are not retried."""
    poller = stack.poller()
    bodies: list[str] = []
    for _ in range(max_batches):
        records, failed = poller.poll_once()
        if not records:
            return bodies
        assert not failed, f"{len(failed)} records failed"
        bodies += [r["body"] for r in records]
    raise AssertionError("queue did not drain")


def send_duplicate(stack: Harness, body: str) -> None:
    """Enqueue ``body`` again as a new first delivery."""
    stack.client("sqs").send_message(QueueUrl=stack.queue_url, MessageBody=body)


def send_replay(stack: Harness, body: str) -> None:
    """Enqueue ``body`` again, marked as an operator replay."""
    stack.client("sqs").send_message(
        QueueUrl=stack.queue_url,
        MessageBody=body,
        MessageAttributes={REPLAY_ATTRIBUTE: {"DataType": "String", "StringValue": "test"}},
    )


def redeliver_after_commit(stack: Harness) -> int:
    """Process every queued message once without deleting it, then let SQS deliver each again and drain.

    Returns how many messages were processed in the first (undeleted) pass.
    """
    sqs = stack.client("sqs")
    arn = stack.stack.arns["EventsQueue"]
    messages = []
    while True:
        batch = tables.receive(sqs, stack.queue_url, 10)
        if not batch:
            break
        status, result, _ = stack.consumer.invoke(an_sqs_event(batch, arn))
        assert status == "ok" and result == {"batchItemFailures": []}, result
        messages += batch
    for message in messages:
        sqs.change_message_visibility(
            QueueUrl=stack.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        )
    return len(messages)


def deliver_again(stack: Harness, bodies: list[str]) -> int:
    """Every body again, every way, drained: a duplicate message whose processing loses its deletion (so
    SQS delivers it once more), then an operator replay. Messages already queued are processed along with
    them. Returns how many records the consumer was handed.
    """
    for body in bodies:
        send_duplicate(stack, body)
    handed = redeliver_after_commit(stack)
    handed += stack.drain()
    for body in bodies:
        send_replay(stack, body)
    return handed + stack.drain()


def stable_state(stack: Harness, pk_prefix: str) -> list[dict[str, Any]]:
    """The state items of partitions starting with ``pk_prefix``, sorted (a scan is fine in a test)."""
    return tables.by_key(i for i in stack.scan("StateTable") if str(i["pk"]).startswith(pk_prefix))
