"""Which failed sends may have queued their message (plutus.adapters.queue.outcome_unknown): only a refusal
SQS answered on the one attempt is known to have queued nothing, so only then is the key's claim released."""

from __future__ import annotations

import pytest
from botocore.exceptions import BotoCoreError, ClientError, ReadTimeoutError

from plutus.adapters.queue import outcome_unknown


def _client_error(status: int, retries: int) -> ClientError:
    response: dict[str, object] = {
        "Error": {"Code": "X", "Message": "x"},
        "ResponseMetadata": {"HTTPStatusCode": status, "RetryAttempts": retries},
    }
    return ClientError(response, "SendMessage")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("exc", "unknown"),
    [
        (_client_error(400, 0), False),  # refused on its only attempt: nothing queued
        (_client_error(403, 0), False),
        (_client_error(400, 2), True),  # throttled after retries: an earlier attempt may have landed
        (_client_error(500, 0), True),
        (_client_error(503, 3), True),
        (ReadTimeoutError(endpoint_url="https://sqs"), True),
        (BotoCoreError(), True),
    ],
)
def test_only_a_refusal_on_the_one_attempt_is_known_to_have_queued_nothing(
    exc: Exception, unknown: bool
) -> None:
    assert outcome_unknown(exc) is unknown
