"""Redrive through StartMessageMoveTask, on an in-memory SQS that implements it (moto does not)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from plutus_dev.cli import dlq

DLQ = "https://sqs.us-east-1.amazonaws.com/123456789012/plutus-EventsDeadLetterQueue"
SOURCE = "https://sqs.us-east-1.amazonaws.com/123456789012/plutus-EventsQueue"


class FakeMoveTaskSqs:
    """Enough of SQS for a message move task: it moves two messages per status poll."""

    def __init__(self, messages: int, deny: bool = False) -> None:
        self.to_move = messages
        self.moved = 0
        self.deny = deny
        self.started: list[dict[str, str]] = []

    def get_queue_attributes(self, QueueUrl: str, AttributeNames: list[str]) -> dict[str, Any]:
        return {
            "Attributes": {"QueueArn": "arn:aws:sqs:us-east-1:123456789012:" + QueueUrl.rsplit("/", 1)[1]}
        }

    def start_message_move_task(self, **kwargs: str) -> dict[str, Any]:
        if self.deny:
            raise ClientError(
                {
                    "Error": {"Code": "AccessDenied", "Message": "no"},
                    "ResponseMetadata": {"HTTPStatusCode": 403},
                },
                "StartMessageMoveTask",
            )
        self.started.append(kwargs)
        return {"TaskHandle": "task-1"}

    def list_message_move_tasks(self, SourceArn: str, MaxResults: int) -> dict[str, Any]:
        self.moved = min(self.to_move, self.moved + 2)
        status = "COMPLETED" if self.moved == self.to_move else "RUNNING"
        return {
            "Results": [
                {
                    "TaskHandle": "task-1",
                    "Status": status,
                    "ApproximateNumberOfMessagesMoved": self.moved,
                    "ApproximateNumberOfMessagesToMove": self.to_move,
                    "SourceArn": SourceArn,
                }
            ]
        }


def test_redrive_uses_the_move_task_and_follows_its_progress() -> None:
    sqs = FakeMoveTaskSqs(messages=5)
    progress: list[tuple[int, int | None]] = []

    result = dlq.redrive(sqs, DLQ, SOURCE, on_progress=lambda m, t: progress.append((m, t)), poll_seconds=0)

    assert result.path == dlq.MOVE_TASK and result.status == "COMPLETED"
    assert result.moved == 5 and result.task_handle == "task-1"
    assert progress == [(2, 5), (4, 5), (5, 5)]
    assert sqs.started == [
        {
            "SourceArn": "arn:aws:sqs:us-east-1:123456789012:plutus-EventsDeadLetterQueue",
            "DestinationArn": "arn:aws:sqs:us-east-1:123456789012:plutus-EventsQueue",
        }
    ]


def test_a_refused_move_task_is_reported_not_worked_around() -> None:
    with pytest.raises(ClientError):
        dlq.redrive(FakeMoveTaskSqs(messages=1, deny=True), DLQ, SOURCE, poll_seconds=0)
