"""POST /api/v1/webhooks/{source} through the real ingest handler and consumer, the secrets in the emulator's
Secrets Manager, each request signed by its provider's own library: Stripe's payments and refunds move the
fintech balance exactly once (the same webhook twice, and an SQS redelivery); bad signatures are 401 with
nothing stored; unknown sources are 404; Slack's challenge is answered; rotation works."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import stripe
from slack_sdk.signature import SignatureVerifier
from standardwebhooks.webhooks import Webhook

from plutus_dev.emulator.resources import Emulator
from tests.builders import an_event, encoded
from tests.integration.harness import Harness, Response, harness
from tests.integration.redelivery import drain_capturing, send_duplicate
from tests.integration.test_logs_hold_no_secrets import logs as logs  # the fixture: every line at DEBUG

SOURCES = {
    "stripe": {"kind": "stripe"},
    "github": {"kind": "github"},
    "slack": {"kind": "slack"},
    "shop": {"kind": "shopify"},
}
ACCOUNT = "acc_wh_1"


def new_secret() -> str:
    return "whsec_" + os.urandom(16).hex()


def store_secret(stack: Harness, source: str, value: str) -> None:
    name = stack.stack.parameters["WebhookSecretPrefix"] + source
    stack.client("secretsmanager").create_secret(Name=name, SecretString=value)


def stripe_event(event_id: str, event_type: str, obj: dict[str, Any]) -> bytes:
    event = {
        "id": event_id,
        "object": "event",
        "api_version": "2024-06-20",
        "created": int(time.time()),
        "type": event_type,
        "data": {"object": obj},
    }
    return json.dumps(event, indent=2).encode()


def payment(event_id: str, intent: str, cents: int) -> bytes:
    return stripe_event(
        event_id,
        "payment_intent.succeeded",
        {
            "id": intent,
            "object": "payment_intent",
            "amount_received": cents,
            "currency": "usd",
            "customer": "cus_1",
            "metadata": {"account_id": ACCOUNT},
        },
    )


def refund(event_id: str, charge: str, refunded_cents: int, intent: str = "pi_1") -> bytes:
    return stripe_event(
        event_id,
        "charge.refunded",
        {
            "id": charge,
            "object": "charge",
            "amount_refunded": refunded_cents,
            "currency": "usd",
            "customer": "cus_1",
            "payment_intent": intent,
            "metadata": {"account_id": ACCOUNT},
        },
    )


def post_stripe(stack: Harness, body: bytes, secret: str, source: str = "stripe") -> Response:
    header = stripe.WebhookSignature.generate_signature_header(body.decode(), secret)
    return stack.request(
        "POST",
        f"/api/v1/webhooks/{source}",
        body,
        {"Stripe-Signature": header, "Content-Type": "application/json; charset=utf-8"},
    )


def json_line(line: str) -> dict[str, Any]:
    """A log line's JSON document (Powertools' structured lines, EMF); ``{}`` for any other line."""
    try:
        document = json.loads(line)
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}


def usd_balance(stack: Harness) -> Decimal:
    view = stack.request("GET", f"/api/v1/fintech/accounts/{ACCOUNT}")
    assert view.status == 200, view.body
    return Decimal(view.json()["balances"]["USD"])


def assert_nothing_stored(stack: Harness) -> None:
    assert stack.scan("EventsTable") == []
    assert stack.queue_depth() == 0


@pytest.fixture
def stack(emulator: Emulator) -> Iterator[Harness]:
    """AuthMode NONE (as `make dev`) with the provider sources configured, secrets under a new prefix."""
    parameters = {
        "WebhookSources": json.dumps(SOURCES),
        "WebhookSecretPrefix": f"/t{uuid.uuid4().hex[:10]}/webhooks/",
    }
    with harness(emulator.url, parameters=parameters) as h:
        yield h


def test_a_stripe_payment_and_refund_move_the_balance_exactly_once(stack: Harness) -> None:
    # Given Stripe's endpoint secret in the store
    secret = new_secret()
    store_secret(stack, "stripe", secret)

    # When a payment of 20.00 is delivered twice (Stripe retries with a fresh signature), then refunded 5.00
    first = post_stripe(stack, payment("evt_pay_1", "pi_1", 2000), secret)
    again = post_stripe(stack, payment("evt_pay_1", "pi_1", 2000), secret)
    refunded = post_stripe(stack, refund("evt_ref_1", "ch_1", 500), secret)

    # Then the redelivery is the same event, answered as a replay
    assert first.status == 202 and refunded.status == 202
    assert again.status == 200 and again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert len(stack.scan("EventsTable")) == 2

    # And SQS delivering each message a second time changes nothing either
    bodies = drain_capturing(stack)
    assert len(bodies) == 2
    for body in bodies:
        send_duplicate(stack, body)
    stack.drain()
    assert usd_balance(stack) == Decimal("15.00")
    view = stack.get_event(first.json()["event_id"]).json()
    assert (view["status"], view["source"], view["event_type"]) == (
        "PROCESSED",
        "stripe",
        "stripe.payment_intent.succeeded",
    )


def test_partial_refunds_add_up_and_an_older_total_arriving_late_debits_nothing(stack: Harness) -> None:
    secret = new_secret()
    store_secret(stack, "stripe", secret)
    post_stripe(stack, payment("evt_pay_2", "pi_2", 10_000), secret)
    stack.drain()

    # Refunded totals 30.00 then 50.00 (two partial refunds), then the 30.00 event again under a new id
    for event_id, total in (("evt_r1", 3000), ("evt_r2", 5000), ("evt_r1_late", 3000)):
        assert post_stripe(stack, refund(event_id, "ch_2", total, "pi_2"), secret).status == 202
        stack.drain()

    assert usd_balance(stack) == Decimal("50.00")


@pytest.mark.parametrize("case", ["unsigned", "wrong_secret", "tampered", "stale", "no_secret_stored"])
def test_a_bad_stripe_signature_is_401_and_nothing_is_stored_or_queued(stack: Harness, case: str) -> None:
    secret = new_secret()
    if case != "no_secret_stored":
        store_secret(stack, "stripe", secret)
    body = payment("evt_bad", "pi_bad", 100)
    header = stripe.WebhookSignature.generate_signature_header(body.decode(), secret)
    if case == "unsigned":
        header = ""
    elif case == "wrong_secret":
        header = stripe.WebhookSignature.generate_signature_header(body.decode(), new_secret())
    elif case == "tampered":
        body = body.replace(b"100", b"900")
    elif case == "stale":
        header = stripe.WebhookSignature.generate_signature_header(
            body.decode(), secret, int(time.time()) - 301
        )

    response = stack.request(
        "POST", "/api/v1/webhooks/stripe", body, {"Stripe-Signature": header} if header else {}
    )

    assert response.status == 401
    assert response.json()["type"].endswith("/unauthenticated")
    assert_nothing_stored(stack)


@pytest.mark.parametrize("source", ["nobody", "payment_service", "a%2Fb", ".."])
def test_a_source_that_is_not_configured_is_404_and_no_secret_is_read(stack: Harness, source: str) -> None:
    # A secret stored under the name changes nothing: only configured sources are served.
    store_secret(stack, "nobody", new_secret())
    body = payment("evt_x", "pi_x", 100)

    response = stack.request("POST", f"/api/v1/webhooks/{source}", body, {"Stripe-Signature": "t=1,v1=00"})

    assert response.status == 404
    assert_nothing_stored(stack)


@pytest.mark.parametrize(
    ("source", "stored", "reason"),
    [
        ("stripe", "whsec_tooshort", "too_short"),
        ("stripe", "sk_live_" + "x" * 40, "not_whsec"),
        ("github", b"\xff\xfe not utf-8 \xc3" + b"x" * 20, "not_utf8"),
    ],
    ids=["too_short", "an_api_key_not_a_signing_secret", "binary_not_utf8"],
)
def test_a_malformed_stored_secret_is_401_logged_and_counted_and_nothing_is_stored_or_queued(
    stack: Harness, logs: Callable[[], str], source: str, stored: str | bytes, reason: str
) -> None:
    # Given a source whose only stored secret is not a usable key (security review F5: this was a 500)
    name = stack.stack.parameters["WebhookSecretPrefix"] + source
    value = {"SecretBinary": stored} if isinstance(stored, bytes) else {"SecretString": stored}
    stack.client("secretsmanager").create_secret(Name=name, **value)
    body = payment("evt_bad_secret", "pi_bad", 100)
    key = stored if isinstance(stored, str) else "x" * 32

    # When a request signed with that very value arrives, twice (the second from the cached load)
    headers = {
        "stripe": {"Stripe-Signature": stripe.WebhookSignature.generate_signature_header(body.decode(), key)},
        "github": {
            "X-Hub-Signature-256": "sha256=" + hmac.new(key.encode(), body, hashlib.sha256).hexdigest(),
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-GitHub-Event": "ping",
        },
    }[source]
    answers = [stack.request("POST", f"/api/v1/webhooks/{source}", body, headers) for _ in range(2)]

    # Then both are the 401 of a source without a secret, nothing is stored, and the operator is told once
    assert [a.status for a in answers] == [401, 401]
    assert answers[0].json()["status"] == 401
    assert_nothing_stored(stack)
    text = logs()
    records = [json_line(line) for line in text.splitlines()]
    ignored = [r for r in records if r.get("message") == "webhook secrets ignored"]
    counted = [r for r in records if "webhook_secret_invalid_total" in r]
    assert [(r["source"], r["rejected"], r["usable"]) for r in ignored] == [
        (source, [{"position": 1, "reason": reason}], 0)
    ]
    assert [(r["source"], r["webhook_secret_invalid_total"]) for r in counted] == [(source, [1.0])]
    assert key not in text


def test_stripe_keeps_verifying_while_its_secret_is_rolled(stack: Harness) -> None:
    old, new, retired = new_secret(), new_secret(), new_secret()
    store_secret(stack, "stripe", f"{new}\n{old}")

    assert post_stripe(stack, payment("evt_rot_1", "pi_r1", 100), old).status == 202
    assert post_stripe(stack, payment("evt_rot_2", "pi_r2", 100), new).status == 202
    assert post_stripe(stack, payment("evt_rot_3", "pi_r3", 100), retired).status == 401
    assert len(stack.scan("EventsTable")) == 2


def test_an_unregistered_provider_type_is_accepted_stored_and_given_a_receipt(stack: Harness) -> None:
    # customer.created has no handler: stored, processed by the default handler, never a 4xx for Stripe
    secret = new_secret()
    store_secret(stack, "stripe", secret)
    body = stripe_event("evt_cus_1", "customer.created", {"id": "cus_9", "object": "customer"})

    response = post_stripe(stack, body, secret)

    assert response.status == 202
    stack.drain()
    view = stack.get_event(response.json()["event_id"]).json()
    assert (view["status"], view["event_type"]) == ("PROCESSED", "stripe.customer.created")


def test_slacks_url_verification_is_answered_and_its_event_callbacks_are_deduplicated(stack: Harness) -> None:
    secret = os.urandom(16).hex()
    store_secret(stack, "slack", secret)

    def post(document: dict[str, Any], retry: str | None = None) -> Response:
        body = json.dumps(document).encode()
        at = str(int(time.time()))
        headers = {
            "X-Slack-Request-Timestamp": at,
            "X-Slack-Signature": SignatureVerifier(secret).generate_signature(timestamp=at, body=body) or "",
        }
        if retry:
            headers |= {"X-Slack-Retry-Num": retry, "X-Slack-Retry-Reason": "http_timeout"}
        return stack.request("POST", "/api/v1/webhooks/slack", body, headers)

    challenge = post({"token": "x", "challenge": "c-123", "type": "url_verification"})
    assert (challenge.status, challenge.json()) == (200, {"challenge": "c-123"})
    assert_nothing_stored(stack)

    callback = {"type": "event_callback", "event_id": "Ev1", "event": {"type": "app_mention", "text": "hi"}}
    assert post(callback).status == 202
    assert post(callback, retry="1").status == 200  # Slack's retry: the same event_id
    assert len(stack.scan("EventsTable")) == 1


def test_githubs_published_vector_is_accepted_as_a_typed_github_event(stack: Harness) -> None:
    # GitHub's docs example secret and signature, over a JSON body of our own signed the same way
    store_secret(stack, "github", "It's a Secret to Everybody")
    body = b'{"action":"opened","number":1}'
    signature = "sha256=" + hmac.new(b"It's a Secret to Everybody", body, hashlib.sha256).hexdigest()
    headers = {
        "X-Hub-Signature-256": signature,
        "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        "X-GitHub-Event": "pull_request",
    }

    response = stack.request("POST", "/api/v1/webhooks/github", body, headers)

    assert response.status == 202
    stack.drain()
    view = stack.get_event(response.json()["event_id"]).json()
    assert view["event_type"] == "github.pull_request.opened"
    assert (
        stack.request(
            "POST", "/api/v1/webhooks/github", body, {**headers, "X-Hub-Signature-256": "sha256=" + "0" * 64}
        ).status
        == 401
    )


@pytest.fixture
def signed_stack(emulator: Emulator) -> Iterator[Harness]:
    """AuthMode WEBHOOK_SIGNATURE with a ProducerPolicy: Stripe may send its unrestricted types by wildcard
    and, by exact name only, the one money-moving type granted."""
    policy = {"sources": {"stripe": ["stripe.*", "stripe.payment_intent.succeeded"]}}
    parameters = {
        "AuthMode": "WEBHOOK_SIGNATURE",
        "WebhookSources": json.dumps(SOURCES),
        "WebhookSecretPrefix": f"/t{uuid.uuid4().hex[:10]}/webhooks/",
        "ProducerPolicy": json.dumps(policy),
    }
    with harness(emulator.url, parameters=parameters) as h:
        yield h


def test_the_producer_policy_holds_provider_types_as_it_holds_producers(signed_stack: Harness) -> None:
    secret = new_secret()
    store_secret(signed_stack, "stripe", secret)

    granted = post_stripe(signed_stack, payment("evt_p", "pi_p", 100), secret)
    unrestricted = post_stripe(
        signed_stack, stripe_event("evt_c", "customer.created", {"id": "cus_2"}), secret
    )
    # charge.refunded moves money: "stripe.*" does not grant it, only its exact name would.
    refused = post_stripe(signed_stack, refund("evt_r", "ch_r", 100), secret)

    assert (granted.status, unrestricted.status, refused.status) == (202, 202, 403)
    assert refused.json()["type"].endswith("/forbidden-event-type")
    assert len(signed_stack.scan("EventsTable")) == 2


def test_a_provider_source_cannot_be_claimed_on_the_first_party_route(signed_stack: Harness) -> None:
    # Even with a whsec_ secret stored under its name, /api/v1/ingest treats a provider source as unknown.
    secret = "whsec_" + base64.b64encode(os.urandom(24)).decode()
    store_secret(signed_stack, "stripe", secret)
    body = encoded(an_event("k-1", source="stripe"))
    now = int(time.time())
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(now),
        "webhook-signature": Webhook(secret).sign("msg_1", datetime.fromtimestamp(now, UTC), body.decode()),
    }

    response = signed_stack.request("POST", "/api/v1/ingest", body, headers)

    assert response.status == 401
    assert_nothing_stored(signed_stack)


def test_the_stripe_samples_under_events_are_accepted_verbatim_and_posted(stack: Harness) -> None:
    from plutus import bootstrap
    from plutus_dev.cli.samples import SAMPLE_RECEIVED_MS, SAMPLE_WEBHOOK_SECRET, WEBHOOK_DIR

    # Given the samples' secret, and the ingest clock at the samples' signing time
    store_secret(stack, "stripe", SAMPLE_WEBHOOK_SECRET)
    bootstrap.root().ingest.webhooks.clock = lambda: SAMPLE_RECEIVED_MS / 1000
    samples = sorted(WEBHOOK_DIR.glob("*.json"))
    assert len(samples) == 2

    # When each is invoked as `sam local invoke -e` would
    for path in samples:
        status, result, _ = stack.ingest.invoke(json.loads(path.read_text()))
        assert status == "ok" and result["statusCode"] == 202, (path.name, result)
    stack.drain()

    # Then the payment (20.00) and the partial refund (5.00) are posted to the sample account
    view = stack.request("GET", "/api/v1/fintech/accounts/acc_10045").json()
    assert Decimal(view["balances"]["USD"]) == Decimal("15.00")


def test_a_refund_delivered_before_its_payment_is_retried_and_then_posted_once(stack: Harness) -> None:
    secret = new_secret()
    store_secret(stack, "stripe", secret)

    # Given the refund arrives first: its first attempt fails (retryably), nothing is posted
    ref = post_stripe(stack, refund("evt_early_ref", "ch_3", 700, "pi_3"), secret)
    records, failed = stack.poller().poll_once()
    assert len(records) == 1 and len(failed) == 1
    assert stack.get_event(ref.json()["event_id"]).json()["status"] != "PROCESSED"

    # When the payment arrives, and SQS brings the refund back
    post_stripe(stack, payment("evt_late_pay", "pi_3", 1000), secret)
    stack.client("sqs").change_message_visibility(
        QueueUrl=stack.queue_url, ReceiptHandle=records[0]["receiptHandle"], VisibilityTimeout=0
    )
    stack.drain()

    # Then both are posted, each once
    assert stack.get_event(ref.json()["event_id"]).json()["status"] == "PROCESSED"
    assert usd_balance(stack) == Decimal("3.00")


def test_a_redelivery_whose_body_stripe_re_rendered_is_the_same_event_not_a_422(stack: Harness) -> None:
    # Stripe renders pending_webhooks at each attempt: the retry's bytes differ, its event id does not.
    secret = new_secret()
    store_secret(stack, "stripe", secret)
    first_body = json.loads(payment("evt_rerender", "pi_rr", 1200))
    retry_body = {**first_body, "pending_webhooks": 2}

    first = post_stripe(stack, json.dumps({**first_body, "pending_webhooks": 1}).encode(), secret)
    retry = post_stripe(stack, json.dumps(retry_body).encode(), secret)

    assert (first.status, retry.status) == (202, 200)
    assert retry.json() == first.json()
    stack.drain()
    assert usd_balance(stack) == Decimal("12.00")


def test_provider_secrets_signatures_and_payloads_never_reach_the_logs(
    stack: Harness, logs: Callable[[], str]
) -> None:
    marker = f"PAYLOAD-MARKER-{uuid.uuid4().hex}"
    secret, other = new_secret(), new_secret()
    store_secret(stack, "stripe", secret)
    body = stripe_event("evt_logs", "customer.created", {"id": "cus_l", "description": marker})
    invalid = stripe_event("evt_invalid", "payment_intent.succeeded", {"id": "pi_l", "currency": marker})
    headers: list[str] = []

    def send(source: str, content: bytes, key: str, expected: int, at: int | None = None) -> None:
        header = stripe.WebhookSignature.generate_signature_header(content.decode(), key, at)
        headers.append(header)
        response = stack.request("POST", f"/api/v1/webhooks/{source}", content, {"Stripe-Signature": header})
        assert response.status == expected, response.body

    # Given every path: accepted, replayed, wrong secret, stale, unknown source, signed but invalid
    send("stripe", body, secret, 202)
    send("stripe", body, secret, 200)
    send("stripe", body, other, 401)
    send("stripe", body, secret, 401, at=int(time.time()) - 3600)
    send(f"src-{marker}", body, secret, 404)
    send("stripe", invalid, secret, 422)
    stack.drain()

    # Then the logs show the requests were seen, and none of the secrets, signatures or payload
    text = logs()
    assert "event accepted" in text and "webhook not authenticated" in text
    forbidden = {secret, other, marker} | {h.split("v1=")[1] for h in headers}
    assert sorted(value for value in forbidden if value in text) == []
