"""Provider webhook signatures and deliveries: Stripe, GitHub, Shopify, Slack, Standard Webhooks, generic
HMAC.

Our own small code rather than each provider's SDK: five HMAC-SHA256 schemes fit in this module, while the
SDKs (``stripe``, ``slack-sdk``...) would add megabytes and seconds of imports to every cold start of the
ingest function. The tests sign requests with the official libraries (and the published test vectors), so
this code is held to what the providers actually send.

Every check runs on the raw body bytes as they arrived: nothing is parsed or re-serialised before the
signature is verified. Every comparison is constant-time (``hmac.compare_digest``) over every pair of
presented signature and stored secret, so several secrets (a rotation) cost the same whichever matches.
Where a provider signs a timestamp (Stripe ``t=``, Slack ``X-Slack-Request-Timestamp``, Standard Webhooks
``webhook-timestamp``) a request further than the tolerance from the server clock is refused: a captured
request cannot be replayed later. (GitHub and Shopify sign no timestamp: a replay carries the same delivery
id, which the idempotent path absorbs.)

Pure: no AWS, no I/O. :func:`verify` raises :class:`UnauthenticatedError` (401); :func:`read_delivery` says
what was delivered (key, type) or raises :class:`InvalidEventError` (422) for a verified request that lacks
what its provider always sends.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from plutus.core.errors import InvalidEventError, UnauthenticatedError
from plutus.core.providers import ProviderSource
from plutus.ingest.auth import (
    NO_MATCH,
    TIMESTAMP,
    WEBHOOK_ID,
    read_signature_headers,
    verify_signature,
)

STRIPE_SIGNATURE = "stripe-signature"
GITHUB_SIGNATURE = "x-hub-signature-256"
GITHUB_DELIVERY = "x-github-delivery"
GITHUB_EVENT = "x-github-event"
SHOPIFY_HMAC = "x-shopify-hmac-sha256"
SHOPIFY_WEBHOOK_ID = "x-shopify-webhook-id"
SHOPIFY_EVENT_ID = "x-shopify-event-id"
SHOPIFY_TOPIC = "x-shopify-topic"
SLACK_SIGNATURE = "x-slack-signature"
SLACK_TIMESTAMP = "x-slack-request-timestamp"

# The envelope's limit on an event type (plutus.core.envelope.EventTypeName).
MAX_TYPE_LENGTH = 64
_NOT_IN_TYPE = re.compile(r"[^a-z0-9_.\-]")


@dataclass(frozen=True, slots=True)
class Delivery:
    """What a verified provider request delivered: the provider's own id and event type (namespaced)."""

    idempotency_key: str
    event_type: str | None
    # False when the type comes from a header the signature does not cover (GitHub, Shopify, a generic
    # type header): a captured body can be re-posted under another type, so such a type is a hint, never
    # enough for a restricted (money, identity, clinical) type.
    type_signed: bool = True


@dataclass(frozen=True, slots=True)
class Challenge:
    """Slack's ``url_verification``: answer the challenge, store nothing."""

    challenge: str


def _hmac(secret: bytes, content: bytes, algorithm: str = "sha256") -> bytes:
    return hmac.new(secret, content, getattr(hashlib, algorithm)).digest()


def _any_matches(
    secrets: Sequence[bytes], content: bytes, presented: Sequence[bytes], algorithm: str
) -> None:
    if not secrets:
        raise UnauthenticatedError("unknown_source", NO_MATCH)
    matched = False
    # Every pair, in constant time each: the time taken depends on the counts only, never on the content.
    for wanted in (_hmac(secret, content, algorithm) for secret in secrets):
        for candidate in presented:
            matched |= hmac.compare_digest(candidate, wanted)
    if not matched:
        raise UnauthenticatedError("no_matching_signature", NO_MATCH)


def _decoded(values: Sequence[str], decode: Callable[[str], bytes]) -> list[bytes]:
    out = []
    for value in values:
        try:
            out.append(decode(value.strip()))
        except (binascii.Error, ValueError):
            continue  # a malformed signature matches nothing
    return out


def _hex(value: str) -> bytes:
    return bytes.fromhex(value)


def _b64(value: str) -> bytes:
    return base64.b64decode(value, validate=True)


def _required(headers: Mapping[str, str], *names: str) -> list[str]:
    values = [headers.get(name) or "" for name in names]
    if not all(values):
        raise UnauthenticatedError("missing_headers", f"{', '.join(names)} required")
    return values


def _fresh(timestamp: str, name: str, now: float, tolerance_seconds: int) -> None:
    if not TIMESTAMP.match(timestamp):
        raise UnauthenticatedError("invalid_timestamp", f"{name} must be integer Unix seconds")
    if abs(now - int(timestamp)) > tolerance_seconds:
        raise UnauthenticatedError(
            "stale_timestamp", f"{name} is more than {tolerance_seconds} s from the server's clock"
        )


def _verify_stripe(
    secrets: list[bytes], headers: Mapping[str, str], body: bytes, now: float, tol: int
) -> None:
    # Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>...][,v0=...]; signed: "<t>.<body>".
    (header,) = _required(headers, STRIPE_SIGNATURE)
    pairs = [item.partition("=") for item in header.split(",")]
    stamps = [value.strip() for key, _, value in pairs if key.strip() == "t"]
    if len(stamps) != 1:
        raise UnauthenticatedError("missing_headers", "Stripe-Signature must carry one t=")
    _fresh(stamps[0], "Stripe-Signature t=", now, tol)
    presented = _decoded([value for key, _, value in pairs if key.strip() == "v1"], _hex)
    _any_matches(secrets, stamps[0].encode() + b"." + body, presented, "sha256")


def _verify_slack(
    secrets: list[bytes], headers: Mapping[str, str], body: bytes, now: float, tol: int
) -> None:
    # X-Slack-Signature: v0=<hex> of "v0:<X-Slack-Request-Timestamp>:<body>".
    signature, timestamp = _required(headers, SLACK_SIGNATURE, SLACK_TIMESTAMP)
    _fresh(timestamp, "X-Slack-Request-Timestamp", now, tol)
    version, _, value = signature.partition("=")
    presented = _decoded([value], _hex) if version == "v0" else []
    _any_matches(secrets, b"v0:" + timestamp.encode() + b":" + body, presented, "sha256")


def _verify_body_hmac(
    secrets: list[bytes],
    header: str,
    prefix: str,
    decode: Callable[[str], bytes],
    algorithm: str,
    body: bytes,
) -> None:
    value = header.strip()
    presented = _decoded([value[len(prefix) :]], decode) if value.startswith(prefix) else []
    _any_matches(secrets, body, presented, algorithm)


def verify(
    source: ProviderSource,
    keys: Sequence[bytes],
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float,
    tolerance_seconds: int,
) -> None:
    """Pass if ``body`` is signed with one of the ``keys`` as ``source``'s provider signs it.

    ``headers`` are lower-case; ``keys`` are the source's usable stored secrets as HMAC keys
    (:func:`plutus.core.webhook_secrets.load_secrets`: none if it has none, or none usable, which is answered
    like a bad signature). Raises :class:`UnauthenticatedError`.
    """
    kind = source.kind
    if kind == "standard_webhooks":
        signed = read_signature_headers(headers, now=now, tolerance_seconds=tolerance_seconds)
        verify_signature(keys, signed, body)
        return
    secrets = list(keys)
    if kind == "stripe":
        _verify_stripe(secrets, headers, body, now, tolerance_seconds)
    elif kind == "slack":
        _verify_slack(secrets, headers, body, now, tolerance_seconds)
    elif kind == "github":
        (header,) = _required(headers, GITHUB_SIGNATURE)
        _verify_body_hmac(secrets, header, "sha256=", _hex, "sha256", body)
    elif kind == "shopify":
        (header,) = _required(headers, SHOPIFY_HMAC)
        _verify_body_hmac(secrets, header, "", _b64, "sha256", body)
    else:
        assert source.header is not None  # enforced by ProviderSource
        (header,) = _required(headers, source.header.lower())
        decode = _hex if source.encoding == "hex" else _b64
        _verify_body_hmac(secrets, header, source.prefix, decode, source.algorithm, body)


def namespaced_type(namespace: str, provider_type: str | None) -> str | None:
    """``<namespace>.<provider type>``, held to the envelope's type syntax.

    Lower-cased; Shopify's ``orders/create`` becomes ``orders.create``; any other character outside
    ``[a-z0-9_.-]`` becomes ``_``. A type longer than the envelope takes keeps its start and a digest of the
    whole, so two long types stay distinct. No type: ``None`` (an untyped event).
    """
    if not provider_type:
        return None
    cleaned = _NOT_IN_TYPE.sub("_", provider_type.strip().lower().replace("/", "."))
    name = f"{namespace}.{cleaned}"
    if len(name) <= MAX_TYPE_LENGTH:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: MAX_TYPE_LENGTH - 9]}-{digest}"


def _missing(field: str, message: str) -> InvalidEventError:
    return InvalidEventError(
        f"the delivery carries no {field}", [{"field": field, "pointer": "", "message": message}]
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


Found = tuple[str | None, str | None]  # (idempotency key, provider type) as the request carries them

# Kinds that sign only the body, with no timestamp: their delivery id and type headers are not signed.
UNSIGNED_HEADER_KINDS = frozenset({"github", "shopify", "generic_hmac"})


def _signed_key(raw_type: str | None, body: bytes) -> str:
    """The idempotency key of a delivery whose id header is not signed: its type and its signed body.

    A captured body re-posted later with a made-up delivery id is the same key, so a replay (200), never a new
    event; a genuine redelivery (same body) is a replay too. The type is part of it because a provider may
    send byte-identical bodies under two topics (Shopify's ``orders/create`` and ``orders/updated``).
    """
    material = (raw_type or "").encode() + b"\0" + body
    return "sha256:" + hashlib.sha256(material).hexdigest()


def _stripe(source: ProviderSource, headers: Mapping[str, str], obj: dict[str, Any], body: bytes) -> Found:
    if _text(obj.get("id")) is None:
        raise _missing("id", "a Stripe event has an id (evt_...)")
    return _text(obj.get("id")), _text(obj.get("type"))


def _github(source: ProviderSource, headers: Mapping[str, str], obj: dict[str, Any], body: bytes) -> Found:
    if not headers.get(GITHUB_DELIVERY):
        raise _missing("X-GitHub-Delivery", "GitHub sends a delivery id with every request")
    event, action = headers.get(GITHUB_EVENT) or None, _text(obj.get("action"))
    raw_type = f"{event}.{action}" if event and action else event
    # X-GitHub-Delivery is not signed: the key comes from what is (a "Redeliver" sends the same body).
    return _signed_key(raw_type, body), raw_type


def _shopify(source: ProviderSource, headers: Mapping[str, str], obj: dict[str, Any], body: bytes) -> Found:
    key = headers.get(SHOPIFY_WEBHOOK_ID) or headers.get(SHOPIFY_EVENT_ID) or None
    if key is None:
        raise _missing("X-Shopify-Webhook-Id", "Shopify sends a webhook id with every request")
    raw_type = headers.get(SHOPIFY_TOPIC) or None
    # X-Shopify-Webhook-Id is not signed: the key comes from what is (Shopify's retries send the same body).
    return _signed_key(raw_type, body), raw_type


def _slack(source: ProviderSource, headers: Mapping[str, str], obj: dict[str, Any], body: bytes) -> Found:
    # Slack's retries (X-Slack-Retry-Num) carry the same event_id: one event.
    if _text(obj.get("event_id")) is None:
        raise _missing("event_id", "a Slack Events API callback has an event_id")
    event = obj.get("event")
    inner = _text(event.get("type")) if isinstance(event, dict) else None
    return _text(obj.get("event_id")), inner if obj.get("type") == "event_callback" else _text(
        obj.get("type")
    )


def _standard(source: ProviderSource, headers: Mapping[str, str], obj: dict[str, Any], body: bytes) -> Found:
    return headers.get(WEBHOOK_ID) or None, _text(obj.get("type"))


def _generic(source: ProviderSource, headers: Mapping[str, str], obj: dict[str, Any], body: bytes) -> Found:
    raw_type = headers.get(source.type_header.lower()) if source.type_header else None
    if source.id_header and not headers.get(source.id_header.lower()):
        raise _missing(source.id_header, "the source's configured delivery id header is missing")
    # The id header (if any) is not signed: the key comes from the type and the signed body.
    return _signed_key(raw_type, body), raw_type


_READERS: dict[str, Callable[[ProviderSource, Mapping[str, str], dict[str, Any], bytes], Found]] = {
    "stripe": _stripe,
    "github": _github,
    "shopify": _shopify,
    "slack": _slack,
    "standard_webhooks": _standard,
    "generic_hmac": _generic,
}


def read_delivery(
    source: ProviderSource, headers: Mapping[str, str], data: Any, body: bytes
) -> Delivery | Challenge:
    """The idempotency key (the provider's delivery or event id) and namespaced type of a verified request,
    or Slack's ``url_verification`` challenge."""
    obj: dict[str, Any] = data if isinstance(data, dict) else {}
    if source.kind == "slack" and obj.get("type") == "url_verification" and _text(obj.get("challenge")):
        return Challenge(str(obj["challenge"]))
    key, raw_type = _READERS[source.kind](source, headers, obj, body)
    if key is None:  # read_signature_headers already required webhook-id
        raise _missing("webhook-id", "required")
    type_signed = source.kind not in UNSIGNED_HEADER_KINDS or (
        source.kind == "generic_hmac" and not source.type_header
    )
    return Delivery(key, namespaced_type(source.type_namespace, raw_type), type_signed)
