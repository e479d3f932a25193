"""``plutus send <sample>`` works whenever it is sent: the fixed samples' times are moved on to now."""

from __future__ import annotations

import json

import pytest

from plutus.domains import build_registry
from plutus.ingest.parsing import parse_ingest_body
from plutus_dev.cli.send import load, redated
from tests.fakes import settings


@pytest.mark.parametrize(
    "name", ["heart_rate_reading", "kyc_document_uploaded", "package_scanned", "gps_location_update"]
)
def test_a_sample_loaded_by_name_is_accepted_today(name: str) -> None:
    body = load(name)
    parsed = parse_ingest_body(body.encode(), "application/json", None, settings(), build_registry())
    assert parsed.event_type == name


def test_redating_keeps_offsets_and_leaves_other_fields_alone() -> None:
    body = json.dumps(
        {"payload": {"occurred_at": "2026-11-26T17:05:10+03:00", "note": "2026-11-26T00:00:00Z"}}
    )
    moved = json.loads(redated(body, 1795737600000))["payload"]
    assert moved["occurred_at"].endswith("+03:00") and moved["occurred_at"] != "2026-11-26T17:05:10+03:00"
    assert moved["note"] == "2026-11-26T00:00:00Z"
    assert redated(body, None) == body
