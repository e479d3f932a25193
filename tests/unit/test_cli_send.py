"""plutus send's inputs (samples by name, files, raw bodies) and plutus events watch's loop."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from plutus_dev.cli import send
from plutus_dev.cli.events_commands import watch_event


def test_a_sample_name_sends_the_body_of_its_api_gateway_event() -> None:
    body = json.loads(send.load("payment_completed"))

    assert body["event_type"] == "payment_completed"
    assert body["idempotency_key"] == "sample_payment_completed_1.0"
    assert "payment_completed" in send.sample_names()
    assert "consumer_batch" not in send.sample_names()  # an SQS event, not an ingest request


def test_a_file_may_be_an_envelope_or_an_api_gateway_event(tmp_path: Path) -> None:
    envelope = {"source": "s", "schema_version": "1.0", "idempotency_key": "k", "payload": {}}
    plain = tmp_path / "envelope.json"
    plain.write_text(json.dumps(envelope))
    wrapped = tmp_path / "apigw.json"
    wrapped.write_text(json.dumps({"httpMethod": "POST", "body": json.dumps(envelope)}))

    assert json.loads(send.load(str(plain))) == envelope
    assert json.loads(send.load(str(wrapped))) == envelope


def test_a_base64_api_gateway_body_is_decoded() -> None:
    event = {"httpMethod": "POST", "body": "eyJhIjogMX0=", "isBase64Encoded": True}

    assert json.loads(send.body_of(json.dumps(event))) == {"a": 1}


def test_a_raw_body_is_sent_as_is() -> None:
    raw = '{"source": "s", "schema_version": "1.0", "idempotency_key": "k", "payload": {"x": 1}}'

    assert send.load(raw) == raw


def test_the_dev_failing_sample_is_sent_by_name() -> None:
    body = json.loads(send.load("dev_failure_requested"))

    assert body["event_type"] == "dev_failure_requested"
    assert body["payload"]["fail_for_seconds"] > 0
    assert "dev_failure_requested" in send.sample_names()


def test_an_unknown_name_lists_the_samples() -> None:
    with pytest.raises(send.SendError) as caught:
        send.load("no_such_event")

    assert "payment_completed" in str(caught.value)


def test_a_new_key_makes_a_new_event() -> None:
    body = send.load("payment_completed")

    first, second = json.loads(send.with_new_key(body)), json.loads(send.with_new_key(body))

    assert first["idempotency_key"] != second["idempotency_key"] != "sample_payment_completed_1.0"
    assert first["payload"] == json.loads(body)["payload"]


def test_watch_reports_each_change_until_a_final_state() -> None:
    reads: list[dict[str, Any] | None] = [
        None,
        {"status": "RECEIVED", "attempts": 0},
        {"status": "RECEIVED", "attempts": 0},
        {"status": "PROCESSING", "attempts": 1, "last_error": "boom"},
        {"status": "FAILED", "attempts": 2, "last_error": "boom"},
        {"status": "PROCESSED", "attempts": 3},  # never read: FAILED is final
    ]
    seen: list[dict[str, Any] | None] = []
    now = [0.0]

    final = watch_event(
        lambda: reads.pop(0),
        seen.append,
        timeout=60,
        clock=lambda: now[0],
        sleep=lambda s: now.__setitem__(0, now[0] + s),
    )

    assert final == {"status": "FAILED", "attempts": 2, "last_error": "boom"}
    assert [s and s["status"] for s in seen] == [None, "RECEIVED", "PROCESSING", "FAILED"]


def test_watch_gives_up_at_its_timeout() -> None:
    now = [0.0]

    final = watch_event(
        lambda: {"status": "PROCESSING", "attempts": 1},
        lambda item: None,
        timeout=5,
        clock=lambda: now[0],
        sleep=lambda s: now.__setitem__(0, now[0] + s),
    )

    assert final == {"status": "PROCESSING", "attempts": 1}
    assert now[0] == 5.0
