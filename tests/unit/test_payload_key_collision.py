"""Security review (2026-12-01): a provider event's id does not cover its body, so two deliveries of one
provider event (Stripe re-renders ``pending_webhooks`` at each attempt) share one event id and therefore one
payload object, ``payloads/<event_id>.json``. A second store (an ingest retried after its claim was deleted,
or a redelivery after the idempotency record expired) overwrites the object the first pointer message names,
and that message then fails its digest check for good. Fails today."""

from __future__ import annotations

from typing import Any

from plutus.core.envelope import IngestRequest
from plutus.domains import build_registry
from plutus.ingest.accept import queued_message
from plutus.ingest.webhooks import provider_command
from tests.fakes import settings
from tests.unit.test_payloads import RECEIVED_AT, _store


def _stripe_delivery(pending_webhooks: int) -> Any:
    request = IngestRequest(
        source="stripe",
        schema_version="1.0",
        idempotency_key="evt_1",
        event_type="stripe.customer.updated",
        payload={"id": "evt_1", "pending_webhooks": pending_webhooks, "blob": "x" * 5_000},
    )
    return provider_command(request, settings(), build_registry())


def test_two_renderings_of_one_provider_event_never_overwrite_each_others_stored_payload() -> None:
    store, _ = _store()
    limits = settings(inline_message_max_bytes=1_024)
    first, second = _stripe_delivery(1), _stripe_delivery(2)
    assert first.event_id == second.event_id  # by design: a redelivery is the same event

    out1 = queued_message(first, RECEIVED_AT, limits, store)
    out1.store(store)
    out2 = queued_message(second, RECEIVED_AT, limits, store)
    out2.store(store)

    from plutus.core.payloads import parse_message

    # The first message (already on the queue) must still resolve to the payload it was sent with.
    assert store.resolve(parse_message(out1.body)).payload["pending_webhooks"] == 1
