"""The dead-letter queue as the consumer writes to it: a permanent failure goes there at once."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

# SQS carries at most 10 message attributes; the consumer's own note takes one.
FAILED_AT_ATTRIBUTE = "plutus-dead-lettered"


class DeadLetterQueue:
    """Sends a record's body and attributes, unchanged, to the DLQ (where redrive and replay find it)."""

    def __init__(self, client: Any, url: str) -> None:
        self.client = client
        self.url = url

    def send(self, record: SQSRecord, reason: str) -> None:
        """Dead-letter ``record``; raises if SQS did not take it (the record then stays on the queue)."""
        attributes: dict[str, Any] = {}
        for name, value in (record.raw_event.get("messageAttributes") or {}).items():
            if value.get("stringValue") is not None:
                attributes[name] = {"DataType": value["dataType"], "StringValue": value["stringValue"]}
        attributes = dict(list(attributes.items())[:9])
        attributes[FAILED_AT_ATTRIBUTE] = {"DataType": "String", "StringValue": reason[:256]}
        self.client.send_message(
            QueueUrl=self.url, MessageBody=record.body, MessageAttributes=attributes, **self._group(record)
        )

    def _group(self, record: SQSRecord) -> dict[str, Any]:
        # The record's message group, kept; a FIFO DLQ also needs a deduplication id, and the message id is
        # unique to this message (a standard queue refuses one).
        fields: dict[str, Any] = {}
        group = record.attributes.message_group_id
        if group:
            fields["MessageGroupId"] = group
        if self.url.endswith(".fifo"):
            fields["MessageDeduplicationId"] = record.message_id
        return fields
