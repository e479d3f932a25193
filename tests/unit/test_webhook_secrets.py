"""Stored webhook secrets checked per provider kind when loaded (security review F5): a line that is not a
usable key (not whsec_ base64, not UTF-8, not a Stripe whsec_, under 16 bytes of key material) is ignored
for verification, logged once per load with its source and reason (never the secret) and counted; a source
with no usable key is answered 401 like a source with no secret, never 500."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import stripe
from aws_lambda_powertools.utilities.parameters import SecretsProvider

from plutus.core.errors import UnauthenticatedError
from plutus.core.providers import ProviderKind, ProviderSource
from plutus.core.webhook_secrets import (
    MIN_KEY_BYTES,
    NOT_BASE64,
    NOT_UTF8,
    NOT_WHSEC,
    TOO_SHORT,
    InvalidSecretError,
    Rejected,
    load_secrets,
    secret_key,
)
from plutus.ingest.auth import ParameterSecretStore
from plutus.ingest.providers import verify
from plutus.observability.telemetry import WEBHOOK_SECRET_INVALID
from tests.fakes import RecordingAccept
from tests.unit.test_webhook_auth import FakeSecretsManager

NOW = 1_795_737_600
BODY = b'{"id": "evt_1", "type": "charge.refunded"}'

# What each provider issues (or, for GitHub and generic HMAC, what the docs tell operators to generate).
ISSUED: dict[str, str] = {
    "stripe": "whsec_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6",  # the Dashboard: whsec_ + 32 characters
    "standard_webhooks": "whsec_" + base64.b64encode(os.urandom(24)).decode(),  # Svix: 24 random bytes
    "github": os.urandom(32).hex(),  # openssl rand -hex 32
    "shopify": os.urandom(16).hex(),  # a 32-hex-character signing key / client secret
    "slack": os.urandom(16).hex(),  # a 32-hex-character signing secret
    "generic_hmac": os.urandom(32).hex(),
}
KINDS: list[ProviderKind] = ["stripe", "standard_webhooks", "github", "shopify", "slack", "generic_hmac"]


@pytest.mark.parametrize("kind", KINDS)
def test_what_each_provider_issues_is_a_usable_key(kind: ProviderKind) -> None:
    loaded = load_secrets(kind, ISSUED[kind] + "\n")
    assert len(loaded.keys) == 1 and loaded.rejected == () and loaded.texts == (ISSUED[kind],)


@pytest.mark.parametrize("kind", KINDS)
def test_a_secret_one_byte_short_of_the_minimum_is_refused_and_the_minimum_is_accepted(
    kind: ProviderKind,
) -> None:
    def of_length(n: int) -> str:
        if kind == "standard_webhooks":
            return "whsec_" + base64.b64encode(b"k" * n).decode()
        return ("whsec_" if kind == "stripe" else "") + "k" * n

    with pytest.raises(InvalidSecretError) as exc:
        secret_key(kind, of_length(MIN_KEY_BYTES - 1))
    assert exc.value.reason == TOO_SHORT and "k" * 8 not in str(exc.value)
    assert secret_key(kind, of_length(MIN_KEY_BYTES))


@pytest.mark.parametrize(
    "stored",
    ["whsec_not base64 at all!!", "whsec_" + "é" * 24, "whsec_abc=def" + "A" * 24],
    ids=["spaces_and_bangs", "non_ascii", "padding_inside"],
)
def test_a_standard_webhooks_secret_that_is_not_base64_is_refused_as_such(stored: str) -> None:
    # Stored one per line: the spaces of the first are then separators, each part refused on its own.
    loaded = load_secrets("standard_webhooks", stored)
    assert loaded.keys == () and {r.reason for r in loaded.rejected} <= {NOT_BASE64, TOO_SHORT}
    assert NOT_BASE64 in {r.reason for r in loaded.rejected}


def test_a_stripe_line_that_is_not_a_whsec_signing_secret_is_refused() -> None:
    # An API key pasted where the signing secret belongs is never used as one.
    assert load_secrets("stripe", "sk_test_" + "x" * 40).rejected == (Rejected(1, NOT_WHSEC),)


@pytest.mark.parametrize("kind", KINDS)
def test_a_line_that_is_not_utf8_is_refused_and_the_other_lines_still_load(kind: ProviderKind) -> None:
    stored = b"\xff\xfe" + b"k" * 20 + b"\xc3\n" + ISSUED[kind].encode() + b"\n"
    loaded = load_secrets(kind, stored)
    assert loaded.rejected == (Rejected(1, NOT_UTF8),)
    assert loaded.keys == (secret_key(kind, ISSUED[kind]),)


def test_blank_lines_are_not_entries_and_nothing_stored_is_no_key() -> None:
    assert load_secrets("github", None).keys == ()
    assert load_secrets("github", "\n \n").rejected == ()
    assert load_secrets("github", "  It's a Secret to Everybody  \n").keys == (b"It's a Secret to Everybody",)


def stripe_headers(secret: str) -> dict[str, str]:
    return {"stripe-signature": stripe.WebhookSignature.generate_signature_header(BODY.decode(), secret, NOW)}


def github_headers(secret: str) -> dict[str, str]:
    return {"x-hub-signature-256": "sha256=" + hmac.new(secret.encode(), BODY, hashlib.sha256).hexdigest()}


@pytest.mark.parametrize(
    ("kind", "headers", "bad_line"),
    [
        ("stripe", stripe_headers, "whsec_short"),
        ("github", github_headers, "tiny"),
        ("stripe", stripe_headers, "sk_live_" + "x" * 30),
    ],
)
def test_during_a_rotation_a_bad_line_is_ignored_and_the_valid_one_still_verifies(
    kind: ProviderKind, headers: Callable[[str], dict[str, str]], bad_line: str
) -> None:
    good = ISSUED[kind]
    loaded = load_secrets(kind, f"{bad_line}\n{good}\n")
    assert len(loaded.keys) == 1 and [r.position for r in loaded.rejected] == [1]

    verify(ProviderSource(kind=kind), loaded.keys, headers(good), BODY, now=NOW, tolerance_seconds=300)
    # The ignored line verifies nothing, even a request signed with it.
    with pytest.raises(UnauthenticatedError):
        verify(
            ProviderSource(kind=kind), loaded.keys, headers(bad_line), BODY, now=NOW, tolerance_seconds=300
        )


# --- Loading: the store logs once per load and counts, never the secret ----------------------------------


@pytest.fixture
def output(capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[[], str]]:
    """What the store writes: Plutus' log lines and the EMF documents on stdout."""
    from plutus.observability import logger, metrics

    buffer = io.StringIO()
    previous = logger.registered_handler.setStream(buffer)
    metrics.set_default_dimensions(environment="test")  # as each invocation's decorator stack does
    try:
        yield lambda: buffer.getvalue() + capsys.readouterr().out
    finally:
        logger.registered_handler.setStream(previous)
        metrics.clear_default_dimensions()


def store_of(values: dict[str, str], now: list[float]) -> tuple[ParameterSecretStore, FakeSecretsManager]:
    fake = FakeSecretsManager(values)
    provider = SecretsProvider(boto3_client=fake)  # type: ignore[arg-type]
    return ParameterSecretStore(provider, "/p/", 60, clock=lambda: now[0]), fake


def lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_a_bad_line_is_logged_and_counted_once_per_load_with_source_and_reason_never_the_secret(
    output: Callable[[], str],
) -> None:
    bad, good = "whsec_tooshort", ISSUED["stripe"]
    now = [0.0]
    store, fake = store_of({"/p/stripe": f"{bad}\n{good}"}, now)

    # Given a load, then requests within max_age, then a load after it
    for _ in range(3):
        assert store.keys("stripe", "stripe") == (good.encode(),)
    now[0] = 61
    assert store.keys("stripe", "stripe") == (good.encode(),)

    written = output()
    records = lines(written)
    logged = [r for r in records if r.get("message") == "webhook secrets ignored"]
    counted = [r for r in records if WEBHOOK_SECRET_INVALID in r]
    assert fake.calls == 2 and len(logged) == 2 and len(counted) == 2
    assert logged[0]["source"] == "stripe" and logged[0]["kind"] == "stripe"
    assert logged[0]["rejected"] == [{"position": 1, "reason": TOO_SHORT}] and logged[0]["usable"] == 1
    assert counted[0][WEBHOOK_SECRET_INVALID] == [1.0] and counted[0]["source"] == "stripe"
    # One value, two dimension sets: the alarm's totals and the per-source breakdown.
    dimensions = counted[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
    assert sorted(map(sorted, dimensions)) == [
        ["environment", "service"],
        ["environment", "service", "source"],
    ]
    assert bad not in written and good not in written and "tooshort" not in written


def test_valid_secrets_load_silently(output: Callable[[], str]) -> None:
    store, _ = store_of({"/p/github": ISSUED["github"]}, [0.0])
    assert store.keys("github", "github") == (ISSUED["github"].encode(),)
    assert lines(output()) == []


def test_a_producer_secret_that_is_not_whsec_base64_is_ignored_not_a_500(output: Callable[[], str]) -> None:
    # /api/v1/ingest's Standard Webhooks producers read their secrets through the same check.
    good = ISSUED["standard_webhooks"]
    store, _ = store_of({"/p/payment_service": f"whsec_%%% {good}"}, [0.0])
    assert store("payment_service") == (secret_key("standard_webhooks", good),)
    assert "payment_service" in output()


# --- The route: a source with no usable secret is a 401, nothing accepted --------------------------------


@pytest.mark.parametrize(
    "stored",
    ["whsec_short", "sk_live_" + "x" * 40, "whsec_" + "k" * 15 + "\n\n"],
    ids=["too_short", "not_whsec", "one_byte_short"],
)
def test_a_source_whose_every_secret_is_unusable_answers_401_and_nothing_is_accepted(
    stored: str, output: Callable[[], str]
) -> None:
    from plutus.domains import build_registry
    from plutus.ingest.http import HttpRequest
    from plutus.ingest.producers import ProducerAuthorizer
    from plutus.ingest.webhooks import ProviderWebhookEndpoint
    from tests.fakes import settings as test_settings

    registry = build_registry()
    config = test_settings(webhook_sources={"stripe": {"kind": "stripe"}})
    store, _ = store_of({"/p/stripe": stored}, [0.0])
    accept = RecordingAccept()
    endpoint = ProviderWebhookEndpoint(
        config,
        registry,
        accept,
        store.keys,
        ProducerAuthorizer.for_settings(config, registry),
        clock=lambda: NOW,
    )
    # Signed with the stored (unusable) secret itself: still refused, it is never a key.
    headers = stripe_headers(stored.strip())
    request = HttpRequest(
        "POST",
        "/api/v1/webhooks/stripe",
        {"content-type": "application/json", **headers},
        BODY,
        None,
        {"source": "stripe"},
    )

    reply = endpoint(request)

    assert reply.status == 401 and accept.commands == []
    assert "webhook secrets ignored" in output()
