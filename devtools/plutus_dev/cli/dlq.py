"""The dead-letter queue: inspect it without removing anything, and redrive it to the source queue.

Plain functions over an SQS client; ``plutus dlq`` is a thin layer on top.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from plutus.core.payloads import sha256_hex

MOVE_TASK = "StartMessageMoveTask"
FALLBACK = "receive-send-delete"
# Codes with which an endpoint says it does not implement an API (moto answers a bare HTTP 500).
_UNSUPPORTED_CODES = {"UnsupportedOperation", "InvalidAction", "NotImplemented", "UnknownOperationException"}
_RUNNING = {"RUNNING", "CANCELLING"}

Progress = Callable[[int, int | None], None]


@dataclass(frozen=True)
class DeadLetter:
    """One message in the DLQ, as peeked."""

    message_id: str
    event_id: str | None
    receive_count: int
    sent_timestamp_ms: int
    body: str
    attributes: dict[str, Any]

    def age_seconds(self, now: float | None = None) -> float:
        """Seconds since the message was first sent (to the source queue)."""
        return (now if now is not None else time.time()) - self.sent_timestamp_ms / 1000

    def envelope(self) -> dict[str, Any]:
        """The message's envelope fields, without its payload (``{}`` if the body is not JSON)."""
        try:
            data = json.loads(self.body)
        except ValueError:
            return {}
        if not isinstance(data, dict):
            return {}
        return {k: v for k, v in data.items() if k != "payload"}


@dataclass(frozen=True)
class DlqSummary:
    """What ``plutus dlq list`` shows."""

    visible: int
    in_flight: int
    oldest_age_seconds: float | None
    scanned: int

    @property
    def total(self) -> int:
        return self.visible + self.in_flight


@dataclass
class RedriveResult:
    """How a redrive went, and which path it took."""

    path: str
    moved: int = 0
    failed: int = 0
    reason: str = ""
    task_handle: str | None = None
    status: str = "COMPLETED"
    details: list[str] = field(default_factory=list)


def readable_body(body: str, s3: Any) -> tuple[str, str]:
    """(the message as indented JSON, a note): a pointer message is shown with its stored payload in place,
    fetched and checked against its size and SHA-256; the note says where it came from or why it is not
    shown. A body that is not JSON is returned as it is."""
    try:
        data = json.loads(body)
    except ValueError:
        return body, ""
    note = ""
    pointer = data.get("payload_ref") if isinstance(data, dict) else None
    if isinstance(pointer, dict):
        try:
            stored = s3.get_object(Bucket=pointer["bucket"], Key=pointer["key"])["Body"].read()
        except ClientError as exc:
            note = f"stored payload not read: {exc.response.get('Error', {}).get('Code', 'error')}"
        else:
            if len(stored) != pointer.get("size") or sha256_hex(stored) != pointer.get("sha256"):
                note = "[red]stored payload does NOT match the pointer's size and sha256: not shown[/red]"
            else:
                data = {**data, "payload": json.loads(stored)}
                note = f"payload read from s3://{pointer['bucket']}/{pointer['key']} (sha256 checked)"
    return json.dumps(data, indent=2, sort_keys=True), note


def queue_counts(sqs: Any, url: str) -> tuple[int, int]:
    """(visible, in flight) messages of a queue (SQS's approximate counts)."""
    attrs = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]), int(attrs["ApproximateNumberOfMessagesNotVisible"])


def _to_dead_letter(message: dict[str, Any]) -> DeadLetter:
    attrs = message.get("Attributes", {})
    event_id = message.get("MessageAttributes", {}).get("event_id", {}).get("StringValue")
    if event_id is None:
        try:
            event_id = json.loads(message["Body"]).get("event_id")
        except (ValueError, AttributeError):
            event_id = None
    return DeadLetter(
        message_id=message["MessageId"],
        event_id=event_id,
        receive_count=int(attrs.get("ApproximateReceiveCount", 0)),
        sent_timestamp_ms=int(attrs.get("SentTimestamp", 0)),
        body=message["Body"],
        attributes=message.get("MessageAttributes", {}),
    )


def peek(sqs: Any, url: str, limit: int = 100, hold_seconds: int = 30) -> list[DeadLetter]:
    """Up to ``limit`` messages, oldest first, left in the queue.

    SQS has no read-without-receive: each message is received (hidden for ``hold_seconds`` so one pass sees
    each once, and its receive count goes up by one, as with the console's "poll for messages") and then
    made visible again.
    """
    seen: dict[str, DeadLetter] = {}
    handles: list[str] = []
    try:
        while len(seen) < limit:
            batch = sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=min(10, limit - len(seen)),
                VisibilityTimeout=hold_seconds,
                WaitTimeSeconds=0,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not batch:
                break
            for message in batch:
                handles.append(message["ReceiptHandle"])
                seen.setdefault(message["MessageId"], _to_dead_letter(message))
    finally:
        _release(sqs, url, handles)
    return sorted(seen.values(), key=lambda d: d.sent_timestamp_ms)


def _release(sqs: Any, url: str, handles: list[str]) -> None:
    for start in range(0, len(handles), 10):
        entries = [
            {"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": 0}
            for i, h in enumerate(handles[start : start + 10])
        ]
        sqs.change_message_visibility_batch(QueueUrl=url, Entries=entries)


def summary(sqs: Any, url: str, scan_limit: int = 1000) -> DlqSummary:
    """Counts, and the age of the oldest of the first ``scan_limit`` messages."""
    visible, in_flight = queue_counts(sqs, url)
    letters = peek(sqs, url, limit=scan_limit) if visible else []
    oldest = max((d.age_seconds() for d in letters), default=None)
    return DlqSummary(visible, in_flight, oldest, len(letters))


def _unsupported(exc: ClientError) -> bool:
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
    return status >= 500 or exc.response.get("Error", {}).get("Code") in _UNSUPPORTED_CODES


def redrive(
    sqs: Any,
    dlq_url: str,
    source_url: str,
    *,
    on_progress: Progress | None = None,
    poll_seconds: float = 1.0,
    max_messages: int | None = None,
) -> RedriveResult:
    """Move the DLQ's messages back to ``source_url``.

    First with ``StartMessageMoveTask`` (what the console's "Start DLQ redrive" runs), following the task to
    its end. Where the endpoint does not implement it (moto answers HTTP 500), by receive -> send -> delete,
    keeping each message's body and attributes. A crash between send and delete leaves a copy in both
    queues; the consumer absorbs the duplicate, as it does SQS's own redeliveries.
    """
    arn = _arn(sqs, dlq_url)
    destination = _arn(sqs, source_url)
    try:
        handle = sqs.start_message_move_task(SourceArn=arn, DestinationArn=destination)["TaskHandle"]
    except ClientError as exc:
        if not _unsupported(exc):
            raise
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = exc.response.get("Error", {}).get("Code")
        # moto's bare 500 carries no error code of its own (botocore uses the status): say it once.
        named = f" ({code})" if code and code != str(status) else ""
        reason = f"{MOVE_TASK} answered HTTP {status}{named}"
        return _move_by_hand(sqs, dlq_url, source_url, reason, on_progress, max_messages)
    return _follow_task(sqs, arn, handle, on_progress, poll_seconds)


def _arn(sqs: Any, url: str) -> str:
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    return str(attrs["QueueArn"])


def _follow_task(
    sqs: Any, arn: str, handle: str, on_progress: Progress | None, poll_seconds: float
) -> RedriveResult:
    result = RedriveResult(path=MOVE_TASK, task_handle=handle, status="RUNNING")
    while result.status in _RUNNING:
        tasks = sqs.list_message_move_tasks(SourceArn=arn, MaxResults=10).get("Results", [])
        task = next((t for t in tasks if t.get("TaskHandle") == handle), tasks[0] if tasks else None)
        if task is None:
            break
        result.status = task["Status"]
        result.moved = int(task.get("ApproximateNumberOfMessagesMoved", 0))
        to_move = task.get("ApproximateNumberOfMessagesToMove")
        if on_progress:
            on_progress(result.moved, int(to_move) if to_move is not None else None)
        if task.get("FailureReason"):
            result.reason = task["FailureReason"]
        if result.status in _RUNNING:
            time.sleep(poll_seconds)
    return result


def _send_entry(index: int, message: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {"Id": str(index), "MessageBody": message["Body"]}
    if message.get("MessageAttributes"):
        entry["MessageAttributes"] = {
            name: {k: v for k, v in value.items() if k in {"DataType", "StringValue", "BinaryValue"}}
            for name, value in message["MessageAttributes"].items()
        }
    group = message.get("Attributes", {}).get("MessageGroupId")
    if group:  # FIFO queues
        entry["MessageGroupId"] = group
        entry["MessageDeduplicationId"] = message["MessageId"]
    return entry


def _move_by_hand(
    sqs: Any,
    dlq_url: str,
    source_url: str,
    reason: str,
    on_progress: Progress | None,
    max_messages: int | None,
) -> RedriveResult:
    result = RedriveResult(path=FALLBACK, reason=reason)
    visible, _ = queue_counts(sqs, dlq_url)
    total = min(visible, max_messages) if max_messages is not None else visible
    failed_ids: set[str] = set()
    while max_messages is None or result.moved < max_messages:
        want = 10 if max_messages is None else min(10, max_messages - result.moved)
        batch = sqs.receive_message(
            QueueUrl=dlq_url,
            MaxNumberOfMessages=want,
            VisibilityTimeout=60,
            WaitTimeSeconds=0,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        batch = [m for m in batch if m["MessageId"] not in failed_ids]
        if not batch:
            break
        sent = sqs.send_message_batch(
            QueueUrl=source_url, Entries=[_send_entry(i, m) for i, m in enumerate(batch)]
        )
        ok = {int(s["Id"]) for s in sent.get("Successful", [])}
        for failure in sent.get("Failed", []):
            message = batch[int(failure["Id"])]
            failed_ids.add(message["MessageId"])
            result.details.append(f"{message['MessageId']}: {failure.get('Code')}")
        done = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch) if i in ok]
        if done:
            sqs.delete_message_batch(QueueUrl=dlq_url, Entries=done)
        not_sent = [m["ReceiptHandle"] for i, m in enumerate(batch) if i not in ok]
        _release(sqs, dlq_url, not_sent)
        result.moved += len(done)
        result.failed = len(failed_ids)
        if on_progress:
            on_progress(result.moved, max(total, result.moved))
    return result
