"""Sample events under ``events/``: one API Gateway event per registered type, for ``sam local invoke -e``.

Each model carries its example payload (``model_config["json_schema_extra"]["examples"][0]``); this module
renders it as the event API Gateway would send to IngestFunction. ``make samples`` rewrites them all, and the
registry completeness test fails when a file is missing or stale.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from plutus.core.registry import Registration
from plutus_dev.emulator.apigw import build_event
from plutus_dev.emulator.template import ROOT

EVENTS_DIR = ROOT / "events"
SAMPLE_RECEIVED_MS = 1795737600000


def example_payload(registration: Registration) -> dict[str, Any]:
    """The first example of the registration's model."""
    extra = registration.model.model_config.get("json_schema_extra") or {}
    examples = extra.get("examples") if isinstance(extra, dict) else None
    if not examples:
        raise LookupError(f"{registration.model.__name__} has no example payload")
    return dict(examples[0])


def sample_path(registration: Registration) -> Path:
    """Where the sample of one (type, version) lives."""
    suffix = "" if registration.current_version is None else f".v{registration.schema_version}"
    return EVENTS_DIR / f"{registration.event_type}{suffix}.json"


def sample_source(registration: Registration) -> str:
    """The source a sample event names (``payment_completed`` comes from ``payment_service``; a provider's
    namespaced type from the provider: ``stripe.charge.refunded`` from ``stripe``)."""
    if "." in registration.event_type:
        return registration.event_type.split(".")[0]
    return f"{registration.event_type.split('_')[0]}_service"


def sample_policy() -> dict[str, Any]:
    """A ProducerPolicy that lets each sample's source send its type, and ``payment_service`` untyped
    events too (the README's first event, ``events/ingest_seed.json``): what the samples need, no more."""
    from plutus.core.policy import UNTYPED
    from plutus.domains import build_registry

    sources: dict[str, list[str]] = {"payment_service": [UNTYPED]}
    for registration in build_registry().registrations:
        types = sources.setdefault(sample_source(registration), [])
        if registration.event_type not in types:
            types.append(registration.event_type)
    return {"sources": sources}


def render(registration: Registration) -> str:
    """The sample event's JSON text."""
    body = {
        "source": sample_source(registration),
        "schema_version": registration.schema_version,
        "event_type": registration.event_type,
        "idempotency_key": f"sample_{registration.event_type}_{registration.schema_version}",
        "payload": example_payload(registration),
    }
    # As API Gateway sends it from the execute-api URL, whose path starts with the stage.
    event = build_event(
        "POST", "/api/v1/ingest", {"Content-Type": "application/json"}, b"", "127.0.0.1", base_path="/v1"
    )
    event["body"] = json.dumps(body)
    event["isBase64Encoded"] = False
    event["requestContext"]["requestId"] = f"sample-{registration.event_type}"
    # 2026-11-27T00:00:00Z: every example's times lie in the event-time window around it (core/times.py).
    # The samples are fixed, so ingest refuses them once that window has passed; tests judge them at this
    # time.
    event["requestContext"]["requestTimeEpoch"] = SAMPLE_RECEIVED_MS
    return json.dumps(event, indent=2, sort_keys=True) + "\n"


# Provider webhook samples (events/webhooks/): each provider type's example, as the provider sends it to
# POST /api/v1/webhooks/<provider>, signed with this published, test-only secret at SAMPLE_RECEIVED_MS. The
# signature's timestamp is fixed, so a stack refuses them as stale unless its clock is set to that time (the
# tests do); to try one by hand, sign a fresh copy (docs/providers.md).
WEBHOOK_DIR = EVENTS_DIR / "webhooks"
SAMPLE_WEBHOOK_SECRET = "whsec_plutus_sample_secret_not_for_production"
WEBHOOK_PROVIDERS = ("stripe",)


def webhook_sample_path(registration: Registration) -> Path:
    """Where the provider webhook sample of a provider type lives."""
    return WEBHOOK_DIR / f"{registration.event_type}.json"


def render_webhook(registration: Registration) -> str:
    """A provider type's example as the API Gateway event of its signed webhook (Stripe's scheme)."""
    import hashlib
    import hmac

    provider = registration.event_type.split(".")[0]
    body = json.dumps(example_payload(registration), indent=2)
    at = SAMPLE_RECEIVED_MS // 1000
    digest = hmac.new(SAMPLE_WEBHOOK_SECRET.encode(), f"{at}.{body}".encode(), hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json; charset=utf-8", "Stripe-Signature": f"t={at},v1={digest}"}
    event = build_event(
        "POST",
        f"/api/v1/webhooks/{provider}",
        headers,
        b"",
        "127.0.0.1",
        resource="/api/v1/webhooks/{source}",
        path_parameters={"source": provider},
        base_path="/v1",
    )
    event["body"] = body
    event["isBase64Encoded"] = False
    event["requestContext"]["requestId"] = f"sample-webhook-{registration.event_type}"
    event["requestContext"]["requestTimeEpoch"] = SAMPLE_RECEIVED_MS
    return json.dumps(event, indent=2, sort_keys=True) + "\n"


def main() -> None:
    """Write every registered type's sample, and the provider webhook samples."""
    from plutus.domains import build_registry

    for registration in build_registry().registrations:
        path = sample_path(registration)
        path.write_text(render(registration))
        print(f"wrote {path.relative_to(ROOT)}")
        if registration.event_type.split(".")[0] in WEBHOOK_PROVIDERS:
            hook = webhook_sample_path(registration)
            hook.parent.mkdir(exist_ok=True)
            hook.write_text(render_webhook(registration))
            print(f"wrote {hook.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
