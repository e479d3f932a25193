"""Every sample under events/ goes through the real ingest handler, as API Gateway sends it, and through the
real consumer, to PROCESSED; what was processed covers every registered (type, version)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from plutus.domains import build_registry
from plutus_dev.emulator.resources import Emulator
from tests.completeness import Key, ingest_samples, unsent
from tests.integration.harness import Harness, harness


@pytest.fixture
def stack(emulator: Emulator) -> Iterator[Harness]:
    """The samples are fixed files dated around 2026-11-26, sent verbatim: a stack that accepts event times
    up to ten years old (by default ingest refuses them after 7 days; see plutus/core/times.py)."""
    environment = {"PLUTUS_EVENT_TIME_MAX_PAST_SECONDS": str(10 * 366 * 86_400)}
    with harness(emulator.url, parameters={"MaxReceiveCount": "3"}, environment=environment) as h:
        yield h


def test_every_sample_is_accepted_processed_and_together_they_cover_the_registry(stack: Harness) -> None:
    # Given every ingest sample, sent verbatim (the API Gateway event `sam local invoke -e` would use)
    accepted: dict[str, Path] = {}
    for path in ingest_samples():
        status, result, _ = stack.ingest.invoke(json.loads(path.read_text()))
        assert status == "ok" and result["statusCode"] == 202, (path.name, result)
        accepted[json.loads(result["body"])["event_id"]] = path

    # When the consumer drains the queue
    stack.drain()

    # Then each one is PROCESSED, and the record of what was processed names every registration
    sent: set[Key] = set()
    for event_id, path in accepted.items():
        view = stack.get_event(event_id).json()
        assert view["status"] == "PROCESSED", (path.name, view)
        if view["event_type"] is not None:
            sent.add((view["event_type"], view["schema_version"]))
    assert len(accepted) == len(ingest_samples())
    assert unsent(build_registry(), sent) == []
