"""The registry refuses duplicates and upcasts older schema versions."""

from __future__ import annotations

from typing import Any

import pytest

from plutus.core.registry import DuplicateRegistrationError, EventContext, EventModel, Registry, Router
from plutus.domains import default


class ThingV1(EventModel):
    event_type = "thing_happened"
    schema_version = "1.0"
    amount_cents: int


class ThingV2(EventModel):
    event_type = "thing_happened"
    schema_version = "2.0"
    amount: float


def _handle(event: Any, ctx: EventContext) -> None:
    return None


def test_registering_one_type_and_version_twice_raises() -> None:
    router = Router("a")
    router.on(ThingV2)(_handle)
    other = Router("b")
    other.on(ThingV2)(_handle)
    registry = Registry(default.handle_record_receipt)
    registry.include_router(router)
    with pytest.raises(DuplicateRegistrationError):
        registry.include_router(other)


def test_two_models_for_one_type_and_version_in_one_router_raise() -> None:
    class Clash(EventModel):
        event_type = "thing_happened"
        schema_version = "2.0"

    router = Router("a")
    router.on(ThingV2)(_handle)
    with pytest.raises(DuplicateRegistrationError):
        router.on(Clash)(_handle)


def test_older_versions_are_upcast_to_the_current_model() -> None:
    router = Router("things")
    router.on(ThingV2)(_handle)

    @router.upcaster(ThingV1, ThingV2)
    def upcast_thing_v1_v2(payload: dict[str, Any]) -> dict[str, Any]:
        return {"amount": payload["amount_cents"] / 100}

    registry = Registry(default.handle_record_receipt)
    registry.include_router(router)
    registration, parsed = registry.resolve("thing_happened", "1.0", {"amount_cents": 250})
    assert registration.schema_version == "2.0"
    assert registration.handlers == (_handle,)
    assert isinstance(parsed, ThingV2) and parsed.amount == 2.5
    assert registry.versions("thing_happened") == ["1.0", "2.0"]
