"""No secret, signature or payload reaches the logs, at DEBUG, on the accepted path and on every refusal."""

from __future__ import annotations

import io
import logging
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from plutus_dev.emulator.resources import Emulator
from tests.builders import an_event, encoded
from tests.integration.harness import Harness, harness
from tests.integration.test_webhook_auth import new_secret, post, signed, store_secret


@pytest.fixture
def logs(capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[[], str]]:
    """Everything the functions write: Plutus' logger and Powertools' own loggers at DEBUG, and stdout."""
    from plutus.observability import logger

    buffer = io.StringIO()
    handler = logger.registered_handler
    previous_stream = handler.setStream(buffer)
    previous_level = logger.log_level
    logger.setLevel("DEBUG")
    powertools = logging.getLogger("aws_lambda_powertools")
    extra = logging.StreamHandler(buffer)
    powertools.addHandler(extra)
    powertools_level = powertools.level
    powertools.setLevel(logging.DEBUG)
    try:
        yield lambda: buffer.getvalue() + capsys.readouterr().out
    finally:
        handler.setStream(previous_stream)
        logger.setLevel(previous_level)
        powertools.removeHandler(extra)
        powertools.setLevel(powertools_level)


@pytest.fixture
def webhook_stack(emulator: Emulator) -> Iterator[Harness]:
    parameters = {"AuthMode": "WEBHOOK_SIGNATURE", "WebhookSecretPrefix": f"/t{uuid.uuid4().hex[:10]}/wh/"}
    with harness(emulator.url, parameters=parameters) as h:
        yield h


def test_secrets_signatures_and_payloads_never_reach_the_logs(
    webhook_stack: Harness, logs: Callable[[], str]
) -> None:
    marker = f"PAYLOAD-MARKER-{uuid.uuid4().hex}"
    secret, other = new_secret(), new_secret()
    store_secret(webhook_stack, "payment_service", secret)
    body = encoded(an_event("evt_logs", payload={"diagnosis": marker}))
    sent: list[dict[str, str]] = []

    def send(body: bytes, headers: dict[str, str], expected: int) -> None:
        sent.append(headers)
        assert post(webhook_stack, body, headers).status == expected

    # Given every path a request can take: accepted, replayed, refused for each reason, invalid but signed
    send(body, signed(secret, body), 202)
    send(body, signed(secret, body), 200)
    send(body, signed(other, body), 401)
    send(body, signed(secret, body, at=datetime.now(UTC) - timedelta(hours=1)), 401)
    send(body, {**signed(secret, body), "webhook-signature": f"v1,{marker}"}, 401)
    unknown = encoded(an_event("evt_unknown", source=f"src-{marker}", payload={"diagnosis": marker}))
    send(unknown, signed(secret, unknown), 401)
    invalid = encoded(an_event("evt_invalid", payload={"diagnosis": marker}, schema_version=marker))
    send(invalid, signed(secret, invalid), 422)
    webhook_stack.drain()

    # Then the logs show the requests were seen...
    text = logs()
    assert "event accepted" in text and "request not authenticated" in text
    # ...and none of the secret, the signatures or the payload
    forbidden = {secret, secret.removeprefix("whsec_"), other.removeprefix("whsec_"), marker}
    for headers in sent:
        for item in headers["webhook-signature"].split(" "):
            forbidden.add(item.partition(",")[2])
    leaked = sorted(value for value in forbidden if value in text)
    assert leaked == []
