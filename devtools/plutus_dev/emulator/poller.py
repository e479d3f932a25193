"""What Lambda's SQS event source mapping does, against any SQS endpoint.

Receive a batch, build real SQS event records, invoke the consumer, delete only the records not listed in
``batchItemFailures`` (none if the invocation failed), and leave the rest to reappear after their visibility
timeout, where SQS counts the receive and finally moves the message to the DLQ.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from typing import Any

from plutus_dev.emulator.lambda_runtime import LambdaFunction


def to_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One ``Records[]`` entry of an SQS event, from a ``ReceiveMessage`` message."""
    attributes = dict(message.get("Attributes", {}))
    message_attributes = {
        name: {
            "stringValue": value.get("StringValue"),
            "binaryValue": value.get("BinaryValue"),
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": value["DataType"],
        }
        for name, value in message.get("MessageAttributes", {}).items()
    }
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": message.get("MD5OfBody") or hashlib.md5(message["Body"].encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


class Poller(threading.Thread):
    """One poller of the event source mapping; run several to compete on the queue."""

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        queue_arn: str,
        function: LambdaFunction,
        *,
        batch_size: int,
        wait_seconds: int,
        on_output: Callable[[str, list[str]], None],
        stop: threading.Event,
        name: str,
    ) -> None:
        super().__init__(name=name, daemon=True)
        self.sqs = sqs
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.function = function
        self.batch_size = min(batch_size, 10)
        self.wait_seconds = max(0, min(wait_seconds, 20))
        self.on_output = on_output
        self.stop_event = stop
        self.region = queue_arn.split(":")[3]
        self.batches = 0

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                self.poll_once()
            except Exception:  # an unreachable endpoint must not kill the poller; wait and retry
                self.stop_event.wait(1.0)

    def poll_once(self) -> tuple[list[dict[str, Any]], set[str]]:
        """Receive, invoke and delete one batch. Returns the records delivered and the ids that failed."""
        response = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            WaitTimeSeconds=self.wait_seconds,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = response.get("Messages", [])
        if not messages:
            return [], set()
        records = [to_record(m, self.queue_arn, self.region) for m in messages]
        status, result, lines = self.function.invoke_async({"Records": records}).result()
        self.on_output(self.function.name, lines)
        self.batches += 1
        if status != "ok":
            # A failed invocation deletes nothing: the whole batch comes back.
            return records, {r["messageId"] for r in records}
        failed = {f["itemIdentifier"] for f in (result or {}).get("batchItemFailures", [])}
        done = [
            {"Id": str(i), "ReceiptHandle": r["receiptHandle"]}
            for i, r in enumerate(records)
            if r["messageId"] not in failed
        ]
        if done:
            self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=done)
        return records, failed
