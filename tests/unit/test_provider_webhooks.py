"""Provider signatures (plutus.ingest.providers) against what each provider's own code signs: ``stripe``'s
``WebhookSignature``, ``slack_sdk``'s ``SignatureVerifier``, ``standardwebhooks``' ``Webhook.sign``, and the
published test vector for GitHub. Tampered, stale, missing and wrong-secret requests are refused (401)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import stripe
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter
from slack_sdk.signature import Clock, SignatureVerifier
from standardwebhooks.webhooks import Webhook

from plutus.core.envelope import EventTypeName
from plutus.core.errors import InvalidEventError, UnauthenticatedError
from plutus.core.providers import ProviderKind, ProviderSource
from plutus.core.webhook_secrets import load_secrets
from plutus.domains import build_registry
from plutus.ingest.providers import (
    MAX_TYPE_LENGTH,
    Challenge,
    Delivery,
    namespaced_type,
    read_delivery,
    verify,
)
from tests.fakes import RecordingAccept

NOW = 1_795_737_600
TOLERANCE = 300
STRIPE = ProviderSource(kind="stripe")
GITHUB = ProviderSource(kind="github")
SHOPIFY = ProviderSource(kind="shopify")
SLACK = ProviderSource(kind="slack")
STANDARD = ProviderSource(kind="standard_webhooks")

STRIPE_EVENT = json.dumps(
    {
        "id": "evt_1",
        "object": "event",
        "type": "payment_intent.succeeded",
        "data": {"object": {"id": "pi_1"}},
    },
    indent=2,  # Stripe sends pretty-printed JSON: the bytes are signed, not the parsed value
).encode()


def check(
    source: ProviderSource, stored: str | None, headers: dict[str, str], body: bytes, now: int = NOW
) -> None:
    keys = load_secrets(source.kind, stored).keys
    lowered = {k.lower(): v for k, v in headers.items()}
    verify(source, keys, lowered, body, now=now, tolerance_seconds=TOLERANCE)


def refused(
    source: ProviderSource, stored: str | None, headers: dict[str, str], body: bytes, now: int = NOW
) -> str:
    with pytest.raises(UnauthenticatedError) as caught:
        check(source, stored, headers, body, now)
    return str(caught.value.reason)


# --- Stripe --------------------------------------------------------------------------------------------


def stripe_header(secret: str, body: bytes, at: int = NOW) -> dict[str, str]:
    """The Stripe-Signature header as Stripe's library generates it for tests."""
    return {"Stripe-Signature": stripe.WebhookSignature.generate_signature_header(body.decode(), secret, at)}


def test_a_stripe_signature_made_by_stripes_library_verifies_and_round_trips_through_it() -> None:
    secret = "whsec_" + os.urandom(16).hex()
    headers = stripe_header(secret, STRIPE_EVENT, int(datetime.now(UTC).timestamp()))

    check(STRIPE, secret, headers, STRIPE_EVENT, now=int(datetime.now(UTC).timestamp()))
    # The same header is one Stripe's own verifier accepts: both sides agree on what is signed.
    assert stripe.Webhook.construct_event(STRIPE_EVENT, headers["Stripe-Signature"], secret).id == "evt_1"


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("tampered", "no_matching_signature"),
        ("wrong_secret", "no_matching_signature"),
        ("stale", "stale_timestamp"),
        ("future", "stale_timestamp"),
        ("missing", "missing_headers"),
        ("no_timestamp", "missing_headers"),
        ("v0_only", "no_matching_signature"),
        ("no_secret_stored", "unknown_source"),
    ],
)
def test_a_bad_stripe_request_is_refused(case: str, reason: str) -> None:
    secret = "whsec_" + os.urandom(16).hex()
    body, stored = STRIPE_EVENT, secret
    stored_value: str | None = stored
    headers = stripe_header(secret, body)
    if case == "tampered":
        body = body.replace(b"pi_1", b"pi_2")
    elif case == "wrong_secret":
        headers = stripe_header("whsec_" + os.urandom(16).hex(), body)
    elif case in {"stale", "future"}:
        headers = stripe_header(secret, body, NOW + (-1 if case == "stale" else 1) * (TOLERANCE + 1))
    elif case == "missing":
        headers = {}
    elif case == "no_timestamp":
        headers = {"Stripe-Signature": headers["Stripe-Signature"].split(",", 1)[1]}
    elif case == "v0_only":
        headers = {"Stripe-Signature": headers["Stripe-Signature"].replace("v1=", "v0=")}
    elif case == "no_secret_stored":
        stored_value = None
    assert refused(STRIPE, stored_value, headers, body) == reason


def test_every_stored_stripe_secret_verifies_during_a_rotation_and_a_retired_one_does_not() -> None:
    old, new, retired = ("whsec_" + os.urandom(16).hex() for _ in range(3))
    stored = f"{new}\n{old}\n"

    for secret in (old, new):
        check(STRIPE, stored, stripe_header(secret, STRIPE_EVENT), STRIPE_EVENT)
    assert (
        refused(STRIPE, stored, stripe_header(retired, STRIPE_EVENT), STRIPE_EVENT) == "no_matching_signature"
    )


def test_a_stripe_header_with_two_v1_signatures_verifies_with_either_of_the_endpoints_secrets() -> None:
    # Stripe signs with both the old and the new secret for a while after a roll.
    old, new = "whsec_old_" + os.urandom(8).hex(), "whsec_new_" + os.urandom(8).hex()
    first = stripe_header(old, STRIPE_EVENT)["Stripe-Signature"]
    second = stripe_header(new, STRIPE_EVENT)["Stripe-Signature"].split(",", 1)[1]

    check(STRIPE, new, {"Stripe-Signature": f"{first},{second}"}, STRIPE_EVENT)


# --- GitHub --------------------------------------------------------------------------------------------

# docs.github.com, "Validating webhook deliveries": the published test values.
GITHUB_SECRET = "It's a Secret to Everybody"
GITHUB_PAYLOAD = b"Hello, World!"
GITHUB_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def test_githubs_published_test_vector_verifies() -> None:
    # The secret holds spaces: secrets are stored one per line, never split on spaces.
    check(GITHUB, GITHUB_SECRET, {"X-Hub-Signature-256": GITHUB_SIGNATURE}, GITHUB_PAYLOAD)


@pytest.mark.parametrize(
    ("headers", "body", "stored", "reason"),
    [
        ({"X-Hub-Signature-256": GITHUB_SIGNATURE}, b"Hello, World?", GITHUB_SECRET, "no_matching_signature"),
        (
            {"X-Hub-Signature-256": GITHUB_SIGNATURE},
            GITHUB_PAYLOAD,
            "another secret, long enough",
            "no_matching_signature",
        ),
        (
            {"X-Hub-Signature-256": GITHUB_SIGNATURE[7:]},
            GITHUB_PAYLOAD,
            GITHUB_SECRET,
            "no_matching_signature",
        ),
        ({"X-Hub-Signature": "sha1=abc"}, GITHUB_PAYLOAD, GITHUB_SECRET, "missing_headers"),
        ({"X-Hub-Signature-256": "sha256=zz"}, GITHUB_PAYLOAD, GITHUB_SECRET, "no_matching_signature"),
    ],
    ids=["tampered", "wrong_secret", "no_prefix", "sha1_only", "not_hex"],
)
def test_a_bad_github_request_is_refused(
    headers: dict[str, str], body: bytes, stored: str, reason: str
) -> None:
    assert refused(GITHUB, stored, headers, body) == reason


def test_a_github_delivery_is_keyed_by_its_type_and_signed_body_never_its_unsigned_delivery_id() -> None:
    headers = {"x-github-delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958", "x-github-event": "pull_request"}

    delivery = read_delivery(GITHUB, headers, {"action": "opened"}, b"{}")
    forged_id = read_delivery(
        GITHUB, {**headers, "x-github-delivery": "made-up"}, {"action": "opened"}, b"{}"
    )
    other_body = read_delivery(GITHUB, headers, {"action": "opened"}, b"{ }")

    assert delivery.event_type == "github.pull_request.opened" and not delivery.type_signed
    assert delivery.idempotency_key.startswith("sha256:")
    assert forged_id.idempotency_key == delivery.idempotency_key != other_body.idempotency_key
    assert read_delivery(GITHUB, {**headers, "x-github-event": "ping"}, {}, b"{}").event_type == "github.ping"


# --- Shopify -------------------------------------------------------------------------------------------

# Shopify publishes no test vector; this one is computed independently of our code (sqlpage's HMAC tests:
# the hex digest 40dc8e6d... of the same input is the same bytes).
SHOPIFY_SECRET = "test-webhook-secret"
SHOPIFY_BODY = b'{"id":1234567890,"email":"customer@example.com","total_price":"123.45"}'
SHOPIFY_HMAC = "QNyObTlKbMx2qDlPF/ZOZcBqg5OgPg+2oky3zldc0Gw="


def test_a_shopify_hmac_verifies_base64_as_shopify_sends_it() -> None:
    check(SHOPIFY, SHOPIFY_SECRET, {"X-Shopify-Hmac-Sha256": SHOPIFY_HMAC}, SHOPIFY_BODY)
    hex_of_same = base64.b64decode(SHOPIFY_HMAC).hex()
    assert hex_of_same.startswith("40dc8e6d394a6ccc")
    # Hex is not what Shopify sends: refused.
    assert refused(SHOPIFY, SHOPIFY_SECRET, {"X-Shopify-Hmac-Sha256": hex_of_same}, SHOPIFY_BODY) == (
        "no_matching_signature"
    )
    assert refused(SHOPIFY, SHOPIFY_SECRET, {"X-Shopify-Hmac-Sha256": SHOPIFY_HMAC}, SHOPIFY_BODY + b" ") == (
        "no_matching_signature"
    )


def test_a_shopify_delivery_is_keyed_by_its_topic_and_signed_body_never_its_unsigned_webhook_id() -> None:
    headers = {
        "x-shopify-webhook-id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
        "x-shopify-topic": "orders/create",
    }

    delivery = read_delivery(SHOPIFY, headers, {}, b"{}")
    forged_id = read_delivery(SHOPIFY, {**headers, "x-shopify-webhook-id": "made-up"}, {}, b"{}")
    # Shopify sends byte-identical bodies under two topics (orders/create, orders/updated): two events.
    other_topic = read_delivery(SHOPIFY, {**headers, "x-shopify-topic": "orders/updated"}, {}, b"{}")

    assert delivery.event_type == "shopify.orders.create" and not delivery.type_signed
    assert forged_id.idempotency_key == delivery.idempotency_key != other_topic.idempotency_key
    with pytest.raises(InvalidEventError):
        read_delivery(SHOPIFY, {"x-shopify-topic": "orders/create"}, {}, b"{}")


# --- Slack ---------------------------------------------------------------------------------------------


class FixedClock(Clock):
    def now(self) -> float:
        return NOW


def slack_headers(secret: str, body: bytes, at: int = NOW) -> dict[str, str]:
    """X-Slack-Signature and its timestamp as Slack's SDK computes them."""
    signature = SignatureVerifier(secret).generate_signature(timestamp=str(at), body=body)
    assert signature is not None
    return {"X-Slack-Signature": signature, "X-Slack-Request-Timestamp": str(at)}


SLACK_BODY = json.dumps(
    {"type": "event_callback", "event_id": "Ev08MFMKH6", "event": {"type": "app_mention", "text": "hi"}}
).encode()


def test_a_slack_signature_made_by_slacks_sdk_verifies_and_slacks_verifier_agrees() -> None:
    secret = os.urandom(16).hex()
    headers = slack_headers(secret, SLACK_BODY)

    check(SLACK, secret, headers, SLACK_BODY)
    assert SignatureVerifier(secret, FixedClock()).is_valid_request(SLACK_BODY, headers)


@pytest.mark.parametrize("case", ["tampered", "wrong_secret", "stale", "missing_timestamp", "bad_timestamp"])
def test_a_bad_slack_request_is_refused(case: str) -> None:
    secret = os.urandom(16).hex()
    body, headers = SLACK_BODY, slack_headers(secret, SLACK_BODY)
    if case == "tampered":
        body = body.replace(b"hi", b"ho")
    elif case == "wrong_secret":
        headers = slack_headers(os.urandom(16).hex(), body)
    elif case == "stale":
        headers = slack_headers(secret, body, NOW - TOLERANCE - 1)
    elif case == "missing_timestamp":
        del headers["X-Slack-Request-Timestamp"]
    else:
        headers["X-Slack-Request-Timestamp"] = "1e9"
    expected = {
        "tampered": "no_matching_signature",
        "wrong_secret": "no_matching_signature",
        "stale": "stale_timestamp",
        "missing_timestamp": "missing_headers",
        "bad_timestamp": "invalid_timestamp",
    }[case]
    assert refused(SLACK, secret, headers, body) == expected


def test_slack_deliveries_are_keyed_by_event_id_and_the_url_verification_is_a_challenge() -> None:
    assert read_delivery(SLACK, {}, json.loads(SLACK_BODY), SLACK_BODY) == Delivery(
        "Ev08MFMKH6", "slack.app_mention"
    )
    challenge = {
        "token": "t",
        "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
        "type": "url_verification",
    }
    assert read_delivery(SLACK, {}, challenge, b"{}") == Challenge(challenge["challenge"])


# --- Standard Webhooks and generic HMAC ----------------------------------------------------------------


def test_a_standard_webhooks_signature_made_by_the_reference_library_verifies() -> None:
    secret = "whsec_" + base64.b64encode(os.urandom(24)).decode()
    body = b'{"type":"invoice.paid","data":{}}'
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(NOW),
        "webhook-signature": Webhook(secret).sign("msg_1", datetime.fromtimestamp(NOW, UTC), body.decode()),
    }

    check(STANDARD, secret, headers, body)
    assert refused(STANDARD, secret, headers, body + b" ") == "no_matching_signature"
    assert read_delivery(STANDARD, headers, json.loads(body), body) == Delivery(
        "msg_1", "webhook.invoice.paid"
    )


def generic(**options: str) -> ProviderSource:
    return ProviderSource.model_validate({"kind": "generic_hmac", "header": "X-Acme-Signature", **options})


ACME_SECRET = "acme-s3cret-of-16-bytes"


@pytest.mark.parametrize(
    ("options", "encode"),
    [
        ({"encoding": "hex", "prefix": "sha256="}, lambda d: "sha256=" + d.hex()),
        ({"encoding": "base64"}, lambda d: base64.b64encode(d).decode()),
    ],
)
def test_a_generic_hmac_source_verifies_its_configured_header_encoding_and_prefix(
    options: dict[str, str], encode: Callable[[bytes], str]
) -> None:
    source = generic(**options)
    body = b'{"n":1}'
    signature = encode(hmac.new(ACME_SECRET.encode(), body, hashlib.sha256).digest())

    check(source, ACME_SECRET, {"X-Acme-Signature": signature}, body)
    tampered = refused(source, ACME_SECRET, {"X-Acme-Signature": signature}, b'{"n":2}')
    assert tampered == "no_matching_signature"
    assert refused(source, ACME_SECRET, {}, body) == "missing_headers"


def test_a_generic_source_without_an_id_header_is_keyed_by_its_body_so_a_retry_is_one_event() -> None:
    source = generic(type_header="X-Acme-Event")

    first = read_delivery(source, {"x-acme-event": "Thing.Created"}, {}, b'{"n":1}')
    again = read_delivery(source, {"x-acme-event": "Thing.Created"}, {}, b'{"n":1}')

    assert first == again and first.idempotency_key.startswith("sha256:")
    assert first.event_type == "webhook.thing.created"


def test_generic_options_are_refused_on_a_named_provider_and_a_generic_source_needs_its_header() -> None:
    with pytest.raises(ValueError, match="generic_hmac"):
        ProviderSource.model_validate({"kind": "stripe", "header": "X-Other"})
    with pytest.raises(ValueError, match="signature header"):
        ProviderSource.model_validate({"kind": "generic_hmac"})


# --- Types and secrets ---------------------------------------------------------------------------------


def test_provider_types_are_namespaced_and_held_to_the_envelopes_syntax() -> None:
    assert namespaced_type("stripe", "payment_intent.succeeded") == "stripe.payment_intent.succeeded"
    assert namespaced_type("shopify", "orders/create") == "shopify.orders.create"
    assert namespaced_type("webhook", "Invoice Paid!") == "webhook.invoice_paid_"
    assert namespaced_type("stripe", None) is None
    long_a, long_b = "a" * 80, "a" * 79 + "b"
    assert len(namespaced_type("stripe", long_a) or "") == MAX_TYPE_LENGTH
    assert namespaced_type("stripe", long_a) != namespaced_type("stripe", long_b)


@settings(deadline=None)
@given(st.text(min_size=1, max_size=200))
def test_any_provider_type_becomes_a_valid_envelope_type(raw: str) -> None:
    name = namespaced_type("github", raw)
    if name is not None:
        assert TypeAdapter(EventTypeName).validate_python(name) == name


# --- Samples -------------------------------------------------------------------------------------------


def test_the_webhook_samples_are_current_and_stripes_library_verifies_their_signatures() -> None:
    from plutus.domains import build_registry
    from plutus_dev.cli.samples import SAMPLE_WEBHOOK_SECRET, WEBHOOK_DIR, render_webhook, webhook_sample_path

    stripe_types = [r for r in build_registry().registrations if r.event_type.startswith("stripe.")]
    assert {webhook_sample_path(r).name for r in stripe_types} == {p.name for p in WEBHOOK_DIR.glob("*.json")}
    for registration in stripe_types:
        path = webhook_sample_path(registration)
        assert path.read_text() == render_webhook(registration), f"{path.name} is stale: run `make samples`"
        event = json.loads(path.read_text())
        # tolerance=0: Stripe's verifier skips the age check (the samples are dated); the signature must hold.
        assert stripe.WebhookSignature.verify_header(
            event["body"], event["headers"]["Stripe-Signature"], SAMPLE_WEBHOOK_SECRET, tolerance=0
        )


# --- The endpoint, with a fake accept use case: deny by default ----------------------------------------


class SecretsSpy:
    def __init__(self, value: str | None) -> None:
        self.value = value
        self.asked: list[str] = []

    def __call__(self, source: str, kind: ProviderKind) -> tuple[bytes, ...]:
        self.asked.append(source)
        return load_secrets(kind, self.value).keys


STRIPE_SECRET = "whsec_unit_test_secret"


REGISTRY = build_registry()


def webhook_endpoint(secrets: SecretsSpy, accept: RecordingAccept) -> Any:
    from plutus.ingest.producers import ProducerAuthorizer
    from plutus.ingest.webhooks import ProviderWebhookEndpoint
    from tests.fakes import settings as test_settings

    config = test_settings(webhook_sources={"stripe": {"kind": "stripe"}})
    registry = REGISTRY
    return ProviderWebhookEndpoint(
        config,
        registry,
        accept,
        secrets,
        ProducerAuthorizer.for_settings(config, registry),
        clock=lambda: NOW,
    )


def webhook_request(source: str, body: bytes, headers: dict[str, str]) -> Any:
    from plutus.ingest.http import HttpRequest

    return HttpRequest(
        "POST",
        f"/api/v1/webhooks/{source}",
        {k.lower(): v for k, v in headers.items()},
        body,
        None,
        {"source": source},
    )


def test_a_valid_stripe_delivery_becomes_one_namespaced_event_keyed_by_the_stripe_event_id() -> None:
    accept, secrets = RecordingAccept(), SecretsSpy(STRIPE_SECRET)
    body = json.dumps(
        {"id": "evt_9", "type": "customer.created", "data": {"object": {"id": "cus_1"}}}
    ).encode()

    reply = webhook_endpoint(secrets, accept)(
        webhook_request("stripe", body, stripe_header(STRIPE_SECRET, body))
    )

    assert reply.status == 202
    (command,) = accept.commands
    assert (command.source, command.idempotency_key, command.event_type) == (
        "stripe",
        "evt_9",
        "stripe.customer.created",
    )
    assert command.payload == json.loads(body)
    assert reply.document == {"event_id": command.event_id}
    assert secrets.asked == ["stripe"]


def test_an_unconfigured_source_is_404_without_reading_any_secret() -> None:
    accept, secrets = RecordingAccept(), SecretsSpy(STRIPE_SECRET)
    endpoint = webhook_endpoint(secrets, accept)

    for name in ("github", "../stripe", "", "s" * 200):
        assert (
            endpoint(webhook_request(name, STRIPE_EVENT, stripe_header(STRIPE_SECRET, STRIPE_EVENT))).status
            == 404
        )
    assert secrets.asked == [] and accept.commands == []


# No deadline: the first example pays for the payload models' first build; a test asserts behaviour, not time.
@settings(deadline=None)
@given(
    body=st.binary(max_size=512),
    header=st.one_of(st.none(), st.text(max_size=200)),
    content_type=st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded"]),
)
def test_no_unsigned_request_reaches_the_use_case_or_a_5xx(
    body: bytes, header: str | None, content_type: str
) -> None:
    accept = RecordingAccept()
    headers = {"Content-Type": content_type} | ({"Stripe-Signature": header} if header is not None else {})

    reply = webhook_endpoint(SecretsSpy(STRIPE_SECRET), accept)(webhook_request("stripe", body, headers))

    assert reply.status == 401
    assert accept.commands == []


@settings(deadline=None)
@given(body=st.binary(max_size=512))
def test_a_signed_body_that_is_not_a_stripe_event_is_a_4xx_never_a_5xx(body: bytes) -> None:
    # Signed with the right secret (so it passes verification) but arbitrary bytes: the client's fault.
    digest = hmac.new(STRIPE_SECRET.encode(), f"{NOW}.".encode() + body, hashlib.sha256).hexdigest()
    accept = RecordingAccept()

    reply = webhook_endpoint(SecretsSpy(STRIPE_SECRET), accept)(
        webhook_request("stripe", body, {"Stripe-Signature": f"t={NOW},v1={digest}"})
    )

    assert 400 <= reply.status < 500 or (reply.status == 202 and len(accept.commands) == 1)
