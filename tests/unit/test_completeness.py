"""Every registered event type has its model, a handler, a sample event under events/, and a test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from plutus.core.registry import Registration
from plutus.domains import PACKS, build_registry
from plutus.ingest.parsing import parse_ingest_body
from plutus_dev.cli.samples import EVENTS_DIR, render, sample_path
from tests.fakes import settings

TESTS = Path(__file__).resolve().parents[1]
REGISTRATIONS = build_registry().registrations


def _id(reg: Registration) -> str:
    return f"{reg.event_type}-v{reg.schema_version}"


def _test_sources() -> str:
    return "\n".join(p.read_text() for p in TESTS.rglob("test_*.py") if p.name != Path(__file__).name)


@pytest.mark.parametrize("registration", REGISTRATIONS, ids=_id)
def test_every_type_has_a_current_sample_event_that_ingest_accepts(registration: Registration) -> None:
    path = sample_path(registration)
    assert path.exists(), f"missing {path}; run `make samples`"
    assert path.read_text() == render(registration), f"{path} is stale; run `make samples`"
    event = json.loads(path.read_text())
    parsed = parse_ingest_body(event["body"].encode(), "application/json", None, settings(), build_registry())
    assert (parsed.event_type, parsed.schema_version) == (
        registration.event_type,
        registration.schema_version,
    )


@pytest.mark.parametrize("registration", REGISTRATIONS, ids=_id)
def test_every_type_has_a_handler_or_an_upcaster(registration: Registration) -> None:
    assert registration.handlers or registration.upcast, f"{_id(registration)} has neither"


@pytest.mark.parametrize("registration", REGISTRATIONS, ids=_id)
def test_every_type_is_exercised_by_a_test(registration: Registration) -> None:
    assert f'"{registration.event_type}"' in _test_sources(), f"no test sends {registration.event_type!r}"


def test_every_pack_exposes_a_router() -> None:
    for pack in PACKS:
        assert hasattr(pack, "router"), f"{pack.__name__} has no router"


def test_no_sample_is_left_for_a_type_that_no_longer_exists() -> None:
    expected = {sample_path(r).name for r in REGISTRATIONS} | {"ingest_seed.json", "consumer_batch.json"}
    stray = {p.name for p in EVENTS_DIR.glob("*.json")} - expected
    assert not stray, f"stale samples: {sorted(stray)}"
