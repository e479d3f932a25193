"""A payload's content never reaches a log line, at any level, on any path: accepted, duplicate, rejected,
conflicting, processed, failed, retried, dead-lettered, unparseable. Everything the real handlers write to
stdout, stderr or any logger is captured with the log level at DEBUG, and searched for a marker string."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest

from plutus.core.payloads import payload_prefix
from plutus.core.registry import EventContext, EventModel, Registry, Router
from plutus.domains import default
from plutus_dev.emulator.resources import Emulator
from tests import tables
from tests.builders import an_event, an_sqs_event
from tests.integration.capture import capture_output
from tests.integration.harness import Harness, harness

MARKER = "PAN4111111111111111MARKER"
# Every event of this test comes from one producer.
card_gateway = partial(an_event, source="card_gateway")


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
        assert h.post_event(card_gateway("k-typed", "test_card_charged", card)).status == 202
        assert h.post_event(card_gateway("k-untyped", payload={"note": MARKER})).status == 202
        assert h.post_event(card_gateway("k-untyped", payload={"note": MARKER})).status == 200
        # Rejected: same key with other content, invalid typed payload, malformed JSON, bad field, too large
        assert h.post_event(card_gateway("k-untyped", payload={"note": MARKER + "2"})).status == 422
        assert (
            h.post_event(
                card_gateway("k-bad", "test_card_charged", {"amount": MARKER, "card_number": 1})
            ).status
            == 422
        )
        assert h.request("POST", "/api/v1/ingest", '{"payload": {"x": "' + MARKER).status == 400
        assert (
            h.post_event(card_gateway("k-ctl", payload={"x": MARKER}, source="a\x00" + MARKER)).status == 422
        )
        assert h.request("POST", "/api/v1/ingest", json.dumps({"p": MARKER * 250_000})).status == 413
        # Large: stored in S3 behind a pointer and processed; another whose stored payload is then tampered
        # with (a digest mismatch names no content)
        assert h.post_event(card_gateway("k-large", payload={"note": MARKER * 12_000})).status == 202
        tampered = h.post_event(card_gateway("k-tampered", payload={"note": MARKER * 12_001})).json()[
            "event_id"
        ]
        s3, bucket = h.client("s3"), h.stack.refs["PayloadBucket"]
        listed = s3.list_objects_v2(Bucket=bucket, Prefix=payload_prefix(tampered))["Contents"]
        (key,) = [o["Key"] for o in listed]
        stored = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        s3.put_object(Bucket=bucket, Key=key, Body=stored.replace(b"MARKER", b"MARKEX"))
        # In flight: 409
        assert _conflict(h, card_gateway("k-flight", payload={"note": MARKER})) == 409
        # A handler that fails on the payload, and a message no one can parse: retried, then dead-lettered
        failing = h.post_event(card_gateway("k-fail", "test_ledger_down", {"card_number": MARKER})).json()[
            "event_id"
        ]
        h.client("sqs").send_message(QueueUrl=h.queue_url, MessageBody='{"payload": "' + MARKER + '"')
        h.drain()
        # A processed event delivered again (its deletion lost)
        h.post_event(card_gateway("k-again", payload={"note": MARKER}))
        sqs = h.client("sqs")
        [message] = tables.receive(sqs, h.queue_url)
        h.consumer.invoke(an_sqs_event([message], h.stack.arns["EventsQueue"]))
        sqs.change_message_visibility(
            QueueUrl=h.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        )
        assert h.drain() == 1

    # The marker really went through: it is in the DLQ twice (the failed event, the unparseable message),
    # next to the tampered event's pointer
    dead = tables.receive(h.client("sqs"), h.dlq_url, 10)
    assert len(dead) == 3 and sum(MARKER in m["Body"] for m in dead) == 2
    assert h.get_event(failing).json()["status"] == "FAILED"
    assert h.get_event(tampered).json()["last_error"].startswith("PayloadIntegrityError")
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
