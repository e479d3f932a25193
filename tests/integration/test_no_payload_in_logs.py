"""A payload's content never reaches a log line, at any level, on any path: accepted, duplicate, rejected,
conflicting, processed, failed, retried, dead-lettered, unparseable. Everything the real handlers write to
stdout, stderr or any logger is captured with the log level at DEBUG, and searched for a marker string."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from plutus.core.registry import EventContext, EventModel, Registry, Router
from plutus.domains import default
from plutus_dev.emulator.poller import to_record
from plutus_dev.emulator.resources import Emulator
from tests.integration.capture import capture_output
from tests.integration.harness import Harness, harness

MARKER = "PAN4111111111111111MARKER"


class CardChargedV1(EventModel):
    event_type = "test_card_charged"
    schema_version = "1.0"

    amount: int
    card_number: str


class LedgerDownV1(EventModel):
    event_type = "test_ledger_down"
    schema_version = "1.0"

    card_number: str


router = Router("test_no_payload_in_logs")


@router.on(CardChargedV1)
def handle_card_charged(event: CardChargedV1, ctx: EventContext) -> None:
    return None


@router.on(LedgerDownV1)
def handle_ledger_down(event: LedgerDownV1, ctx: EventContext) -> None:
    # A handler failing on a payload field: the exception is pydantic's, whose message embeds the input.
    CardChargedV1.model_validate({"amount": event.card_number, "card_number": event.card_number})


@pytest.fixture
def h(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    registry = Registry(default_handler=default.handle_record_receipt)
    registry.include_router(router)
    with harness(
        emulator.url,
        parameters={"MaxReceiveCount": "2"},
        environment={"POWERTOOLS_LOGGER_LOG_EVENT": "true"},  # must not make a handler log its event
        registry=registry,
    ) as stack:
        yield stack


def _body(key: str, payload: dict[str, Any], event_type: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"source": "card_gateway", "schema_version": "1.0", "idempotency_key": key}
    body["payload"] = payload
    if event_type:
        body["event_type"] = event_type
    return body


def _conflict(h: Harness, body: dict[str, Any]) -> int:
    from tests.integration.harness import app_client as client

    entered, release = threading.Event(), threading.Event()

    def hold(**_: object) -> None:
        entered.set()
        release.wait(10)

    sqs = client("sqs")
    sqs.meta.events.register("before-call.sqs.SendMessage", hold)
    first = threading.Thread(target=lambda: h.post_event(body))
    first.start()
    assert entered.wait(10)
    try:
        return h.post_event(body).status
    finally:
        sqs.meta.events.unregister("before-call.sqs.SendMessage", hold)
        release.set()
        first.join(10)


def test_the_marker_appears_in_no_log_line(h: Harness) -> None:
    card = {"amount": 100, "card_number": MARKER}
    with capture_output() as out:
        # Accepted, typed and untyped, then replayed
        assert h.post_event(_body("k-typed", card, "test_card_charged")).status == 202
        assert h.post_event(_body("k-untyped", {"note": MARKER})).status == 202
        assert h.post_event(_body("k-untyped", {"note": MARKER})).status == 200
        # Rejected: same key with other content, invalid typed payload, malformed JSON, bad field, too large
        assert h.post_event(_body("k-untyped", {"note": MARKER + "2"})).status == 422
        assert (
            h.post_event(_body("k-bad", {"amount": MARKER, "card_number": 1}, "test_card_charged")).status
            == 422
        )
        assert h.request("POST", "/api/v1/ingest", '{"payload": {"x": "' + MARKER).status == 400
        assert h.post_event({**_body("k-ctl", {"x": MARKER}), "source": "a\x00" + MARKER}).status == 422
        assert h.request("POST", "/api/v1/ingest", json.dumps({"p": MARKER * 20_000})).status == 413
        # In flight: 409
        assert _conflict(h, _body("k-flight", {"note": MARKER})) == 409
        # A handler that fails on the payload, and a message no one can parse: retried, then dead-lettered
        failing = h.post_event(_body("k-fail", {"card_number": MARKER}, "test_ledger_down")).json()[
            "event_id"
        ]
        h.client("sqs").send_message(QueueUrl=h.queue_url, MessageBody='{"payload": "' + MARKER + '"')
        h.drain()
        # A processed event delivered again (its deletion lost)
        h.post_event(_body("k-again", {"note": MARKER}))
        sqs = h.client("sqs")
        message = sqs.receive_message(QueueUrl=h.queue_url, MessageSystemAttributeNames=["All"])["Messages"][
            0
        ]
        h.consumer.invoke({"Records": [to_record(message, h.stack.arns["EventsQueue"], "us-east-1")]})
        sqs.change_message_visibility(
            QueueUrl=h.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        )
        assert h.drain() == 1

    # The marker really went through: it is in the DLQ twice (the failed event, the unparseable message)
    dead = h.client("sqs").receive_message(QueueUrl=h.dlq_url, MaxNumberOfMessages=10)["Messages"]
    assert len(dead) == 2 and all(MARKER in m["Body"] for m in dead)
    assert h.get_event(failing).json()["status"] == "FAILED"
    # And the capture saw every path's log lines, at DEBUG too
    messages = {line.get("message") for line in out.logs}
    assert {
        "event accepted",
        "duplicate event replayed",
        "processing failed",
        "unparseable message",
    } <= messages
    assert {"processed", "request parsed", "record received"} <= messages
    assert "already processed; acknowledged without running handlers again" in messages
    assert {"request rejected", "request in flight"} <= messages
    assert any(line.get("event_id") == failing for line in out.logs)
    assert len(out.emf) > 10

    leaks = [line for line in out.lines if MARKER in line]
    assert leaks == []
