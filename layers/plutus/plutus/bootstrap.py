"""The composition root: what an execution environment needs, built once, in one place.

Entry points (``plutus.ingest.entry``, ``plutus.consumer.entry``, ``plutus.reads.entry``) ask :func:`root`
for their wiring; no other module caches settings, clients, registries or use cases. Each part is built on
first use, so a cold start pays only for what its function serves (the ingest function never builds the
FastAPI app). Tests and the embedded stack swap the whole root with :func:`reset`, handing in fakes or a test
registry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from plutus.core.pack_settings import PackSettings
from plutus.settings import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI

    from plutus.adapters.events_store import EventsRepository, Retention
    from plutus.adapters.payload_store import PayloadStore
    from plutus.consumer.fanout import FanOut
    from plutus.consumer.processor import Consumer
    from plutus.core.effects import StateReader
    from plutus.core.registry import Registry
    from plutus.ingest.auth import ParameterSecretStore
    from plutus.ingest.endpoints import BatchIngestEndpoint, IngestEndpoint
    from plutus.ingest.idempotent import Invocation
    from plutus.ingest.webhooks import ProviderWebhookEndpoint

Clients = Callable[[str], Any]


@dataclass(frozen=True)
class IngestWiring:
    """The ingest function's framework-free routes and the invocation they register the Lambda context on."""

    config: Invocation
    single: IngestEndpoint
    batch: BatchIngestEndpoint
    webhooks: ProviderWebhookEndpoint


class Root:
    """Everything one execution environment wires, each part built once on first use."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        clients: Clients | None = None,
        registry: Registry | None = None,
    ) -> None:
        # Settings are validated here, at init: a function deployed without its table names fails loudly.
        self.settings = settings if settings is not None else Settings.from_environment()
        if clients is None:
            from plutus.adapters.aws import Clients as Boto3Clients

            clients = Boto3Clients(self.settings)
        self.clients = clients
        self._registry = registry
        # What holds state that must not be shared by environments restored from one SnapStart snapshot.
        self.renewals: list[Callable[[], None]] = []
        if hasattr(clients, "renew"):
            self.renewals.append(clients.renew)

    @cached_property
    def registry(self) -> Registry:
        """Every pack's registrations (or the test registry handed in)."""
        if self._registry is not None:
            return self._registry
        from plutus.domains import build_registry

        return build_registry()

    @cached_property
    def events(self) -> EventsRepository:
        """The events table, with the state table the consumer commits effects to."""
        from plutus.adapters.events_store import EventsRepository

        return EventsRepository(
            self.clients("dynamodb"), self.settings.events_table, self.settings.state_table, self.retention
        )

    @cached_property
    def retention(self) -> Retention:
        """How long event records live (their TTL), from the settings."""
        from plutus.adapters.events_store import DAY_SECONDS, Retention

        return Retention(
            self.settings.event_retention_days * DAY_SECONDS,
            self.settings.failed_retention_days * DAY_SECONDS,
        )

    @cached_property
    def payloads(self) -> PayloadStore | None:
        """Where payloads too large for a queued message are stored (``None`` when no bucket is set).

        Its S3 client is built on the first large payload, not here: small events never pay for it.
        """
        bucket = self.settings.payload_bucket
        if bucket is None:
            return None
        from plutus.adapters.payload_store import PayloadStore

        return PayloadStore(lambda: self.clients("s3"), bucket)

    @cached_property
    def state(self) -> StateReader:
        """Reads of the state table (handlers and pack read endpoints)."""
        from plutus.adapters.state_store import DynamoStateReader

        return DynamoStateReader(self.clients("dynamodb"), self.settings.state_table)

    @cached_property
    def packs(self) -> PackSettings:
        """Every pack's own settings (``PLUTUS_<PACK>_*``), validated together on first use."""
        return PackSettings.load(self.registry.settings_models)

    @cached_property
    def secret_store(self) -> ParameterSecretStore:
        """Per-source webhook secrets (Secrets Manager or SSM under the prefix), cached for their max age."""
        from plutus.ingest.auth import build_secret_store

        return build_secret_store(self.settings, self.clients)

    @cached_property
    def ingest(self) -> IngestWiring:
        """The two ingest routes, their idempotent use cases, the producer authenticator and authorizer."""
        from plutus.adapters.idempotency_store import IdempotencyStore
        from plutus.adapters.queue import EventQueue
        from plutus.ingest.accept import build_accept_event
        from plutus.ingest.accept_batch import BatchIngest
        from plutus.ingest.auth import build_authenticator, with_body_limit
        from plutus.ingest.endpoints import BatchIngestEndpoint, IngestEndpoint
        from plutus.ingest.producers import ProducerAuthorizer
        from plutus.ingest.webhooks import ProviderWebhookEndpoint

        settings = self.settings
        dynamodb, sqs = self.clients("dynamodb"), self.clients("sqs")
        accept_event, config = build_accept_event(settings, dynamodb, sqs, self.retention, self.payloads)

        store = IdempotencyStore(dynamodb, settings.events_table, self.retention)
        queue = EventQueue(sqs, settings.queue_url)
        # An in-progress claim must not outlive the invocation that holds it.
        batch = BatchIngest(settings, store, queue, remaining_ms=config.remaining_ms, payloads=self.payloads)
        # One secret store (one cache) for the Standard Webhooks producers and the provider webhook route.
        signed = settings.auth_mode == "WEBHOOK_SIGNATURE" or bool(settings.webhook_sources)
        secrets = self.secret_store if signed else None
        if secrets is not None:
            self.renewals.append(secrets.forget)  # cached webhook secrets
        authenticator = build_authenticator(settings, self.clients, secrets)
        # Who may send what (ProducerPolicy), checked against the registry's restricted types at init.
        authorizer = ProducerAuthorizer.for_settings(settings, self.registry)
        return IngestWiring(
            config,
            IngestEndpoint(settings, self.registry, accept_event, authenticator, authorizer),
            BatchIngestEndpoint(
                settings,
                self.registry,
                batch,
                with_body_limit(authenticator, settings.max_batch_body_bytes),
                authorizer,
            ),
            ProviderWebhookEndpoint(
                settings, self.registry, accept_event, secrets.keys if secrets else _no_secrets, authorizer
            ),
        )

    @cached_property
    def consumer(self) -> Consumer:
        """The consumer use case."""
        from plutus.adapters.dead_letters import DeadLetterQueue
        from plutus.consumer.processor import Consumer

        url = self.settings.dead_letter_queue_url
        dead_letters = DeadLetterQueue(self.clients("sqs"), url) if url else None
        return Consumer(
            self.settings,
            self.registry,
            self.events,
            self.state,
            dead_letters,
            self.packs,
            fanout=self.fanout,
            payloads=self.payloads,
        )

    @cached_property
    def fanout(self) -> FanOut | None:
        """The consumer's fan-out to the EventBridge bus, or ``None`` when no bus is configured."""
        bus = self.settings.fanout_bus
        if not bus:
            return None
        from plutus.adapters.fanout import EventBridgePublisher
        from plutus.consumer.fanout import FanOut

        publisher = EventBridgePublisher(self.clients("events"), bus)
        return FanOut(publisher, self.events, include_payload=self.settings.fanout_include_payload)

    @cached_property
    def reads_app(self) -> FastAPI:
        """The read API (event status, pack reads, docs): the reads function's. Its OpenAPI document also
        describes the ingest routes, which it does not serve (and has no wiring or permission for)."""
        from plutus.ingest.app import ingest_router
        from plutus.reads.app import create_reads_app

        return create_reads_app(
            self.settings, self.events, self.state, self.packs, documented=ingest_router().routes
        )

    @cached_property
    def reads_asgi(self) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
        """The read API behind Mangum, for API Gateway events, under the caller's stage prefix."""
        from mangum import Mangum

        from plutus.reads.stage import StageRoot

        handler: Callable[[dict[str, Any], Any], dict[str, Any]] = Mangum(
            StageRoot(self.reads_app), lifespan="off"
        )
        return handler

    def renew(self) -> None:
        """Rebuild what environments restored from one SnapStart snapshot must not share (see
        :mod:`plutus.snapstart`): AWS clients with their connections and credentials, cached secrets."""
        for renewal in self.renewals:
            renewal()


def _no_secrets(source: str, kind: str) -> tuple[bytes, ...]:
    # No provider source is configured: the webhook route answers 404 before it would ask.
    return ()


_root: Root | None = None


def root() -> Root:
    """The root of this execution environment, built on first call (and its SnapStart hooks registered)."""
    global _root
    if _root is None:
        from plutus import snapstart

        _root = Root()
        snapstart.register(_root)
    return _root


def reset(new: Root | None = None) -> None:
    """Replace the root (``None``: the next :func:`root` builds a fresh one from the environment)."""
    global _root
    _root = new
