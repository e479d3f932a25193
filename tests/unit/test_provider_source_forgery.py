"""Security review (2026-12-01): a provider source (``PLUTUS_WEBHOOK_SOURCES``) is proven only by its
provider's signature on ``POST /api/v1/webhooks/{source}``. On ``/api/v1/ingest`` an ``IAM`` principal mapped
to ``"*"`` (any source), or anyone in ``NONE`` mode, could otherwise name the source ``stripe`` and send the
money-moving ``stripe.charge.refunded`` the policy grants the webhook route, with a payload of its choosing
and
no Stripe signature (and pre-claim the ``evt_...`` key of a future genuine delivery)."""

from __future__ import annotations

import pytest

from plutus.core.errors import ForbiddenSourceError
from plutus.core.policy import ProducerPolicy
from plutus.domains import build_registry
from plutus.ingest.auth import Caller
from plutus.ingest.producers import ProducerAuthorizer
from tests.fakes import settings

OPS = "arn:aws:iam::123456789012:role/ops"
POLICY = {"sources": {"stripe": ["stripe.charge.refunded"]}, "principals": {OPS: ["*"]}}


@pytest.mark.parametrize("mode", ["IAM", "NONE"])
def test_a_provider_source_is_never_accepted_from_the_first_party_ingest_route(mode: str) -> None:
    config = settings(
        auth_mode=mode,
        producer_policy=ProducerPolicy.model_validate(POLICY),
        webhook_sources={"stripe": {"kind": "stripe"}},
    )
    authorizer = ProducerAuthorizer.for_settings(config, build_registry())

    # The webhook route (signature verified) keeps its grant; the first-party route never gets it.
    with pytest.raises(ForbiddenSourceError):
        authorizer.authorize(Caller(principal=OPS), "stripe", "stripe.charge.refunded")


def test_the_provider_route_keeps_its_grant() -> None:
    from plutus.core.envelope import IngestRequest

    config = settings(
        auth_mode="IAM",
        producer_policy=ProducerPolicy.model_validate(POLICY),
        webhook_sources={"stripe": {"kind": "stripe"}},
    )
    authorizer = ProducerAuthorizer.for_settings(config, build_registry())
    authorizer.authorize_provider(
        IngestRequest(
            source="stripe",
            schema_version="1.0",
            idempotency_key="evt_1",
            event_type="stripe.charge.refunded",
            payload={},
        )
    )
