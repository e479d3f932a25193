"""API -> tables -> queue -> consumer -> PROCESSED, with real handlers against the emulator over HTTP."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

from plutus_dev.emulator.apigw import build_event
from plutus_dev.emulator.lambda_runtime import InProcessFunction
from tests import tables
from tests.builders import an_event, encoded
from tests.integration.harness import Harness, Response

SEED = an_event("evt_123456")


def test_seed_event_is_accepted_queued_and_processed(stack: Harness) -> None:
    # Given the seed's example body, verbatim
    response = stack.post_event(SEED)

    # Then it is accepted with a uuid, recorded as RECEIVED and queued, and not processed inline
    assert response.status == 202
    event_id = response.json()["event_id"]
    assert str(uuid.UUID(event_id)) == event_id
    view = stack.get_event(event_id).json()
    assert view["status"] == "RECEIVED"
    assert view["attempts"] == 0
    assert stack.queue_depth() == 1

    # When the consumer drains the queue
    assert stack.drain() == 1

    # Then the event is PROCESSED once, and its effect applied once
    view = stack.get_event(event_id).json()
    assert view["status"] == "PROCESSED"
    assert view["attempts"] == 1
    assert view["processed_at"] >= view["received_at"]
    assert view["source"] == "payment_service" and view["schema_version"] == "1.0"
    assert tables.applied(stack.scan("EventsTable"), event_id) == [1]
    assert stack.queue_depth() == 0


def test_duplicate_returns_same_event_id_and_creates_nothing(stack: Harness) -> None:
    first = stack.post_event(SEED)
    second = stack.post_event(SEED)

    assert first.status == 202 and "idempotent-replayed" not in first.headers
    assert second.status == 200
    assert second.headers["idempotent-replayed"] == "true"
    assert second.json() == first.json()
    assert len(stack.scan("EventsTable")) == 1
    assert stack.queue_depth() == 1
    stack.drain()
    third = stack.post_event(SEED)
    assert third.status == 200 and third.json() == first.json()
    assert stack.queue_depth() == 0
    assert tables.applied(stack.scan("EventsTable"), first.json()["event_id"]) == [1]


def test_same_key_from_another_source_is_another_event(stack: Harness) -> None:
    a = stack.post_event(SEED)
    b = stack.post_event(an_event("evt_123456", source="other_service"))
    assert a.status == b.status == 202
    assert a.json()["event_id"] != b.json()["event_id"]


def test_same_key_with_different_payload_is_a_conflict(stack: Harness) -> None:
    stack.post_event(SEED)
    response = stack.post_event(an_event("evt_123456", payload={"amount": 999, "currency": "KES"}))

    assert response.status == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"].endswith("/idempotency-key-reused")
    assert problem["errors"][0]["field"] == "idempotency_key"
    assert len(stack.scan("EventsTable")) == 1
    assert stack.queue_depth() == 1


def test_key_order_and_number_spelling_do_not_make_a_new_event(stack: Harness) -> None:
    first = stack.post_event(SEED)
    again = stack.request(
        "POST",
        "/api/v1/ingest",
        '{"payload": {"currency": "KES", "amount": 100.0}, "idempotency_key": "evt_123456",'
        ' "schema_version": "1.0", "source": "payment_service"}',
    )
    assert again.status == 200 and again.json() == first.json()


def test_idempotency_key_header_replaces_the_body_field(stack: Harness) -> None:
    body = an_event(None)
    first = stack.post_event(body, headers={"Idempotency-Key": '"evt_header_1"'})
    second = stack.post_event({**body, "idempotency_key": "evt_header_1"})
    assert first.status == 202
    assert second.status == 200 and second.json() == first.json()


def test_in_flight_duplicate_gets_409_with_retry_after(stack: Harness) -> None:
    from tests.integration.harness import app_client as client

    # Given a first request held inside its SendMessage call (its idempotency record is IN_PROGRESS)
    entered, release = threading.Event(), threading.Event()

    def hold(**_: object) -> None:
        entered.set()
        release.wait(10)

    sqs = client("sqs")
    sqs.meta.events.register("before-call.sqs.SendMessage", hold)
    results: list[object] = []
    first = threading.Thread(target=lambda: results.append(stack.post_event(SEED)))
    first.start()
    assert entered.wait(10)
    try:
        # When the duplicate arrives meanwhile
        response = stack.post_event(SEED)
    finally:
        sqs.meta.events.unregister("before-call.sqs.SendMessage", hold)
        release.set()
        first.join(10)

    # Then it is told to retry later, and only the first request creates the event
    assert response.status == 409
    assert response.headers["retry-after"] == "1"
    assert response.json()["type"].endswith("/request-in-progress")
    assert [r.status for r in results] == [202]  # type: ignore[attr-defined]
    assert stack.queue_depth() == 1
    assert len(stack.scan("EventsTable")) == 1


def test_unknown_event_id_is_404(stack: Harness) -> None:
    for event_id in (str(uuid.uuid4()), "not-a-uuid", "x" * 5000):
        response = stack.get_event(event_id)
        assert response.status == 404
        assert response.json()["type"].endswith("/event-not-found")


def test_health(stack: Harness) -> None:
    response = stack.request("GET", "/health")
    assert response.status == 200 and response.json()["status"] == "ok"


def test_a_failed_completion_is_a_clean_503_and_the_retry_converges(stack: Harness) -> None:
    from botocore.exceptions import ClientError

    from tests.integration.harness import app_client as client

    # Given DynamoDB fails the completion (the update writing the event RECEIVED), after the message was sent
    def fail(params: dict[str, Any], **_: object) -> None:
        if b":completed" in params["body"]:
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "boom"}}, "UpdateItem")

    # (a 1 s Lambda timeout, so the in-progress record expires quickly)
    short = InProcessFunction("IngestFunction", stack.ingest.handler, timeout=1)
    ddb = client("dynamodb")
    ddb.meta.events.register_first("before-call.dynamodb.UpdateItem", fail)
    try:
        status, result, _ = short.invoke(
            build_event(
                "POST",
                "/api/v1/ingest",
                {"Content-Type": "application/json"},
                encoded(SEED),
                "127.0.0.1",
            )
        )
    finally:
        ddb.meta.events.unregister("before-call.dynamodb.UpdateItem", fail)
    response = Response(
        result["statusCode"], {k.lower(): v for k, v in result["headers"].items()}, result["body"].encode()
    )

    # Then the client is told to retry, never a 500 and never an internal message
    assert response.status == 503
    assert response.headers["retry-after"] == "1"
    assert "boom" not in response.body.decode()
    # And the queued event is processed
    stack.drain()
    [recorded] = stack.scan("EventsTable")
    assert recorded["status"] == "PROCESSED"

    # When the client retries after the in-progress record expired
    time.sleep(1.2)
    retry = stack.post_event(SEED)

    # Then it gets the same event, and the second message it caused is absorbed: the effect applied once
    assert retry.status == 202 and retry.json()["event_id"] == recorded["event_id"]
    stack.drain()
    assert [e["event_id"] for e in stack.scan("EventsTable")] == [recorded["event_id"]]
    assert tables.applied(stack.scan("EventsTable"), recorded["event_id"]) == [1]
