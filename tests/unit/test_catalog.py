"""The registry imports a pack when one of its types first arrives, and answers the rest from the catalog:
the catalog is what the packs register (``make catalog`` writes it), a lazy registry answers as the eager one
does, and a pack that differs from its catalog entry is refused when it loads."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from plutus.core.env_settings import EnvSettings
from plutus.core.registry import (
    DuplicateRegistrationError,
    EventContext,
    EventModel,
    Listing,
    Registry,
    Router,
    StaleCatalogError,
)
from plutus.domains import PACKS, LazyPacks, build_eager_registry, build_registry
from plutus_dev.catalog import CATALOG_PATH, render


class CountingPacks(LazyPacks):
    """The real packs, counting which were imported through the registry."""

    def __init__(self) -> None:
        self.loaded: list[str] = []

    def router(self, domain: str) -> Router:
        self.loaded.append(domain)
        return super().router(domain)


def test_the_catalog_is_what_the_packs_register() -> None:
    assert CATALOG_PATH.read_text() == render(), "the packs changed: run `make catalog`"


def test_a_lazy_registry_answers_what_the_ingest_needs_at_init_without_importing_a_pack() -> None:
    packs = CountingPacks()
    lazy, eager = Registry(build_registry().default_handler, packs=packs), build_eager_registry()

    assert lazy.event_types == eager.event_types
    assert lazy.restricted_types() == eager.restricted_types()
    assert lazy.knows_type("card_swipe") and not lazy.knows_type("no_such_type")
    for event_type in eager.event_types:
        assert lazy.versions(event_type) == eager.versions(event_type)
    for reg in eager.registrations:
        key = (reg.event_type, reg.schema_version)
        assert lazy.ordering_key(*key) == eager.ordering_key(*key)
    assert {m.__name__ for m in lazy.settings_models} == {m.__name__ for m in eager.settings_models}
    assert packs.loaded == []


def test_a_type_imports_its_own_pack_once_on_first_lookup() -> None:
    packs = CountingPacks()
    registry = Registry(build_registry().default_handler, packs=packs)

    reg = registry.lookup("card_swipe", "1.0")
    assert reg is not None and reg.handlers
    assert registry.lookup("transfer_requested", "1.0") is not None
    assert registry.lookup("card_swipe", "9.9") is None  # an unknown version imports nothing
    assert packs.loaded == ["fintech"]


def test_every_pack_is_imported_for_the_whole_list() -> None:
    packs = CountingPacks()
    registry = Registry(build_registry().default_handler, packs=packs)

    keys = {(r.event_type, r.schema_version) for r in registry.registrations}
    assert keys == {(r.event_type, r.schema_version) for r in build_eager_registry().registrations}
    assert sorted(packs.loaded) == sorted(PACKS)
    assert set(registry.domains) == set(PACKS)


class SecretV1(EventModel):
    event_type = "test_secret"
    schema_version = "1.0"
    restricted = "money"
    n: int


def _handle(event: Any, ctx: EventContext) -> None:
    return None


class OnePack:
    """A catalog of one pack, ``test``, that registers ``SecretV1``."""

    def __init__(self, listing: Listing) -> None:
        self.listing = listing

    @property
    def catalog(self) -> Mapping[tuple[str, str], Listing]:
        return {("test_secret", "1.0"): self.listing}

    def router(self, domain: str) -> Router:
        router = Router("test")
        router.on(SecretV1)(_handle)
        return router

    def settings_models(self) -> list[type[EnvSettings]]:
        return []


def test_a_pack_whose_catalog_entry_is_stale_is_refused_when_it_loads() -> None:
    # Given a catalog that lists a restricted type as unrestricted (the policy would grant it by wildcard)
    registry = Registry(_handle, packs=OnePack(Listing("test", None, None)))
    assert registry.restricted_types() == {}
    # When its first event arrives, then the pack is refused rather than served against a wrong catalog
    with pytest.raises(StaleCatalogError):
        registry.lookup("test_secret", "1.0")
    with pytest.raises(StaleCatalogError):
        registry.resolve("test_secret", "1.0", {"n": 1})


def test_a_pack_that_matches_its_catalog_entry_is_served() -> None:
    registry = Registry(_handle, packs=OnePack(Listing("test", "money", None)))
    reg, parsed = registry.resolve("test_secret", "1.0", {"n": 1})
    assert reg.model is SecretV1 and parsed == SecretV1(n=1)


def test_another_router_cannot_take_a_type_the_catalog_gives_a_pack() -> None:
    registry = Registry(_handle, packs=OnePack(Listing("test", "money", None)))
    intruder = Router("intruder")
    intruder.on(SecretV1)(_handle)
    with pytest.raises(DuplicateRegistrationError):
        registry.include_router(intruder)
