"""Every sample under events/ goes through the real ingest handler, as API Gateway sends it, and through the
real consumer, to PROCESSED; what was processed covers every registered (type, version)."""

from __future__ import annotations

import json
from pathlib import Path

from plutus.domains import build_registry
from tests.completeness import Key, ingest_samples, unsent
from tests.integration.harness import Harness


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
