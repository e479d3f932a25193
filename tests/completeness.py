"""What every registered (event type, schema version) must have: a model, a handler or an upcaster that
leads to one, a current sample under ``events/``, and a test that sends that sample.

Each check takes the registry it judges and returns what is missing (empty when complete), so the unit
tests can run it over the real registry and prove it fails on a registry with a gap in it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from plutus.core.errors import PlutusError
from plutus.core.registry import EventModel, Registration, Registry
from plutus.ingest.parsing import parse_ingest_body
from plutus_dev.cli.samples import EVENTS_DIR, example_payload, render, sample_path
from tests.fakes import settings

Key = tuple[str, str]


def key_of(registration: Registration) -> Key:
    """(event type, schema version)."""
    return registration.event_type, registration.schema_version


def name_of(key: Key) -> str:
    """How a (type, version) is named in a failure message."""
    return f"{key[0]} v{key[1]}"


def model_gaps(registration: Registration) -> list[str]:
    """The model is an ``EventModel`` of this (type, version) whose own example payload validates."""
    model = registration.model
    name = name_of(key_of(registration))
    if not (isinstance(model, type) and issubclass(model, EventModel)):
        return [f"{name}: {model!r} is not an EventModel"]
    if (model.event_type, model.schema_version) != key_of(registration):
        return [f"{name}: {model.__name__} is {model.event_type} v{model.schema_version}"]
    try:
        model.model_validate(example_payload(registration))
    except LookupError:
        return [f"{name}: {model.__name__} has no example payload"]
    except ValueError as exc:  # pydantic's ValidationError
        return [f"{name}: {model.__name__}'s example is invalid: {exc}"]
    return []


def handling_gaps(registry: Registry, registration: Registration) -> list[str]:
    """Handlers, or an upcaster whose chain ends at a registered version that has handlers."""
    name = name_of(key_of(registration))
    seen: set[str] = set()
    reg: Registration | None = registration
    while reg is not None and not reg.handlers:
        if reg.upcast is None or reg.current_version is None:
            return [f"{name}: {reg.event_type} v{reg.schema_version} has neither a handler nor an upcaster"]
        if reg.current_version in seen:
            return [f"{name}: upcast cycle through v{reg.current_version}"]
        seen.add(reg.current_version)
        target = registry.lookup(reg.event_type, reg.current_version)
        if target is None:
            return [f"{name}: upcasts to v{reg.current_version}, which is not registered"]
        reg = target
    return []


def sample_gaps(registry: Registry, registration: Registration) -> list[str]:
    """The sample exists, is what ``make samples`` writes today, and ingest reads it as this type."""
    path = sample_path(registration)
    name = name_of(key_of(registration))
    if not path.exists():
        return [f"{name}: missing {path.relative_to(EVENTS_DIR.parent)}; run `make samples`"]
    if path.read_text() != render(registration):
        return [f"{name}: {path.name} is stale; run `make samples`"]
    event = json.loads(path.read_text())
    body = event["body"].encode()
    # The samples are fixed: their times are judged at the receive time they claim, not at today's.
    received = datetime.fromtimestamp(event["requestContext"]["requestTimeEpoch"] / 1000, UTC)
    try:
        parsed = parse_ingest_body(body, "application/json", None, settings(), registry, received_at=received)
    except PlutusError as exc:
        return [f"{name}: ingest refuses {path.name}: {exc}"]
    if (parsed.event_type, parsed.schema_version) != key_of(registration):
        return [f"{name}: {path.name} is read as {parsed.event_type} v{parsed.schema_version}"]
    return []


def ingest_samples(events_dir: Path = EVENTS_DIR) -> list[Path]:
    """Every sample under ``events/`` that is an API Gateway request (the consumer's sample is not)."""
    return sorted(p for p in events_dir.glob("*.json") if "httpMethod" in json.loads(p.read_text()))


def unsent(registry: Registry, sent: Iterable[Key]) -> list[str]:
    """The registered (type, version)s whose sample no test sent, by name."""
    done = set(sent)
    return [name_of(key_of(r)) for r in registry.registrations if key_of(r) not in done]
