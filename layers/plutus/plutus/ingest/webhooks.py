"""``POST /api/v1/webhooks/{source}``: a provider's own request (Stripe, GitHub, Shopify, Slack, Standard
Webhooks, generic HMAC), verified by its provider's signature and ingested through the same idempotent path as
``/api/v1/ingest``.

Open at API Gateway in every ``AuthMode`` (a provider cannot sign SigV4), closed here, deny by default:

1. a source not configured in ``PLUTUS_WEBHOOK_SOURCES`` is a 404, before any secret is fetched;
2. the raw body is verified against the source's secrets (``plutus.ingest.providers``): a missing, bad,
   stale or wrong-secret signature, or a source without a usable stored secret (none stored, or none that
   is a valid key for its kind: logged and counted for the operator at load), is a 401 with nothing stored;
3. the verified JSON becomes an envelope: the source from the path, the provider's delivery or event id as
   the idempotency key, the provider's event type under the source's namespace (``stripe.charge.refunded``),
   the whole provider body as the payload;
4. from there it is ``/api/v1/ingest``: the ProducerPolicy, the payload models, the same Powertools dedupe,
   statuses (202 new, 200 replayed), metrics and ``{"event_id"}`` reply. One difference: the provider's id
   names the event, so a redelivery is a replay even if the provider re-rendered its body
   (:func:`provider_command`).

Provider types nobody registered are accepted and stored (the default handler gives them a receipt):
providers send many types, and answering 4xx to any of them would make the provider retry and, in the end,
disable the endpoint. Which types a source may send is still the ProducerPolicy's call (a provider's
money-moving types, registered by a pack, are granted by exact name only).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence

from plutus.core.envelope import IngestRequest, IngestResult, canonical_json, derive_event_id
from plutus.core.errors import (
    BodyTooLargeError,
    ForbiddenEventTypeError,
    ResourceNotFoundError,
    UnauthenticatedError,
)
from plutus.core.providers import ProviderKind
from plutus.core.registry import Registry
from plutus.ingest import providers
from plutus.ingest.accept import IngestCommand
from plutus.ingest.auth import SOURCE_NAME
from plutus.ingest.endpoints import _check_declared_length, _command, _measured, accept_and_reply
from plutus.ingest.http import HttpRequest, Reply
from plutus.ingest.parsing import decode_json_body, validate_event
from plutus.ingest.producers import ProducerAuthorizer
from plutus.observability import logger
from plutus.observability.telemetry import INGEST_LATENCY, INGEST_REQUESTS
from plutus.settings import Settings

WEBHOOKS_PATH = "/api/v1/webhooks/{source}"
# The payload is the provider's own document; its shape is versioned by the provider (Stripe's api_version).
PROVIDER_SCHEMA_VERSION = "1.0"

# The usable keys of a source, its stored secrets read as its kind's (ParameterSecretStore.keys).
SourceKeys = Callable[[str, ProviderKind], Sequence[bytes]]


class ProviderWebhookEndpoint:
    """``POST /api/v1/webhooks/{source}``: 202 when new, 200 (``Idempotent-Replayed: true``) for a redelivery,
    401 for a bad signature, 404 for a source not configured."""

    method = "POST"
    path = WEBHOOKS_PATH

    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        accept_event: Callable[..., IngestResult],
        secrets: SourceKeys,
        authorizer: ProducerAuthorizer,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        # Unregistered provider types are stored, whatever PLUTUS_ALLOW_UNREGISTERED_TYPES says for producers.
        self.parse_settings = settings.model_copy(update={"allow_unregistered_types": True})
        self.registry = registry
        self.accept_event = accept_event
        self.secrets = secrets
        self.authorizer = authorizer
        self.clock = clock

    def __call__(self, request: HttpRequest) -> Reply:
        """Answer one request; never raises."""
        return _measured(self._handle, request, self.path, INGEST_REQUESTS, INGEST_LATENCY)

    def _handle(self, request: HttpRequest) -> Reply:
        name = request.path_params.get("source", "")
        source = self.settings.webhook_sources.get(name) if SOURCE_NAME.match(name) else None
        if source is None:
            # Same answer for a malformed and an unconfigured name; the name is not echoed.
            raise ResourceNotFoundError("no webhook source of this name is configured")
        limit = self.settings.max_body_bytes
        _check_declared_length(request, limit)
        if len(request.body) > limit:
            raise BodyTooLargeError(f"body is {len(request.body)} bytes; the limit is {limit}")
        try:
            # The raw bytes as they arrived: nothing is parsed before the signature is checked.
            providers.verify(
                source,
                self.secrets(name, source.kind),
                request.headers,
                request.body,
                now=self.clock(),
                tolerance_seconds=self.settings.webhook_tolerance_seconds,
            )
        except UnauthenticatedError as exc:
            logger.warning("webhook not authenticated", extra={"reason": exc.reason, "kind": source.kind})
            raise
        data = decode_json_body(request.body, request.headers.get("content-type"), limit)
        delivery = providers.read_delivery(source, request.headers, data, request.body)
        if isinstance(delivery, providers.Challenge):
            # Slack's url_verification: signed, answered, nothing stored.
            return Reply(200, {"challenge": delivery.challenge})
        if not delivery.type_signed and delivery.event_type in self.registry.restricted_types():
            # The type came from an unsigned header: a captured body could be re-posted under it.
            logger.warning(
                "webhook type not signed", extra={"kind": source.kind, "event_type": delivery.event_type}
            )
            raise ForbiddenEventTypeError(name, delivery.event_type)
        envelope = {
            "source": name,
            "schema_version": PROVIDER_SCHEMA_VERSION,
            "idempotency_key": delivery.idempotency_key,
            "event_type": delivery.event_type,
            "payload": data,
        }
        parsed = validate_event(
            envelope, self.parse_settings, self.registry, authorize=self.authorizer.authorize_provider
        )
        return accept_and_reply(self.accept_event, provider_command(parsed, self.settings, self.registry))


def provider_command(request: IngestRequest, settings: Settings, registry: Registry) -> IngestCommand:
    """The accept command of a provider event, whose content digest covers its type and the provider's id,
    not the body.

    The provider's delivery or event id names the event: a redelivery whose body differs only in the
    provider's bookkeeping (Stripe renders ``pending_webhooks`` at each attempt) is that event again, answered
    as a replay, never a ``422`` that would have the provider retry it until it disables the endpoint.
    """
    digest = hashlib.sha256(
        canonical_json(
            {
                "event_type": request.event_type,
                "schema_version": request.schema_version,
                "provider_id": request.idempotency_key,
            }
        ).encode("ascii")
    ).hexdigest()
    event_id = derive_event_id(request.source, request.idempotency_key)
    # The command /api/v1/ingest builds (its FIFO message group included), with the provider's digest.
    return _command(request, settings, registry).model_copy(update={"digest": digest, "event_id": event_id})
