"""Standard Webhooks verification, against signatures made by the reference library (standardwebhooks)."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parameters import SecretsProvider, SSMProvider
from botocore.exceptions import ClientError
from standardwebhooks.webhooks import Webhook

from plutus.core.errors import BodyTooLargeError, UnauthenticatedError
from plutus.core.webhook_secrets import NOT_BASE64, TOO_SHORT, InvalidSecretError, load_secrets, secret_key
from plutus.ingest.auth import (
    ParameterSecretStore,
    WebhookAuthenticator,
    claimed_source,
)
from tests.builders import an_event, encoded

NOW = 1_750_000_000
TOLERANCE = 300


def new_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(24)).decode()


def signed_headers(
    secret: str, body: bytes, *, msg_id: str = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", at: int = NOW
) -> dict[str, str]:
    """The three headers exactly as the reference library's sender makes them."""
    signature = Webhook(secret).sign(msg_id, datetime.fromtimestamp(at, tz=UTC), body.decode())
    return {"webhook-id": msg_id, "webhook-timestamp": str(at), "webhook-signature": signature}


def authenticator(secrets: Mapping[str, list[str]], now: int = NOW) -> WebhookAuthenticator:
    decoded = {
        source: load_secrets("standard_webhooks", " ".join(values)).keys for source, values in secrets.items()
    }
    return WebhookAuthenticator(
        decoded.get, tolerance_seconds=TOLERANCE, max_body_bytes=262_144, clock=lambda: float(now)
    )


def reason(exc: pytest.ExceptionInfo[UnauthenticatedError]) -> str:
    return exc.value.reason


def test_a_signature_from_the_reference_library_verifies_and_names_source_and_id() -> None:
    secret = new_secret()
    body = encoded(an_event(None))
    caller = authenticator({"payment_service": [secret]}).authenticate(signed_headers(secret, body), body)
    assert caller.source == "payment_service"
    assert caller.webhook_id == "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"


def test_the_reference_library_accepts_what_we_accept_on_the_same_request() -> None:
    # Both sides agree on the signed content: the reference verifier passes the very same request.
    secret = new_secret()
    body = encoded(an_event("evt_1", payload={"note": "ünïcödé ✓"}))
    headers = signed_headers(secret, body, at=int(datetime.now(UTC).timestamp()))
    now = int(headers["webhook-timestamp"])
    assert authenticator({"payment_service": [secret]}, now).authenticate(headers, body).source
    Webhook(secret).verify(body, headers)


def test_rotation_any_active_secret_verifies_and_a_retired_one_does_not() -> None:
    old, new, retired = new_secret(), new_secret(), new_secret()
    auth = authenticator({"payment_service": [new, old]})
    body = encoded(an_event(None))
    for secret in (old, new):
        assert auth.authenticate(signed_headers(secret, body), body).source == "payment_service"
    with pytest.raises(UnauthenticatedError) as exc:
        auth.authenticate(signed_headers(retired, body), body)
    assert reason(exc) == "no_matching_signature"


def test_a_sender_mid_rotation_sends_several_signatures_and_one_match_is_enough() -> None:
    old, new = new_secret(), new_secret()
    body = encoded(an_event(None))
    headers = signed_headers(old, body)
    headers["webhook-signature"] = " ".join(
        [
            signed_headers(new, body)["webhook-signature"],
            "v1a,ignored",
            "v1,@@@",
            headers["webhook-signature"],
        ]
    )
    assert authenticator({"payment_service": [old]}).authenticate(headers, body).source == "payment_service"


@pytest.mark.parametrize(
    ("skew", "ok"), [(-TOLERANCE, True), (TOLERANCE, True), (-TOLERANCE - 1, False), (TOLERANCE + 1, False)]
)
def test_timestamps_outside_the_tolerance_are_refused_either_way(skew: int, ok: bool) -> None:
    secret = new_secret()
    body = encoded(an_event(None))
    headers = signed_headers(secret, body, at=NOW + skew)  # validly signed, but stale (or from the future)
    auth = authenticator({"payment_service": [secret]})
    if ok:
        assert auth.authenticate(headers, body).source == "payment_service"
        return
    with pytest.raises(UnauthenticatedError) as exc:
        auth.authenticate(headers, body)
    assert reason(exc) == "stale_timestamp"


def test_a_stale_timestamp_cannot_be_refreshed_without_the_secret() -> None:
    secret = new_secret()
    body = encoded(an_event(None))
    headers = signed_headers(secret, body, at=NOW - 3600)
    headers["webhook-timestamp"] = str(NOW)  # a replayer moves the timestamp forward
    with pytest.raises(UnauthenticatedError) as exc:
        authenticator({"payment_service": [secret]}).authenticate(headers, body)
    assert reason(exc) == "no_matching_signature"


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_each_header_is_required(missing: str) -> None:
    secret = new_secret()
    body = encoded(an_event(None))
    headers = signed_headers(secret, body)
    del headers[missing]
    with pytest.raises(UnauthenticatedError) as exc:
        authenticator({"payment_service": [secret]}).authenticate(headers, body)
    assert reason(exc) == "missing_headers"


@pytest.mark.parametrize("timestamp", ["1_750_000_000", "+1750000000", "1750000000.0", " 1750000000", "abc"])
def test_a_timestamp_must_be_integer_seconds(timestamp: str) -> None:
    secret = new_secret()
    body = encoded(an_event(None))
    headers = {**signed_headers(secret, body), "webhook-timestamp": timestamp}
    with pytest.raises(UnauthenticatedError) as exc:
        authenticator({"payment_service": [secret]}).authenticate(headers, body)
    assert reason(exc) == "invalid_timestamp"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda h, b: (h, b.replace(b"100", b"900")),
        lambda h, b: ({**h, "webhook-id": "msg_other"}, b),
        lambda h, b: ({**h, "webhook-signature": h["webhook-signature"].replace("v1,", "v2,")}, b),
        lambda h, b: ({**h, "webhook-signature": "v1," + base64.b64encode(b"x" * 32).decode()}, b),
    ],
    ids=["body", "id", "version", "signature"],
)
def test_any_change_to_the_signed_content_fails(tamper: Any) -> None:
    secret = new_secret()
    headers, body = tamper(signed_headers(secret, encoded(an_event(None))), encoded(an_event(None)))
    with pytest.raises(UnauthenticatedError) as exc:
        authenticator({"payment_service": [secret]}).authenticate(headers, body)
    assert reason(exc) == "no_matching_signature"


def test_a_source_cannot_sign_for_another_source() -> None:
    mine, theirs = new_secret(), new_secret()
    auth = authenticator({"payment_service": [theirs], "crm": [mine]})
    body = encoded(an_event(None))
    with pytest.raises(UnauthenticatedError) as exc:
        auth.authenticate(signed_headers(mine, body), body)
    assert reason(exc) == "no_matching_signature"


def test_an_unknown_source_reads_exactly_like_a_bad_signature() -> None:
    secret = new_secret()
    auth = authenticator({"payment_service": [secret]})
    body = encoded(an_event(None, source="nobody"))
    with pytest.raises(UnauthenticatedError) as unknown:
        auth.authenticate(signed_headers(secret, body), body)
    body = encoded(an_event(None))
    with pytest.raises(UnauthenticatedError) as bad:
        auth.authenticate(signed_headers(new_secret(), body), body)
    assert reason(unknown) == "unknown_source"
    assert str(unknown.value) == str(bad.value)


def test_an_oversize_body_is_413_before_anything_else() -> None:
    auth = WebhookAuthenticator(lambda _: None, tolerance_seconds=TOLERANCE, max_body_bytes=1024)
    with pytest.raises(BodyTooLargeError):
        auth.authenticate({}, b"x" * 1025)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"source": "a"}, "a"),
        ([{"source": "a"}, {"source": "a"}], "a"),
        ({"events": [{"source": "a"}, {"source": "a"}]}, "a"),
    ],
)
def test_the_source_is_the_one_every_event_names(body: Any, expected: str) -> None:
    assert claimed_source(json.dumps(body).encode()) == expected


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"{nope", "unreadable_body"),
        (json.dumps([{"source": "a"}, {"source": "b"}]).encode(), "no_single_source"),
        (json.dumps({"events": []}).encode(), "no_single_source"),
        (json.dumps({"source": {"nested": 1}}).encode(), "unknown_source"),
        (json.dumps({"source": "../admin"}).encode(), "unknown_source"),
        (json.dumps({"source": "a b"}).encode(), "unknown_source"),
        (json.dumps(7).encode(), "unknown_source"),
    ],
)
def test_a_body_without_one_usable_source_is_refused(raw: bytes, why: str) -> None:
    with pytest.raises(UnauthenticatedError) as exc:
        claimed_source(raw)
    assert reason(exc) == why


def test_secrets_are_whsec_base64_with_optional_prefix_and_padding() -> None:
    key = os.urandom(32)
    encoded = base64.b64encode(key).decode()
    assert secret_key("standard_webhooks", "whsec_" + encoded) == key
    assert secret_key("standard_webhooks", encoded) == key
    assert secret_key("standard_webhooks", "whsec_" + encoded.rstrip("=")) == key
    assert load_secrets("standard_webhooks", f"whsec_{encoded},\n whsec_{encoded}").keys == (key, key)
    for bad, why in (("whsec_", TOO_SHORT), ("whsec_not base64!", NOT_BASE64)):
        with pytest.raises(InvalidSecretError) as exc:
            secret_key("standard_webhooks", bad)
        assert exc.value.reason == why and "not base64!" not in str(exc.value)


class FakeSecretsManager:
    """The two calls Powertools makes, on an in-memory store; counts the calls."""

    def __init__(self, values: dict[str, str], error: str = "ResourceNotFoundException") -> None:
        self.values = values
        self.error = error
        self.calls = 0

    def _raise(self, operation: str) -> Any:
        raise ClientError({"Error": {"Code": self.error, "Message": "nope"}}, operation)

    def get_secret_value(self, SecretId: str, **_: Any) -> dict[str, str]:  # noqa: N803 - boto3's name
        self.calls += 1
        if SecretId not in self.values:
            self._raise("GetSecretValue")
        return {"SecretString": self.values[SecretId]}

    def get_parameter(self, Name: str, WithDecryption: bool = False) -> dict[str, Any]:  # noqa: N803
        self.calls += 1
        if Name not in self.values:
            self._raise("GetParameter")
        assert WithDecryption
        return {"Parameter": {"Value": self.values[Name]}}


@pytest.mark.parametrize("kind", ["secretsmanager", "ssm"])
def test_the_store_caches_found_and_missing_secrets_for_max_age(kind: str) -> None:
    secret = new_secret()
    fake = FakeSecretsManager(
        {"/p/payment_service": f"{secret} {new_secret()}"},
        "ParameterNotFound" if kind == "ssm" else "ResourceNotFoundException",
    )
    now = [0.0]
    provider = SSMProvider(boto3_client=fake) if kind == "ssm" else SecretsProvider(boto3_client=fake)  # type: ignore[arg-type]
    store = ParameterSecretStore(provider, "/p/", 60, decrypt=kind == "ssm", clock=lambda: now[0])
    stored = fake.values["/p/payment_service"]
    assert store("payment_service") == load_secrets("standard_webhooks", stored).keys
    assert len(store("payment_service")) == 2
    assert store("nobody") == ()
    assert store("nobody") == ()
    assert fake.calls == 2
    now[0] = 61
    assert store("nobody") == ()
    assert fake.calls == 3


def test_a_store_outage_is_not_mistaken_for_an_unknown_source() -> None:
    fake = FakeSecretsManager({}, error="ThrottlingException")
    store = ParameterSecretStore(SecretsProvider(boto3_client=fake), "/p/", 60)  # type: ignore[arg-type]
    with pytest.raises(ClientError):
        store("payment_service")
