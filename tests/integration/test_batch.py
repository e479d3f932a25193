"""POST /api/v1/ingest/batch against the emulator: dedup across both paths, mixed batches, the limit, how
few calls a batch costs, and partial failures of every batch API (injected with botocore hooks on the
handler's own clients)."""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from plutus.adapters import idempotency_records as records
from plutus.core.envelope import IngestRequest, content_digest, derive_event_id
from plutus.domains import default
from plutus_dev.emulator.resources import Emulator
from tests.builders import a_batch, an_event, encoded
from tests.integration.harness import Harness, harness
from tests.integration.harness import app_client as client
from tests.integration.test_webhook_auth import new_secret, signed, store_secret


def statuses(response: Any) -> list[int]:
    assert response.status == 200, response.body
    results = response.json()["results"]
    assert [r["index"] for r in results] == list(range(len(results)))
    return [r["status"] for r in results]


def ids(response: Any) -> list[str | None]:
    return [r.get("event_id") for r in response.json()["results"]]


def error_types(response: Any) -> list[str | None]:
    return [
        r["error"]["type"].rsplit("/", 1)[-1] if "error" in r else None for r in response.json()["results"]
    ]


def idempotency_records(stack: Harness) -> dict[str, dict[str, Any]]:
    """The events' items that hold an idempotency record, by event id."""
    return {r["event_id"]: r for r in stack.scan("EventsTable") if records.STATE_ATTR in r}


def record_of(stack: Harness, key: str) -> dict[str, Any] | None:
    return idempotency_records(stack).get(derive_event_id("payment_service", key))


def is_claim(items: list[dict[str, Any]]) -> bool:
    """Whether a TransactWriteItems request is a claim (conditional updates), not a completion."""
    return "ConditionExpression" in items[0].get("Update", {})


class _Http:
    def __init__(self, status_code: int) -> None:
        self.status_code = status_code


def _body(params: dict[str, Any]) -> dict[str, Any]:
    body = params["body"]
    return dict(json.loads(body.decode() if isinstance(body, bytes) else body))


@contextmanager
def hooked(aws_client: Any, event_name: str, hook: Callable[..., Any]) -> Iterator[None]:
    """Register ``hook`` on one of the handler's own clients for the duration of the block."""
    aws_client.meta.events.register(event_name, hook)
    try:
        yield
    finally:
        aws_client.meta.events.unregister(event_name, hook)


@contextmanager
def counting() -> Iterator[Counter[str]]:
    """Count the handler's AWS calls by operation (before any injected fault can answer them)."""
    calls: Counter[str] = Counter()

    def count(event_name: str, **_: Any) -> None:
        calls[event_name.rsplit(".", 1)[-1]] += 1

    event_name = "before-parameter-build"
    with hooked(client("dynamodb"), event_name, count), hooked(client("sqs"), event_name, count):
        yield calls


def cancelled(reasons: list[dict[str, Any]]) -> tuple[_Http, dict[str, Any]]:
    """A fabricated TransactionCanceledException, as DynamoDB returns it."""
    return _Http(400), {
        "Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled (injected)"},
        "CancellationReasons": reasons,
        "ResponseMetadata": {"HTTPStatusCode": 400},
    }


# --- the happy path and dedup across both paths ----------------------------------------------------------


def test_a_batch_of_new_events_is_accepted_queued_and_processed(stack: Harness) -> None:
    response = stack.post_batch(
        [an_event(f"b-{i}", payload={"amount": i, "currency": "KES"}) for i in range(5)]
    )

    assert statuses(response) == [202] * 5
    assert len(set(ids(response))) == 5
    for event_id in ids(response):
        assert stack.get_event(str(event_id)).json()["status"] == "RECEIVED"
    assert {r[records.STATE_ATTR] for r in idempotency_records(stack).values()} == {records.COMPLETED}
    assert stack.queue_depth() == 5

    assert stack.drain() == 5
    for event_id in ids(response):
        assert stack.get_event(str(event_id)).json()["status"] == "PROCESSED"


def test_a_key_sent_in_a_batch_is_a_duplicate_for_the_single_endpoint(stack: Harness) -> None:
    # Given a key accepted through the batch endpoint
    batch = stack.post_batch([an_event("cross-1")])
    assert statuses(batch) == [202]

    # When the same event comes through the single endpoint (Powertools reads the batch's record)
    single = stack.post_event(an_event("cross-1"))
    reused = stack.post_event(an_event("cross-1", payload={"amount": 999, "currency": "KES"}))

    # Then it is the same event, replayed; other content under the key is refused
    assert single.status == 200 and single.headers["idempotent-replayed"] == "true"
    assert single.json()["event_id"] == ids(batch)[0]
    assert reused.status == 422 and reused.json()["type"].endswith("/idempotency-key-reused")
    assert stack.queue_depth() == 1
    assert len(stack.scan("EventsTable")) == 1


def test_a_key_sent_to_the_single_endpoint_is_a_duplicate_in_a_batch(stack: Harness) -> None:
    single = stack.post_event(an_event("cross-2"))
    assert single.status == 202

    batch = stack.post_batch(
        [
            an_event("cross-2"),
            an_event("cross-3"),
            an_event("cross-2", payload={"amount": 5, "currency": "KES"}),
        ]
    )

    assert statuses(batch) == [200, 202, 422]
    assert ids(batch)[0] == single.json()["event_id"]
    assert error_types(batch)[2] == "idempotency-key-reused"
    assert stack.queue_depth() == 2


def test_batch_and_single_write_records_of_the_same_shape(stack: Harness) -> None:
    stack.post_event(an_event("shape-single"))
    stack.post_batch([an_event("shape-batch")])

    single, batch = record_of(stack, "shape-single"), record_of(stack, "shape-batch")

    assert single is not None and batch is not None
    assert set(single) == set(batch)
    assert single[records.STATE_ATTR] == batch[records.STATE_ATTR] == records.COMPLETED
    assert single["status"] == batch["status"] == "RECEIVED"


def test_a_mixed_batch_gets_one_result_per_event_in_order(stack: Harness) -> None:
    # Given one key already accepted
    seen = stack.post_event(an_event("mixed-seen")).json()["event_id"]

    # When a batch mixes new, duplicate, invalid, conflicting and repeated events
    response = stack.post_batch(
        [
            an_event("mixed-new"),
            an_event("mixed-seen"),
            {"source": "payment_service", "schema_version": "1.0", "payload": {}},
            an_event("mixed-seen", payload={"amount": 1, "currency": "KES"}),
            an_event("mixed-new"),
            an_event("mixed-new", payload={"amount": 2, "currency": "KES"}),
            an_event("mixed-typed", "nobody.registered"),
            "not an object",
        ]
    )

    # Then each event is answered on its own
    assert statuses(response) == [202, 200, 422, 422, 200, 422, 422, 422]
    assert error_types(response) == [
        None,
        None,
        "invalid-event",
        "idempotency-key-reused",
        None,
        "idempotency-key-reused",
        "unknown-event-type",
        "invalid-event",
    ]
    results = response.json()["results"]
    assert results[2]["error"]["errors"][0]["field"] == "idempotency_key"
    assert ids(response)[1] == seen
    assert ids(response)[4] == ids(response)[0], "a key repeated in the batch is one event"
    assert stack.queue_depth() == 2
    assert len(stack.scan("EventsTable")) == 2


def test_a_key_in_flight_elsewhere_is_409(stack: Harness) -> None:
    # Given a single request held inside its SendMessage call (its record is INPROGRESS)
    entered, release = threading.Event(), threading.Event()

    def hold(**_: object) -> None:
        entered.set()
        release.wait(10)

    results: list[Any] = []
    with hooked(client("sqs"), "before-call.sqs.SendMessage", hold):
        first = threading.Thread(target=lambda: results.append(stack.post_event(an_event("flight"))))
        first.start()
        assert entered.wait(10)
        try:
            # When a batch carries the same key
            response = stack.post_batch([an_event("flight"), an_event("flight-other")])
        finally:
            release.set()
            first.join(10)

    # Then that event is told to retry, the other is accepted
    assert statuses(response) == [409, 202]
    assert error_types(response)[0] == "request-in-progress"
    assert response.headers["retry-after"] == "1"
    assert [r.status for r in results] == [202]
    assert stack.queue_depth() == 2


# --- the envelope and the limit ---------------------------------------------------------------------------


def test_more_events_than_the_limit_are_refused_whole(stack: Harness) -> None:
    response = stack.post_batch([an_event(f"limit-{i}") for i in range(101)])

    assert response.status == 422
    assert response.json()["errors"][0]["field"] == "events"
    assert stack.scan("EventsTable") == [] and stack.queue_depth() == 0


def test_the_limit_is_a_setting(emulator: Emulator) -> None:
    with harness(emulator.url, environment={"PLUTUS_MAX_BATCH_EVENTS": "2"}) as stack:
        assert stack.post_batch([an_event("s-1"), an_event("s-2"), an_event("s-3")]).status == 422
        assert statuses(stack.post_batch([an_event("s-1"), an_event("s-2")])) == [202, 202]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"events": []}, 422),
        ({"events": "x"}, 422),
        ({"events": [an_event("e")], "extra": 1}, 422),
        ([an_event("e")], 422),
        ("{bad", 400),
    ],
    ids=["empty", "not-a-list", "extra-member", "bare-list", "malformed"],
)
def test_a_malformed_batch_is_refused_whole(stack: Harness, body: Any, status: int) -> None:
    raw = body if isinstance(body, str) else json.dumps(body)
    response = stack.request("POST", "/api/v1/ingest/batch", raw)

    assert response.status == status
    assert response.headers["content-type"].startswith("application/problem+json")
    assert stack.queue_depth() == 0


def test_a_batch_takes_no_idempotency_key_header(stack: Harness) -> None:
    response = stack.post_batch([an_event("h")], headers={"Idempotency-Key": "h"})
    assert response.status == 422 and response.json()["errors"][0]["field"] == "Idempotency-Key"


# --- amortised calls ----------------------------------------------------------------------------------


def test_a_batch_costs_a_handful_of_calls(stack: Harness) -> None:
    for i in range(3):
        stack.post_event(an_event(f"calls-seen-{i}"))

    with counting() as calls:
        response = stack.post_batch([an_event(f"calls-{i}") for i in range(27)] + [an_event("calls-seen-0")])

    assert statuses(response) == [202] * 27 + [200]
    # One read, one claim, three sends of up to 10, one completion of up to 100 events.
    assert calls == Counter(BatchGetItem=1, TransactWriteItems=2, SendMessageBatch=3)


# --- partial failures -------------------------------------------------------------------------------------


def test_send_entries_that_fail_are_503_released_and_a_retry_works(stack: Harness) -> None:
    plain = stack.client("sqs")
    failing = {"1", "3"}

    def fail_some(params: dict[str, Any], **_: Any) -> tuple[_Http, dict[str, Any]]:
        body = _body(params)
        keep = [e for e in body["Entries"] if e["Id"] not in failing]
        parsed: dict[str, Any] = {
            "Successful": [],
            "Failed": [
                {"Id": e["Id"], "SenderFault": False, "Code": "InternalError", "Message": "injected"}
                for e in body["Entries"]
                if e["Id"] in failing
            ],
        }
        if keep:
            sent = plain.send_message_batch(QueueUrl=body["QueueUrl"], Entries=keep)
            parsed["Successful"] = sent.get("Successful", [])
        return _Http(200), parsed

    batch = [an_event(f"send-{i}") for i in range(5)]
    # Given SQS failing entries 1 and 3 of every SendMessageBatch
    with hooked(client("sqs"), "before-call.sqs.SendMessageBatch", fail_some):
        first = stack.post_batch(batch)

    # Then only the queued events are 202; the others are 503 and hold no claim
    assert statuses(first) == [202, 503, 202, 503, 202]
    assert error_types(first)[1] == "dependency-unavailable"
    assert first.headers["retry-after"] == "1"
    assert record_of(stack, "send-1") is None and record_of(stack, "send-3") is None
    assert stack.queue_depth() == 3

    # When the client retries the batch
    second = stack.post_batch(batch)

    # Then the missing events are accepted with the ids they would have had, the others replayed
    assert statuses(second) == [200, 202, 200, 202, 200]
    assert ids(second) == [
        ids(first)[0],
        ids(second)[1],
        ids(first)[2],
        ids(second)[3],
        ids(first)[4],
    ]
    assert stack.queue_depth() == 5


def test_a_send_that_sqs_refuses_whole_leaves_nothing_behind(stack: Harness) -> None:
    def refused(**_: Any) -> tuple[_Http, dict[str, Any]]:
        # Answered on the call's one attempt with a 4xx: nothing was queued
        return _Http(403), {
            "Error": {"Code": "AccessDenied", "Message": "injected"},
            "ResponseMetadata": {"HTTPStatusCode": 403, "RetryAttempts": 0},
        }

    with hooked(client("sqs"), "before-call.sqs.SendMessageBatch", refused):
        response = stack.post_batch([an_event("down-1"), an_event("down-2")])

    assert statuses(response) == [503, 503]
    assert stack.scan("EventsTable") == []
    assert stack.queue_depth() == 0
    assert statuses(stack.post_batch([an_event("down-1"), an_event("down-2")])) == [202, 202]


def test_a_send_that_fails_whole_with_an_unknown_outcome_keeps_its_claims(stack: Harness) -> None:
    def unavailable(**_: Any) -> tuple[_Http, dict[str, Any]]:
        # A 5xx: an attempt may have queued the messages with its answer lost
        return _Http(500), {
            "Error": {"Code": "ServiceUnavailable", "Message": "injected"},
            "ResponseMetadata": {"HTTPStatusCode": 500, "RetryAttempts": 0},
        }

    with hooked(client("sqs"), "before-call.sqs.SendMessageBatch", unavailable):
        response = stack.post_batch([an_event("down-3"), an_event("down-4")])

    # No event, but the keys stay claimed until the invocation's deadline: other content cannot take them
    assert statuses(response) == [503, 503]
    assert [i for i in stack.scan("EventsTable") if "status" in i] == []
    assert stack.queue_depth() == 0
    reused = an_event("down-3", payload={"amount": 999})
    assert statuses(stack.post_batch([an_event("down-4"), reused])) == [409, 422]


def test_a_cancelled_claim_retries_the_batch_and_claims_only_the_conflicting_key_alone(
    stack: Harness,
) -> None:
    claims: list[int] = []

    def conflict_once(params: dict[str, Any], **_: Any) -> tuple[_Http, dict[str, Any]] | None:
        items = _body(params)["TransactItems"]
        if not is_claim(items):
            return None  # the completion goes through
        claims.append(len(items))
        if len(claims) > 1:
            return None
        # Item 2 conflicts with another transaction; the others were not written because of it.
        return cancelled(
            [{"Code": "TransactionConflict"} if i == 2 else {"Code": "None"} for i in range(len(items))]
        )

    with (
        counting() as calls,
        hooked(client("dynamodb"), "before-call.dynamodb.TransactWriteItems", conflict_once),
    ):
        response = stack.post_batch([an_event(f"claim-{i}") for i in range(5)])

    assert statuses(response) == [202] * 5
    assert claims == [5, 4], "the retry leaves the conflicting key out"
    assert calls["UpdateItem"] == 1, "only the conflicting key is claimed on its own"
    assert stack.queue_depth() == 5


def hold_key(stack: Harness, body: dict[str, Any]) -> None:
    """Write the INPROGRESS record another request would hold for ``body`` for the next minute."""
    request = IngestRequest.model_validate(body)
    clock = records.Clock.read()
    update = records.claim_update(
        stack.stack.refs["EventsTable"],
        derive_event_id(request.source, request.idempotency_key),
        content_digest(request),
        clock.now_ms + 60_000,
        clock.now + 600,
        clock,
        records.new_token(),
    )
    del update["ConditionExpression"], update["ReturnValuesOnConditionCheckFailure"]
    del update["ExpressionAttributeValues"][":now_ms"]
    stack.client("dynamodb").update_item(**update)


def test_unread_keys_are_settled_by_the_claim_condition(stack: Harness) -> None:
    # Given keys already completed, held by another request, and about to be reused with other content
    done = stack.post_event(an_event("unread-done")).json()["event_id"]
    stack.post_event(an_event("unread-reused"))
    hold_key(stack, an_event("unread-busy"))

    # And a BatchGetItem that leaves every key unprocessed, however often it is retried
    def unprocessed(params: dict[str, Any], **_: Any) -> tuple[_Http, dict[str, Any]]:
        return _Http(200), {"Responses": {}, "UnprocessedKeys": _body(params)["RequestItems"]}

    with counting() as calls, hooked(client("dynamodb"), "before-call.dynamodb.BatchGetItem", unprocessed):
        response = stack.post_batch(
            [
                an_event("unread-done"),
                an_event("unread-busy"),
                an_event("unread-reused", payload={"amount": 3, "currency": "KES"}),
                an_event("unread-new"),
            ]
        )

    # Then the claim's condition answers each seen key from the record it hands back, with no extra read
    assert statuses(response) == [200, 409, 422, 202]
    assert error_types(response)[1:3] == ["request-in-progress", "idempotency-key-reused"]
    assert ids(response)[0] == done
    assert calls["BatchGetItem"] == 3, "UnprocessedKeys are retried"
    assert calls["UpdateItem"] == 0 and calls["GetItem"] == 0
    assert stack.queue_depth() == 3


def test_a_completion_conflict_is_retried(stack: Harness) -> None:
    completions: list[int] = []

    def conflict_once(params: dict[str, Any], **_: Any) -> tuple[_Http, dict[str, Any]] | None:
        items = _body(params)["TransactItems"]
        if is_claim(items):
            return None
        completions.append(len(items))
        if len(completions) > 1:
            return None
        return cancelled([{"Code": "TransactionConflict"}] + [{"Code": "None"}] * (len(items) - 1))

    with hooked(client("dynamodb"), "before-call.dynamodb.TransactWriteItems", conflict_once):
        response = stack.post_batch([an_event(f"done-{i}") for i in range(3)])

    assert statuses(response) == [202] * 3
    assert completions == [3, 3]
    assert {r[records.STATE_ATTR] for r in idempotency_records(stack).values()} == {records.COMPLETED}


def test_events_queued_but_not_completed_are_503_keep_their_claims_and_converge_on_retry(
    stack: Harness,
) -> None:
    def fail_completion(params: dict[str, Any], **_: Any) -> tuple[_Http, dict[str, Any]] | None:
        items = _body(params)["TransactItems"]
        if is_claim(items):
            return None
        return cancelled([{"Code": "ThrottlingError"}] + [{"Code": "None"}] * (len(items) - 1))

    def fail_alone(params: dict[str, Any], **_: Any) -> tuple[_Http, dict[str, Any]] | None:
        if "ConditionExpression" in _body(params):
            return None  # a claim
        return _Http(400), {"Error": {"Code": "ThrottlingException", "Message": "injected"}}

    batch = [an_event("late-1"), an_event("late-2")]
    # Given completions that keep failing after the messages were queued, in a batch and one by one
    dynamodb = client("dynamodb")
    with (
        hooked(dynamodb, "before-call.dynamodb.TransactWriteItems", fail_completion),
        hooked(dynamodb, "before-call.dynamodb.UpdateItem", fail_alone),
    ):
        first = statuses(stack.post_batch(batch))

    # Then the events are not reported accepted, and their claims are kept: their messages are queued, so
    # the key must not be free for other content
    assert first == [503, 503]
    assert {r[records.STATE_ATTR] for r in idempotency_records(stack).values()} == {records.INPROGRESS}
    assert stack.queue_depth() == 2
    assert statuses(stack.post_batch(batch)) == [409, 409]
    assert error_types(stack.post_batch([an_event("late-1", payload={"amount": 9})])) == [
        "idempotency-key-reused"
    ]

    # When the claims' deadline has passed (the invocation that held them is over) and the client retries,
    # the same events are accepted again; the consumer applies each once
    for event_id in idempotency_records(stack):
        stack.client("dynamodb").update_item(
            TableName=stack.stack.refs["EventsTable"],
            Key={"event_id": {"S": event_id}},
            UpdateExpression="SET #deadline = :past",
            ExpressionAttributeNames={"#deadline": records.DEADLINE_ATTR},
            ExpressionAttributeValues={":past": {"N": "1"}},
        )
    second = stack.post_batch(batch)
    assert statuses(second) == [202, 202]
    assert stack.queue_depth() == 4
    stack.drain()
    for event_id in ids(second):
        assert stack.get_event(str(event_id)).json()["status"] == "PROCESSED"
    receipts = {i["event_id"]: default.applied(i) for i in stack.scan("EventsTable")}
    assert {e: n for e, n in receipts.items() if n is not None} == {str(i): 1 for i in ids(second)}


# --- authentication (AuthMode) ----------------------------------------------------------------------------


def test_a_batch_is_authenticated_like_a_single_event(emulator: Emulator) -> None:
    parameters = {
        "AuthMode": "WEBHOOK_SIGNATURE",
        "WebhookSecretStore": "SECRETS_MANAGER",
        "WebhookSecretPrefix": f"/t{uuid.uuid4().hex[:10]}/webhooks/",
        "ProducerPolicy": json.dumps({"sources": {"payment_service": ["<untyped>"]}}),
    }
    with harness(emulator.url, parameters=parameters) as stack:
        secret = new_secret()
        store_secret(stack, "payment_service", secret)
        body = encoded(a_batch([an_event("w-1"), an_event("w-2")]))
        mixed = encoded(a_batch([an_event("w-3"), an_event("w-4", source="other")]))

        # A batch signed by its source is accepted; an unsigned one, or one mixing sources, is refused whole
        accepted = stack.request("POST", "/api/v1/ingest/batch", body, signed(secret, body))
        unsigned = stack.request("POST", "/api/v1/ingest/batch", body)
        mixing = stack.request("POST", "/api/v1/ingest/batch", mixed, signed(secret, mixed))

        assert statuses(accepted) == [202, 202]
        for refused in (unsigned, mixing):
            assert refused.status == 401
            assert refused.headers["www-authenticate"] == "Standard-Webhooks"
            assert refused.json()["type"].endswith("/unauthenticated")
        assert stack.queue_depth() == 2


def test_a_claim_whose_answer_was_lost_is_recognised_on_the_retry(stack: Harness) -> None:
    plain = stack.client("dynamodb")
    claims: list[int] = []

    def land_then_cancel(params: dict[str, Any], **_: Any) -> tuple[_Http, dict[str, Any]] | None:
        items = _body(params)["TransactItems"]
        if not is_claim(items) or claims:
            return None
        claims.append(len(items))
        # The claim lands, its answer is lost, and the retry (no token honoured) meets its own records.
        plain.transact_write_items(TransactItems=items)
        try:
            plain.transact_write_items(TransactItems=items)
        except plain.exceptions.TransactionCanceledException as exc:
            return _Http(400), dict(exc.response)
        raise AssertionError("the second claim should have been cancelled")

    with hooked(client("dynamodb"), "before-call.dynamodb.TransactWriteItems", land_then_cancel):
        response = stack.post_batch([an_event(f"lost-{i}") for i in range(3)])

    assert statuses(response) == [202, 202, 202]
    assert claims == [3]
    assert stack.queue_depth() == 3


@pytest.mark.parametrize(
    ("characters", "accepted"),
    [
        # 100 bytes of UTF-8, 300 \u-escaped: within a 1,024-byte limit, alone or in a batch.
        (50, True),
        # 800 bytes of UTF-8 but 2,400 once escaped for the queue: refused alike.
        (400, False),
        # Fewer than 1,024 characters, but more than 1,024 bytes: refused alike.
        (600, False),
    ],
)
def test_single_and_batch_measure_an_event_in_bytes_alike(
    emulator: Emulator, characters: int, accepted: bool
) -> None:
    with harness(emulator.url, parameters={"MaxBodyBytes": "1024"}) as h:
        # A two-byte character (é): its UTF-8 size is twice its length, its \u-escaped form six times.
        body = an_event(
            f"s-{uuid.uuid4()}", payload={"amount": 1, "currency": "KES", "note": "é" * characters}
        )
        single = h.request("POST", "/api/v1/ingest", json.dumps(body, ensure_ascii=False).encode())
        batch = h.post_batch([{**body, "idempotency_key": f"b-{uuid.uuid4()}"}])

        assert (single.status in {200, 202}) is accepted, single.body
        assert (statuses(batch)[0] in {200, 202}) is accepted, batch.body
