"""Ingest under throttling, lost answers and crashes: a retry or a clean 503, never a half-written event."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from plutus.adapters import idempotency_records as records
from plutus_dev.emulator.lambda_runtime import InProcessFunction
from plutus_dev.faults.proxy import Call, FaultKind, FaultProxy, Rule, operation_is
from tests import tables
from tests.builders import an_event
from tests.integration.harness import Harness, harness

EVENT = an_event("evt_resilience")
# The ingest Lambda's remaining time sets Powertools' in-progress expiry: short, so the tests need not wait.
SHORT_TIMEOUT = 2
# The crashed invocation's remaining time must outlast the checks between the crash and the retry that
# expects a 409, even on a loaded machine (2 s did not, at a load average of 12 on 2 cores; 8 s once did not,
# at 9 with four agents' tests): the ingest function's own timeout.
CRASHED_INVOCATION_TIMEOUT = 15

# Slow (2-4 s each: fault proxy, botocore retries and the in-progress expiry): not in `make test-fast`.
pytestmark = pytest.mark.slow


@pytest.fixture
def faulty(proxy: FaultProxy) -> Iterator[Harness]:
    """Both handlers talk to the emulator through the fault proxy; ingest has a short Lambda timeout."""
    with harness(proxy.url, parameters={"MaxReceiveCount": "3"}) as h:
        h.ingest = InProcessFunction("IngestFunction", h.ingest.handler, timeout=SHORT_TIMEOUT)
        yield h


def _records(h: Harness) -> dict[str, list[dict[str, Any]]]:
    """The idempotency records (on the events' items) and the accepted events (items with a status)."""
    items = h.scan("EventsTable")
    return {
        "idempotency": [i for i in items if records.STATE_ATTR in i],
        "events": [i for i in items if "status" in i],
    }


def _wait_for_in_progress_expiry(h: Harness) -> None:
    (record,) = _records(h)["idempotency"]
    assert record[records.STATE_ATTR] == records.INPROGRESS
    expiry = int(record[records.DEADLINE_ATTR]) / 1000
    time.sleep(max(0.0, expiry - time.time()) + 0.2)


def _claims(call: Call) -> bool:
    """The ingest's claims: conditional updates marking a key INPROGRESS."""
    return call.service == "dynamodb" and call.operation == "UpdateItem" and call.mentions(":inprogress")


def _completions(call: Call) -> bool:
    """The ingest's completions: the update that writes the event RECEIVED and its record COMPLETED."""
    return call.service == "dynamodb" and call.operation == "UpdateItem" and call.mentions(":completed")


def _assert_retryable_503(response: Any) -> None:
    assert response.status == 503
    assert response.headers["retry-after"] == "1"
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith("/dependency-unavailable")


def test_a_throttled_conditional_put_is_retried_and_the_event_accepted(
    faulty: Harness, proxy: FaultProxy
) -> None:
    rule = proxy.add_rule(Rule(_claims, FaultKind.THROTTLE, times=2))

    response = faulty.post_event(EVENT)

    assert response.status == 202
    assert rule.times == 0 and proxy.stats.calls["dynamodb.UpdateItem"] == 3 + 1  # claims, completion
    assert faulty.get_event(response.json()["event_id"]).json()["status"] == "RECEIVED"
    assert faulty.queue_depth() == 1


def test_a_throttled_idempotency_table_is_a_clean_503_that_stores_nothing(
    faulty: Harness, proxy: FaultProxy
) -> None:
    # Given the claim on the events table throttles every attempt
    proxy.add_rule(Rule(_claims, FaultKind.THROTTLE))

    # Then the producer gets a retryable 503 and nothing was written or queued
    _assert_retryable_503(faulty.post_event(EVENT))
    assert _records(faulty) == {"idempotency": [], "events": []}
    assert faulty.queue_depth() == 0

    # And its retry, once the table recovers, is accepted
    proxy.clear()
    assert faulty.post_event(EVENT).status == 202


def test_a_failed_send_keeps_the_key_until_its_deadline_then_the_retry_is_accepted(
    faulty: Harness, proxy: FaultProxy
) -> None:
    # Given SQS answers every attempt of the send with a 5xx (botocore retried it: an attempt may have queued
    # the message with its answer lost, so ingest cannot tell)
    proxy.add_rule(Rule(operation_is("sqs", "SendMessage"), FaultKind.UNAVAILABLE))

    # Then the producer gets a retryable 503, no event, and the key stays claimed
    _assert_retryable_503(faulty.post_event(EVENT))
    stored = _records(faulty)
    assert stored["events"] == []
    assert [r[records.STATE_ATTR] for r in stored["idempotency"]] == [records.INPROGRESS]

    # And the retry is answered 409 until the claim's deadline, then accepted
    proxy.clear()
    assert faulty.post_event(EVENT).status == 409
    _wait_for_in_progress_expiry(faulty)
    assert faulty.post_event(EVENT).status == 202
    assert faulty.queue_depth() == 1


def test_a_throttled_completion_is_a_503_and_the_retry_converges_on_one_event(
    faulty: Harness, proxy: FaultProxy
) -> None:
    # Given the completion (the update writing the event RECEIVED and its record COMPLETED) is throttled on
    # every attempt
    proxy.add_rule(Rule(_completions, FaultKind.THROTTLE))

    # Then the producer gets a retryable 503; the message went out, but no event row and no COMPLETED record
    _assert_retryable_503(faulty.post_event(EVENT))
    stored = _records(faulty)
    assert stored["events"] == []
    assert [r[records.STATE_ATTR] for r in stored["idempotency"]] == [records.INPROGRESS]
    assert faulty.queue_depth() == 1

    # After the in-progress expiry (409 until then) the retry is accepted, with the first message's id
    proxy.clear()
    _wait_for_in_progress_expiry(faulty)
    accepted = faulty.post_event(EVENT)
    assert accepted.status == 202
    event_id = accepted.json()["event_id"]

    # And the two messages make one event, applied once
    assert faulty.drain() == 2
    view = faulty.get_event(event_id).json()
    assert view["status"] == "PROCESSED" and view["attempts"] == 1
    assert tables.applied(faulty.scan("EventsTable"), event_id) == [1]
    assert len(faulty.scan("EventsTable")) == 1


@pytest.mark.parametrize("kind", [FaultKind.LOST_500, FaultKind.LOST_RESET, FaultKind.LOST_TIMEOUT])
def test_a_lost_send_answer_queues_a_duplicate_that_the_consumer_absorbs(
    faulty: Harness, proxy: FaultProxy, kind: FaultKind
) -> None:
    # Given SQS applies the first SendMessage but its answer is lost, so botocore sends it again
    proxy.add_rule(Rule(operation_is("sqs", "SendMessage"), kind, times=1))

    response = faulty.post_event(EVENT)

    assert response.status == 202
    assert faulty.queue_depth() == 2
    event_id = response.json()["event_id"]
    assert faulty.drain() == 2
    assert tables.applied(faulty.scan("EventsTable"), event_id) == [1]


def test_a_lost_commit_answer_in_the_consumer_applies_once(faulty: Harness, proxy: FaultProxy) -> None:
    event_id = faulty.post_event(EVENT).json()["event_id"]
    # Given the consumer's commit is applied but its answer is lost (botocore retries it). The default
    # handler's receipt folds into the marker, so the commit is one conditional UpdateItem.
    proxy.add_rule(Rule(operation_is("dynamodb", "UpdateItem"), FaultKind.LOST_500, times=1))

    assert faulty.drain() == 1

    view = faulty.get_event(event_id).json()
    assert view["status"] == "PROCESSED"
    assert tables.applied(faulty.scan("EventsTable"), event_id) == [1]


class SimulatedCrash(BaseException):
    """Not an ``Exception``: Powertools' cleanup does not run, as when Lambda kills the process."""


def test_an_ingest_that_crashed_before_enqueueing_is_retried_after_the_in_progress_expiry(
    stack: Harness,
) -> None:
    from tests.integration.harness import app_client as client

    stack.ingest = InProcessFunction(
        "IngestFunction", stack.ingest.handler, timeout=CRASHED_INVOCATION_TIMEOUT
    )
    stack.request("GET", "/health")  # build the app and its clients

    def crash(**_: object) -> None:
        raise SimulatedCrash

    # Given the function dies after writing the idempotency record, before SendMessage
    sqs = client("sqs")
    sqs.meta.events.register("before-call.sqs.SendMessage", crash)
    try:
        try:
            crashed = stack.post_event(EVENT)
        except SimulatedCrash:
            crashed = None
    finally:
        sqs.meta.events.unregister("before-call.sqs.SendMessage", crash)
    assert crashed is None or crashed.status >= 500
    stored = _records(stack)
    assert [r[records.STATE_ATTR] for r in stored["idempotency"]] == [records.INPROGRESS]
    assert stored["events"] == [] and stack.queue_depth() == 0

    # Then a retry during the dead invocation's remaining time is a 409, and one after it succeeds
    assert stack.post_event(EVENT).status == 409
    _wait_for_in_progress_expiry(stack)
    retried = stack.post_event(EVENT)
    assert retried.status == 202
    assert stack.drain() == 1
    assert stack.get_event(retried.json()["event_id"]).json()["status"] == "PROCESSED"
