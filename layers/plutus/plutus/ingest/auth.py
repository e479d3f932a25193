"""Producer authentication on the ingest routes, chosen by the template's ``AuthMode`` (``PLUTUS_AUTH_MODE``).

- ``NONE``: Plutus sits behind a trusted gateway; every request is accepted as is.
- ``IAM``: API Gateway verifies the SigV4 signature before the function runs and names the caller's principal
  in the event (``requestContext.identity.userArn``), which ``plutus.ingest.producers`` authorizes.
- ``WEBHOOK_SIGNATURE``: Standard Webhooks (https://www.standardwebhooks.com/) signatures, verified here with
  the secrets of the source the body names. The secret of source ``S`` is the Secrets Manager secret or SSM
  parameter named ``<PLUTUS_WEBHOOK_SECRET_PREFIX>S``; it holds one or more ``whsec_`` secrets separated by
  spaces, commas or newlines, all active at once so a sender can rotate without downtime. A stored secret
  that is not a usable key (``plutus.core.webhook_secrets``) is ignored, logged and counted when loaded.

The verification (:func:`verify_signature`, :func:`claimed_source`) is pure; :class:`ParameterSecretStore` is
the small adapter that fetches secrets through Powertools Parameters, cached for ``max_age`` seconds.
Both ingest endpoints (``plutus.ingest.endpoints``) authenticate first, whether served from API Gateway
events or by the FastAPI app; nothing here imports a web framework (the hot path never loads one).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from plutus.core.errors import BodyTooLargeError, UnauthenticatedError
from plutus.core.providers import ProviderKind
from plutus.core.webhook_secrets import LoadedSecrets, load_secrets
from plutus.observability import logger
from plutus.observability.telemetry import count_invalid_secrets
from plutus.settings import Settings

WEBHOOK_ID = "webhook-id"
WEBHOOK_TIMESTAMP = "webhook-timestamp"
WEBHOOK_SIGNATURE = "webhook-signature"
SIGNATURE_VERSION = "v1"

# What a source name must look like to name a secret: no "/" (it would reach outside the prefix), no spaces.
SOURCE_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,128}$")
# The spec's timestamp is integer seconds; anything else (fractions, signs, "1_700") is refused.
TIMESTAMP = re.compile(r"^[0-9]{1,15}$")
# Unknown sources must be indistinguishable from bad signatures, or the 401 would list the sources.
NO_MATCH = "no signature matches a secret of the request's source"


@dataclass(frozen=True, slots=True)
class Caller:
    """Who sent a request, as far as authentication tells: the verified source and its ``webhook-id``
    (``WEBHOOK_SIGNATURE``), or the principal API Gateway verified (``IAM``: ``requestContext.identity``)."""

    source: str | None = None
    webhook_id: str | None = None
    principal: str | None = None
    # Whether the request's authentication covers an Idempotency-Key header (IAM: SigV4's SignedHeaders).
    # An uncovered header could be changed on a captured request, turning a replay into a new event.
    key_header_signed: bool = True


class Authenticator(Protocol):
    """Decides whether a request may be ingested; raises :class:`UnauthenticatedError` if not."""

    def authenticate(self, headers: Mapping[str, str], body: bytes) -> Caller:
        """The caller of a request with these (lower-case) headers and this raw body."""
        ...


class Unauthenticated:
    """``NONE``: nothing to verify in the function."""

    def authenticate(self, headers: Mapping[str, str], body: bytes) -> Caller:
        """Everyone is an anonymous caller."""
        return Caller()


IDEMPOTENCY_KEY = "idempotency-key"
_SIGNED_HEADERS = re.compile(r"SignedHeaders=([^,\s]+)")


def sigv4_signed_headers(authorization: str | None) -> frozenset[str]:
    """The headers a SigV4 ``Authorization`` header says it signed (lower-case); none if it is not SigV4."""
    if not authorization or not authorization.startswith("AWS4-HMAC-SHA256 "):
        return frozenset()
    match = _SIGNED_HEADERS.search(authorization)
    return frozenset(match.group(1).lower().split(";")) if match else frozenset()


class SigV4Verified:
    """``IAM``: API Gateway verified the SigV4 signature before the function ran, and names the principal in
    the event (read by the endpoints). Here: whether that signature covers the ``Idempotency-Key`` header."""

    def authenticate(self, headers: Mapping[str, str], body: bytes) -> Caller:
        """A caller whose key header counts only if it was signed."""
        return Caller(key_header_signed=IDEMPOTENCY_KEY in sigv4_signed_headers(headers.get("authorization")))


def claimed_source(body: bytes) -> str:
    """The one source a body's events name (``{"source"}``, ``[{"source"}...]`` or ``{"events": [...]}``).

    The secret is chosen by this name, so a verified request can only carry events of its own source.
    """
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise UnauthenticatedError("unreadable_body", "the body is not JSON naming a source") from None
    items: Any = data
    if isinstance(data, dict):
        items = data["events"] if "source" not in data and isinstance(data.get("events"), list) else [data]
    if not isinstance(items, list):
        items = [items]
    named = (item.get("source") if isinstance(item, dict) else None for item in items)
    sources = {name if isinstance(name, str) else None for name in named}
    if len(sources) != 1:
        raise UnauthenticatedError("no_single_source", "a signed request carries events of one source")
    source = sources.pop()
    if not isinstance(source, str) or not SOURCE_NAME.match(source):
        raise UnauthenticatedError("unknown_source", NO_MATCH)
    return source


def _expected_signatures(secrets: Sequence[bytes], signed: bytes) -> list[bytes]:
    return [hmac.new(secret, signed, hashlib.sha256).digest() for secret in secrets]


def _presented_signatures(header: str) -> list[bytes]:
    presented = []
    for item in header.split(" "):
        version, _, encoded = item.partition(",")
        if version != SIGNATURE_VERSION:
            continue  # other schemes (v1a: asymmetric) are not ours to check
        try:
            presented.append(base64.b64decode(encoded, validate=True))
        except (binascii.Error, ValueError):
            continue
    return presented


@dataclass(frozen=True, slots=True)
class SignatureHeaders:
    """The three Standard Webhooks headers of a request, checked for presence and freshness."""

    msg_id: str
    timestamp: int
    signatures: str


def read_signature_headers(
    headers: Mapping[str, str], *, now: float, tolerance_seconds: int
) -> SignatureHeaders:
    """The signature headers, or :class:`UnauthenticatedError` if one is missing or the timestamp is stale.

    A timestamp further than ``tolerance_seconds`` from ``now`` (either way) is refused: that stops replays
    of captured requests. Checked before any secret is fetched.
    """
    msg_id = headers.get(WEBHOOK_ID)
    timestamp = headers.get(WEBHOOK_TIMESTAMP)
    signatures = headers.get(WEBHOOK_SIGNATURE)
    if not (msg_id and timestamp and signatures):
        raise UnauthenticatedError(
            "missing_headers", "webhook-id, webhook-timestamp and webhook-signature are required"
        )
    if not TIMESTAMP.match(timestamp):
        raise UnauthenticatedError("invalid_timestamp", "webhook-timestamp must be integer Unix seconds")
    sent_at = int(timestamp)
    if abs(now - sent_at) > tolerance_seconds:
        raise UnauthenticatedError(
            "stale_timestamp", f"webhook-timestamp is more than {tolerance_seconds} s from the server's clock"
        )
    return SignatureHeaders(msg_id, sent_at, signatures)


def verify_signature(secrets: Sequence[bytes], signed: SignatureHeaders, body: bytes) -> None:
    """Pass if any ``v1`` signature in the header matches any secret; else :class:`UnauthenticatedError`.

    The signed content is ``{webhook-id}.{webhook-timestamp}.{body}`` (the raw body bytes), signed with
    HMAC-SHA256 and sent base64-encoded as ``v1,<signature>``, several space-separated during a rotation.
    """
    if not secrets:
        raise UnauthenticatedError("unknown_source", NO_MATCH)
    content = f"{signed.msg_id}.{signed.timestamp}.".encode() + body
    expected = _expected_signatures(secrets, content)
    # Every pair is compared in constant time; how long this takes depends on counts only, not on content.
    matched = False
    for candidate in _presented_signatures(signed.signatures):
        for wanted in expected:
            matched |= hmac.compare_digest(candidate, wanted)
    if not matched:
        raise UnauthenticatedError("no_matching_signature", NO_MATCH)


SecretLookup = Callable[[str], Sequence[bytes] | None]


class WebhookAuthenticator:
    """``WEBHOOK_SIGNATURE``: the request must be signed with a secret of the source its body names."""

    def __init__(
        self,
        secrets: SecretLookup,
        *,
        tolerance_seconds: int,
        max_body_bytes: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.secrets = secrets
        self.tolerance_seconds = tolerance_seconds
        self.max_body_bytes = max_body_bytes
        self.clock = clock

    def authenticate(self, headers: Mapping[str, str], body: bytes) -> Caller:
        """The verified source and webhook id, or :class:`UnauthenticatedError`."""
        if len(body) > self.max_body_bytes:
            # A 413 stays a 413: the size limit is public, and no secret is fetched for an oversize body.
            raise BodyTooLargeError.of(len(body), self.max_body_bytes)
        signed = read_signature_headers(headers, now=self.clock(), tolerance_seconds=self.tolerance_seconds)
        source = claimed_source(body)
        verify_signature(self.secrets(source) or (), signed, body)
        return Caller(source=source, webhook_id=signed.msg_id)


def _not_found(exc: BaseException | None) -> bool:
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code") in {"ResourceNotFoundException", "ParameterNotFound"}
    return False


class ParameterSecretStore:
    """Per-source secrets from Secrets Manager or SSM Parameter Store through Powertools Parameters.

    A source's value is fetched, checked for its kind (:func:`plutus.core.webhook_secrets.load_secrets`) and
    its usable keys cached here for ``max_age`` seconds: each load of a value holding an entry that is not a
    usable key logs one line (source, kind, positions and reasons, never a secret) and counts
    ``webhook_secret_invalid_total``; the entry is ignored, so a source with no usable key is answered like
    a source with none (401). Missing values are remembered for as long, so a flood of requests naming
    unknown sources costs one lookup per source and ``max_age``.
    """

    # Bounds the memory of each cache under a flood of distinct names.
    MAX_MISSING = 1024

    def __init__(
        self,
        provider: Any,
        prefix: str,
        max_age: int,
        *,
        decrypt: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.provider = provider
        self.prefix = prefix
        self.max_age = max_age
        self.options: dict[str, Any] = {"decrypt": True} if decrypt else {}
        self.clock = clock
        self._missing: dict[str, float] = {}
        self._loaded: dict[tuple[str, str], tuple[float, tuple[bytes, ...]]] = {}

    def forget(self) -> None:
        """Drop every cached secret and remembered miss: after a SnapStart restore none may outlive the
        environment that fetched it, and their timestamps are the snapshot's."""
        self._missing.clear()
        self._loaded.clear()
        self.provider.clear_cache()

    def __call__(self, source: str) -> tuple[bytes, ...]:
        """The usable keys of a Standard Webhooks producer ``source`` (none if it has none)."""
        return self.keys(source, "standard_webhooks")

    def keys(self, source: str, kind: ProviderKind) -> tuple[bytes, ...]:
        """The usable keys of ``source``, its secrets read as ``kind`` secrets (none if it has none)."""
        now = self.clock()
        cached = self._loaded.get((source, kind))
        if cached is not None and cached[0] > now:
            return cached[1]
        value = self._fetch(source, now)
        loaded = load_secrets(kind, value)
        if loaded.rejected:
            _report_rejected(source, kind, loaded)
        if value is not None:
            if len(self._loaded) >= self.MAX_MISSING:
                self._loaded.clear()
            self._loaded[(source, kind)] = (now + self.max_age, loaded.keys)
        return loaded.keys

    def _fetch(self, source: str, now: float) -> str | bytes | None:
        """The stored value of ``source``'s secrets, as fetched (bytes for a binary secret), or ``None``."""
        # Here: Powertools' parameters package imports boto3 and its providers, which only this mode uses.
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

        name = self.prefix + source
        if self._missing.get(name, 0.0) > now:
            return None
        try:
            # Fetched, not read from Powertools' cache: the checked keys are cached above, so each load is
            # one fetch and one check (and at most one log line).
            value = self.provider.get(name, max_age=self.max_age, force_fetch=True, **self.options)
        except GetParameterError as exc:
            cause = exc.__cause__ or exc.__context__
            if _not_found(cause):
                if len(self._missing) >= self.MAX_MISSING:
                    self._missing.clear()
                self._missing[name] = now + self.max_age
                return None
            if isinstance(cause, ClientError | BotoCoreError):
                raise cause from None  # answered 503 by the problem table, like any unavailable dependency
            raise
        return value if isinstance(value, bytes) else str(value or "")


def _report_rejected(source: str, kind: str, loaded: LoadedSecrets) -> None:
    """One log line and one metric per load of a value with unusable entries: where and why, no secret."""
    logger.warning(
        "webhook secrets ignored",
        extra={
            "source": source,
            "kind": kind,
            "rejected": [{"position": r.position, "reason": r.reason} for r in loaded.rejected],
            "usable": len(loaded.keys),
        },
    )
    count_invalid_secrets(source, len(loaded.rejected))


def build_secret_store(settings: Settings, client: Callable[[str], Any]) -> ParameterSecretStore:
    """The per-source secret store the settings name (composition root helper)."""
    from aws_lambda_powertools.utilities.parameters import SecretsProvider, SSMProvider

    return (
        ParameterSecretStore(
            SSMProvider(boto3_client=client("ssm")),
            settings.webhook_secret_prefix,
            settings.webhook_secret_max_age_seconds,
            decrypt=True,
        )
        if settings.webhook_secret_store == "SSM"
        else ParameterSecretStore(
            SecretsProvider(boto3_client=client("secretsmanager")),
            settings.webhook_secret_prefix,
            settings.webhook_secret_max_age_seconds,
        )
    )


def build_authenticator(
    settings: Settings, client: Callable[[str], Any], store: SecretLookup | None = None
) -> Authenticator:
    """The authenticator ``settings.auth_mode`` asks for (composition root helper); ``store``: the secret
    store to share with the provider webhook route (default: a new one)."""
    if settings.auth_mode == "IAM":
        return SigV4Verified()
    if settings.auth_mode != "WEBHOOK_SIGNATURE":
        return Unauthenticated()
    lookup = store or build_secret_store(settings, client)
    providers = frozenset(settings.webhook_sources)

    def first_party(source: str) -> Sequence[bytes] | None:
        # A provider source's secret is the provider's (Stripe, GitHub...): it signs only on its own route,
        # so /api/v1/ingest treats the source as unknown (401) and never parses that secret as whsec_.
        return None if source in providers else lookup(source)

    return WebhookAuthenticator(
        first_party,
        tolerance_seconds=settings.webhook_tolerance_seconds,
        max_body_bytes=settings.max_body_bytes,
    )


def with_body_limit(authenticator: Authenticator, max_body_bytes: int) -> Authenticator:
    """The same authenticator (same secret store and cache) with another body size limit (the batch route)."""
    if isinstance(authenticator, WebhookAuthenticator):
        return WebhookAuthenticator(
            authenticator.secrets,
            tolerance_seconds=authenticator.tolerance_seconds,
            max_body_bytes=max_body_bytes,
            clock=authenticator.clock,
        )
    return authenticator
