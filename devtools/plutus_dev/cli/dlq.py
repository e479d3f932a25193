"""The dead-letter queue: inspect it without removing anything, and redrive it to the source queue.

Plain functions over an SQS client; ``plutus dlq`` is a thin layer on top.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from plutus.adapters.dead_letters import FAILED_AT_ATTRIBUTE
from plutus.core.payloads import sha256_hex
from plutus_dev.cli.bulk import Estimate, TokenBucket, iso

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
    kept: int = 0  # left in the DLQ because the filter did not select them


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
    rate: float | None = None,
    stopped: Callable[[], bool] = lambda: False,
    bucket: TokenBucket | None = None,
) -> RedriveResult:
    """Move the DLQ's messages back to ``source_url``.

    ``rate`` caps messages per second (the move task's ``MaxNumberOfMessagesPerSecond``, or ``bucket`` on
    the fallback path); ``stopped`` ends it early (the move task is cancelled, the fallback stops between
    batches).

    First with ``StartMessageMoveTask`` (what the console's "Start DLQ redrive" runs), following the task to
    its end. Where the endpoint does not implement it (moto answers HTTP 500), by receive -> send -> delete,
    keeping each message's body and attributes. A crash between send and delete leaves a copy in both
    queues; the consumer absorbs the duplicate, as it does SQS's own redeliveries.
    """
    arn = _arn(sqs, dlq_url)
    destination = _arn(sqs, source_url)
    task: dict[str, Any] = {"SourceArn": arn, "DestinationArn": destination}
    if rate is not None:
        task["MaxNumberOfMessagesPerSecond"] = max(1, min(500, int(rate)))
    try:
        handle = sqs.start_message_move_task(**task)["TaskHandle"]
    except ClientError as exc:
        if not _unsupported(exc):
            raise
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = exc.response.get("Error", {}).get("Code")
        # moto's bare 500 carries no error code of its own (botocore uses the status): say it once.
        named = f" ({code})" if code and code != str(status) else ""
        reason = f"{MOVE_TASK} answered HTTP {status}{named}"
        limit = bucket or TokenBucket(rate)
        return _move_by_hand(sqs, dlq_url, source_url, reason, on_progress, max_messages, limit, stopped)
    return _follow_task(sqs, arn, handle, on_progress, poll_seconds, stopped)


def _arn(sqs: Any, url: str) -> str:
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    return str(attrs["QueueArn"])


def _follow_task(
    sqs: Any,
    arn: str,
    handle: str,
    on_progress: Progress | None,
    poll_seconds: float,
    stopped: Callable[[], bool] = lambda: False,
) -> RedriveResult:
    result = RedriveResult(path=MOVE_TASK, task_handle=handle, status="RUNNING")
    cancelled = False
    while result.status in _RUNNING:
        if stopped() and not cancelled:
            sqs.cancel_message_move_task(TaskHandle=handle)  # the messages not moved yet stay in the DLQ
            cancelled = True
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


def _send_entry(index: int, message: dict[str, Any], fifo: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {"Id": str(index), "MessageBody": message["Body"]}
    if message.get("MessageAttributes"):
        entry["MessageAttributes"] = {
            name: {k: v for k, v in value.items() if k in {"DataType", "StringValue", "BinaryValue"}}
            for name, value in message["MessageAttributes"].items()
        }
    group = message.get("Attributes", {}).get("MessageGroupId")
    if group:  # the key on FIFO queues, the source on standard (fair) ones
        entry["MessageGroupId"] = group
    if fifo:  # a standard queue refuses a deduplication id
        entry["MessageDeduplicationId"] = message["MessageId"]
    return entry


def _move_by_hand(
    sqs: Any,
    dlq_url: str,
    source_url: str,
    reason: str,
    on_progress: Progress | None,
    max_messages: int | None,
    bucket: TokenBucket,
    stopped: Callable[[], bool],
) -> RedriveResult:
    result = RedriveResult(path=FALLBACK, reason=reason)
    visible, _ = queue_counts(sqs, dlq_url)
    total = min(visible, max_messages) if max_messages is not None else visible
    failed_ids: set[str] = set()
    while (max_messages is None or result.moved < max_messages) and not stopped():
        want = 10 if max_messages is None else min(10, max_messages - result.moved)
        want = _tokens(bucket, want)
        if want == 0:
            break  # stopped while waiting for the rate limit
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
        fifo = source_url.endswith(".fifo")
        sent = sqs.send_message_batch(
            QueueUrl=source_url, Entries=[_send_entry(i, m, fifo) for i, m in enumerate(batch)]
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


def _tokens(bucket: TokenBucket, want: int) -> int:
    """Take up to ``want`` tokens, one at a time (each waits its turn); fewer if a stop cut a wait short."""
    taken = 0
    while taken < want and bucket.take():
        taken += 1
    return taken


@dataclass(frozen=True)
class LetterFilter:
    """Which dead letters a filtered redrive moves; the others stay in the DLQ untouched.

    ``since``/``until`` bound the event's ``received_at`` (its envelope), or the message's first send time
    when the body is not an event. ``error`` is the exception's class: the consumer's dead-letter attribute
    when it dead-lettered the message itself, else the event's ``last_error`` in the events table.
    """

    source: str | None = None
    event_type: str | None = None
    since: str | None = None
    until: str | None = None
    error: str | None = None

    def __bool__(self) -> bool:
        return any(v is not None for v in (self.source, self.event_type, self.since, self.until, self.error))

    def matches(self, letter: DeadLetter, error_class: Callable[[DeadLetter], str | None]) -> bool:
        envelope = letter.envelope()
        if self.source is not None and envelope.get("source") != self.source:
            return False
        if self.event_type is not None and envelope.get("event_type") != self.event_type:
            return False
        when = received_at(letter)
        if self.since is not None and when < self.since:
            return False
        if self.until is not None and when >= self.until:
            return False
        return self.error is None or error_class(letter) == self.error


def received_at(letter: DeadLetter) -> str:
    """The event's receive time, or (a body that is not an event) when the message was first sent."""
    value = letter.envelope().get("received_at")
    if isinstance(value, str):
        return value
    return iso(datetime.fromtimestamp(letter.sent_timestamp_ms / 1000, UTC))


class ErrorClasses:
    """Each dead letter's error class, read once per event (``GetItem``) when the message does not say it."""

    def __init__(self, dynamodb: Any | None, events_table: str | None) -> None:
        self.dynamodb = dynamodb
        self.events_table = events_table
        self.lookups = 0
        self._known: dict[str, str | None] = {}

    def __call__(self, letter: DeadLetter) -> str | None:
        noted = letter.attributes.get(FAILED_AT_ATTRIBUTE, {}).get("StringValue")
        if noted:
            return str(noted)
        if letter.event_id is None or self.dynamodb is None or self.events_table is None:
            return None
        if letter.event_id not in self._known:
            from plutus.adapters import events_store

            self.lookups += 1
            item = events_store.get_event(self.dynamodb, self.events_table, letter.event_id)
            error = (item or {}).get("last_error")
            self._known[letter.event_id] = str(error).split(":", 1)[0] if error else None
        return self._known[letter.event_id]


@dataclass
class RedrivePlan:
    """What a redrive would move, keep and cost (from a peek at up to ``scan_limit`` messages)."""

    visible: int
    scanned: int
    matching: int = 0
    oldest: str | None = None
    newest: str | None = None
    errors: Counter[str] = field(default_factory=Counter)
    run: Estimate = field(default_factory=Estimate)
    spent: Estimate = field(default_factory=Estimate)

    @property
    def kept(self) -> int:
        return self.scanned - self.matching


def plan_redrive(
    sqs: Any, dlq_url: str, flt: LetterFilter, errors: ErrorClasses, scan_limit: int = 1000
) -> RedrivePlan:
    """Peek at the DLQ (messages stay; their receive count goes up by one) and price a redrive of it."""
    visible, _ = queue_counts(sqs, dlq_url)
    letters = peek(sqs, dlq_url, limit=scan_limit) if visible else []
    found = RedrivePlan(visible, len(letters))
    receives = math.ceil(len(letters) / 10) + 1  # and the empty receive that ends a pass
    for _ in range(receives):
        found.spent.sqs("ReceiveMessage")
    for _ in range(math.ceil(len(letters) / 10)):
        found.spent.sqs("ChangeMessageVisibilityBatch")
    before = errors.lookups
    for letter in letters:
        if flt and not flt.matches(letter, errors):
            continue
        found.matching += 1
        when = received_at(letter)
        found.oldest = min(found.oldest or when, when)
        found.newest = max(found.newest or when, when)
        found.errors[errors(letter) or "unknown"] += 1
    for _ in range(errors.lookups - before):
        found.spent.read("GetItem", [1024], consistent=False)
    _price_run(found, letters, flt, errors)
    return found


def _price_run(
    found: RedrivePlan, letters: list[DeadLetter], flt: LetterFilter, errors: ErrorClasses
) -> None:
    moved = [d for d in letters if not flt or flt.matches(d, errors)]
    for _ in range(math.ceil(len(letters) / 10) + 1):
        found.run.sqs("ReceiveMessage")
    for start in range(0, len(moved), 10):
        chunk = moved[start : start + 10]
        found.run.sqs("SendMessageBatch", sum(len(d.body.encode()) for d in chunk))
        found.run.sqs("DeleteMessageBatch")
    for _ in range(math.ceil(found.kept / 10)):
        found.run.sqs("ChangeMessageVisibilityBatch")  # the ones that stay, made visible again


def redrive_filtered(
    sqs: Any,
    dlq_url: str,
    source_url: str,
    matches: Callable[[DeadLetter], bool],
    *,
    bucket: TokenBucket | None = None,
    stopped: Callable[[], bool] = lambda: False,
    on_progress: Progress | None = None,
    total: int | None = None,
    hold_seconds: int = 900,
) -> RedriveResult:
    """Move the dead letters ``matches`` selects back to ``source_url``; leave the others as they were.

    ``StartMessageMoveTask`` moves a whole queue, so a filter takes the receive -> send -> delete path. A
    message that does not match is held (invisible) until the pass ends, so one pass sees each message once,
    and then made visible again: it stays in the DLQ with its body and attributes. A matching message is sent
    with its body and attributes unchanged (a payload pointer stays a pointer), then deleted from the DLQ.
    """
    result = RedriveResult(path=FALLBACK, reason="a filter selects messages: StartMessageMoveTask moves all")
    bucket = bucket or TokenBucket(None)
    held: list[str] = []
    seen: set[str] = set()
    try:
        while not stopped():
            batch = sqs.receive_message(
                QueueUrl=dlq_url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=hold_seconds,
                WaitTimeSeconds=0,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            fresh = [m for m in batch if m["MessageId"] not in seen]
            held += [m["ReceiptHandle"] for m in batch if m["MessageId"] in seen]
            if not fresh:
                break
            seen.update(m["MessageId"] for m in fresh)
            picked = [m for m in fresh if matches(_to_dead_letter(m))]
            held += [m["ReceiptHandle"] for m in fresh if m not in picked]
            sendable = picked[: _tokens(bucket, len(picked))]
            held += [m["ReceiptHandle"] for m in picked[len(sendable) :]]
            if sendable:
                _send_and_delete(sqs, dlq_url, source_url, sendable, result, held)
            if on_progress:
                on_progress(result.moved, max(total or 0, result.moved))
    finally:
        _release(sqs, dlq_url, held)
    result.kept = len(seen) - result.moved - result.failed
    return result


def _send_and_delete(
    sqs: Any,
    dlq_url: str,
    source_url: str,
    batch: list[dict[str, Any]],
    result: RedriveResult,
    held: list[str],
) -> None:
    sent = sqs.send_message_batch(
        QueueUrl=source_url,
        Entries=[_send_entry(i, m, source_url.endswith(".fifo")) for i, m in enumerate(batch)],
    )
    ok = {int(s["Id"]) for s in sent.get("Successful", [])}
    for failure in sent.get("Failed", []):
        message = batch[int(failure["Id"])]
        result.details.append(f"{message['MessageId']}: {failure.get('Code')}")
        result.failed += 1
        held.append(message["ReceiptHandle"])  # not moved: it stays in the DLQ
    done = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch) if i in ok]
    if done:
        sqs.delete_message_batch(QueueUrl=dlq_url, Entries=done)
    result.moved += len(done)
