"""Producer authorization at the ingest edge: the policy (``plutus.core.policy``) applied to who is calling.

Authentication (``plutus.ingest.auth``) says who the caller is; this says what that caller may send. Both
ingest routes ask :meth:`ProducerAuthorizer.authorize` for every event after validating it and before
anything is stored or queued; a refusal is a 403 problem (one per item in a batch).

Per ``AuthMode``:

- ``WEBHOOK_SIGNATURE``: the source is the one whose secret verified the signature; it may send the types
  the policy grants it.
- ``IAM``: the caller is the principal API Gateway verified (``requestContext.identity.userArn``); it may
  write the sources the policy maps it to, and each of those sources the types the policy grants it. So a
  principal can neither send as another producer nor claim another producer's idempotency keys.
- ``NONE``: nobody is authenticated, so a policy can only hold a claimed source to its types (a guard
  against mistakes, not against an attacker, who can claim any source). Without a policy, NONE accepts every
  source and type: a mode for development and for a trusted gateway in front, never for the internet.

No policy in ``WEBHOOK_SIGNATURE`` or ``IAM`` mode refuses everything: deny by default.
"""

from __future__ import annotations

from collections.abc import Mapping

from plutus.core.envelope import IngestRequest
from plutus.core.errors import ForbiddenEventTypeError, ForbiddenSourceError
from plutus.core.policy import UNTYPED, ProducerPolicy
from plutus.core.registry import Registry
from plutus.ingest.auth import Caller
from plutus.observability import logger
from plutus.settings import Settings


class ProducerAuthorizer:
    """Whether a caller may send one event; raises a 403 error if not."""

    def __init__(
        self,
        mode: str,
        policy: ProducerPolicy | None,
        restricted: Mapping[str, str],
        provider_sources: frozenset[str] = frozenset(),
    ) -> None:
        self.mode = mode
        # Sources proven only by a provider's signature on /api/v1/webhooks/{source}: never first-party.
        self.provider_sources = provider_sources
        self.open = mode == "NONE" and policy is None
        self.policy = policy if policy is not None else ProducerPolicy()
        self.policy.check_restricted(restricted)
        self.restricted = dict(restricted)

    @classmethod
    def for_settings(cls, settings: Settings, registry: Registry) -> ProducerAuthorizer:
        """The authorizer of the settings' AuthMode and ProducerPolicy, over the registry's types."""
        authorizer = cls(
            settings.auth_mode,
            settings.producer_policy,
            registry.restricted_types(),
            frozenset(settings.webhook_sources),
        )
        unknown = authorizer.policy.unknown_types(registry.event_types)
        if unknown and not settings.allow_unregistered_types:
            logger.warning("ProducerPolicy names unregistered event types", extra={"patterns": unknown})
        if authorizer.open:
            logger.warning("AuthMode NONE, no ProducerPolicy: any source may send any event type (dev only)")
        return authorizer

    def authorize(self, caller: Caller, source: str, event_type: str | None) -> None:
        """Pass, or raise :class:`ForbiddenSourceError` / :class:`ForbiddenEventTypeError`."""
        if source in self.provider_sources:
            # In every AuthMode: a provider source's events (and its provider ids as keys) come only from the
            # webhook route, where the provider's signature proves them, never from a first-party caller.
            self._refuse("provider_source", source, event_type)
            raise ForbiddenSourceError(source)
        if self.open:
            return
        if self.mode == "IAM":
            if caller.principal is None or not self.policy.may_write(caller.principal, source):
                self._refuse("forbidden_source", source, event_type)
                raise ForbiddenSourceError(source)
        elif self.mode == "WEBHOOK_SIGNATURE" and caller.source != source:
            # The authenticator already ties a signed body to one source; this keeps that true if it changes.
            self._refuse("forbidden_source", source, event_type)
            raise ForbiddenSourceError(source)
        if not self.policy.may_send(source, event_type, self.restricted):
            self._refuse("forbidden_type", source, event_type)
            raise ForbiddenEventTypeError(source, event_type)

    def authorize_provider(self, request: IngestRequest) -> None:
        """The provider webhook route, in every AuthMode: the source is the one whose provider secret verified
        the request's signature (no IAM principal sends it), so only its types are checked."""
        if self.open:
            return
        if not self.policy.may_send(request.source, request.event_type, self.restricted):
            self._refuse("forbidden_type", request.source, request.event_type)
            raise ForbiddenEventTypeError(request.source, request.event_type)

    def authorize_request(self, caller: Caller, request: IngestRequest) -> None:
        """:meth:`authorize` for a validated envelope (the parsing hook)."""
        self.authorize(caller, request.source, request.event_type)

    @staticmethod
    def _refuse(reason: str, source: str, event_type: str | None) -> None:
        # Names only: never the payload. Sources and types are bounded identifiers, not personal data.
        logger.warning(
            "event refused by the producer policy",
            extra={"reason": reason, "source": source[:128], "event_type": event_type or UNTYPED},
        )
