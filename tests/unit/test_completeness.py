"""Every registered event type has its model, a handler, a current sample event under events/, and a test that
sends the sample (tests/integration/test_samples.py, judged by ``unsent``); and each of these checks fails on
a registry that lacks what it checks."""

from __future__ import annotations

import pkgutil
from typing import Any

import pytest
from pydantic import ConfigDict

import plutus.domains
from plutus.core.registry import EventContext, EventModel, Registration, Registry, Router
from plutus.domains import PACKS, build_registry, packs
from plutus_dev.cli.samples import EVENTS_DIR, sample_path
from tests.completeness import handling_gaps, key_of, model_gaps, name_of, sample_gaps, unsent

REGISTRY = build_registry()
REGISTRATIONS = REGISTRY.registrations
# What the sample-sending test covers when it passes: every (type, version) of the real registry.
SENT = {key_of(r) for r in REGISTRATIONS}


def _id(reg: Registration) -> str:
    return name_of(key_of(reg)).replace(" ", "-")


@pytest.mark.parametrize("registration", REGISTRATIONS, ids=_id)
def test_every_type_has_a_model_of_its_own_type_and_version_with_a_valid_example(
    registration: Registration,
) -> None:
    assert model_gaps(registration) == []


@pytest.mark.parametrize("registration", REGISTRATIONS, ids=_id)
def test_every_type_has_a_handler_or_an_upcaster_that_leads_to_one(registration: Registration) -> None:
    assert handling_gaps(REGISTRY, registration) == []


@pytest.mark.parametrize("registration", REGISTRATIONS, ids=_id)
def test_every_type_has_a_current_sample_event_that_ingest_reads_as_that_type(
    registration: Registration,
) -> None:
    assert sample_gaps(REGISTRY, registration) == []


def test_no_sample_is_left_for_a_type_that_no_longer_exists() -> None:
    expected = {sample_path(r).name for r in REGISTRATIONS} | {"ingest_seed.json", "consumer_batch.json"}
    stray = {p.name for p in EVENTS_DIR.glob("*.json")} - expected
    assert not stray, f"stale samples: {sorted(stray)}"


def test_every_pack_package_is_included_in_the_registry() -> None:
    # A pack written but never included (its one line in plutus/domains/__init__.py) is caught here.
    packages = {m.name for m in pkgutil.iter_modules(plutus.domains.__path__) if m.ispkg}
    assert packages == set(PACKS)
    assert set(REGISTRY.domains) == {pack.router.domain for pack in packs()} == set(PACKS)


# The checks fail when something is missing: a registry with one more router than the real one.


def _handle(event: Any, ctx: EventContext) -> None:
    return None


class UnsampledV1(EventModel):
    """A type with a model, an example and a handler, but no sample under events/."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"n": 1}]})
    event_type = "test_unsampled"
    schema_version = "1.0"
    n: int


class OrphanV1(EventModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"n": 1}]})
    event_type = "test_orphan"
    schema_version = "1.0"
    n: int


class OrphanV2(EventModel):
    """The upcast target, never registered with a handler."""

    event_type = "test_orphan"
    schema_version = "2.0"
    n: int


class NoExampleV1(EventModel):
    event_type = "test_no_example"
    schema_version = "1.0"


class BadExampleV1(EventModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"n": "not a number"}]})
    event_type = "test_bad_example"
    schema_version = "1.0"
    n: int


def _with(router: Router) -> Registry:
    """The real registry plus ``router``."""
    registry = build_registry()
    registry.include_router(router)
    return registry


def test_a_type_without_a_sample_is_missing_one_and_unsent() -> None:
    router = Router("test_extra")
    router.on(UnsampledV1)(_handle)
    registry = _with(router)
    [extra] = [r for r in registry.registrations if r.event_type == "test_unsampled"]

    assert model_gaps(extra) == [] and handling_gaps(registry, extra) == []
    assert sample_gaps(registry, extra) == [
        "test_unsampled v1.0: missing events/test_unsampled.json; run `make samples`"
    ]
    # The sample-sending test's final assertion fails: nothing it sends is this type
    assert unsent(registry, SENT) == ["test_unsampled v1.0"]
    assert unsent(REGISTRY, SENT) == []


def test_a_sample_that_is_not_what_make_samples_writes_is_stale() -> None:
    real = REGISTRY.lookup("ad_impression", "1.0")
    assert real is not None
    other_example = Registration("ad_impression", "1.0", UnsampledV1, real.handlers)

    assert sample_gaps(REGISTRY, other_example) == [
        "ad_impression v1.0: ad_impression.json is stale; run `make samples`"
    ]


def test_an_upcaster_to_a_version_nobody_registered_leads_nowhere() -> None:
    router = Router("test_extra")
    router.upcaster(OrphanV1, OrphanV2)(lambda payload: payload)
    registry = _with(router)
    orphan = registry.lookup("test_orphan", "1.0")
    assert orphan is not None

    assert handling_gaps(registry, orphan) == ["test_orphan v1.0: upcasts to v2.0, which is not registered"]


def test_a_registration_with_neither_handler_nor_upcaster_is_reported() -> None:
    bare = Registration("test_unsampled", "1.0", UnsampledV1, ())

    assert handling_gaps(REGISTRY, bare) == [
        "test_unsampled v1.0: test_unsampled v1.0 has neither a handler nor an upcaster"
    ]


def test_a_model_without_a_valid_example_of_its_own_type_is_reported() -> None:
    no_example = Registration("test_no_example", "1.0", NoExampleV1, (_handle,))
    bad_example = Registration("test_bad_example", "1.0", BadExampleV1, (_handle,))
    wrong_model = Registration("test_other", "1.0", UnsampledV1, (_handle,))

    assert model_gaps(no_example) == ["test_no_example v1.0: NoExampleV1 has no example payload"]
    [bad] = model_gaps(bad_example)
    assert bad.startswith("test_bad_example v1.0: BadExampleV1's example is invalid: ")
    assert model_gaps(wrong_model) == ["test_other v1.0: UnsampledV1 is test_unsampled v1.0"]
