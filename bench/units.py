"""DynamoDB units and calls per event, ingest + consumer, default handler, as DynamoDB bills them.

One source of truth for units: the capacity meter (:class:`bench.capacity.Meter`, botocore hooks on the
functions' own client) prices every request the real ingest and consumer handlers make against a stack
provisioned from template.yaml: 1 write unit per KB of the item (the larger of the request's and the item's
at the end), twice in a transaction, one per ops-index entry put, moved or removed; 1 read unit per 4 KB
(strongly consistent). Events are the bench's (``bench/events.py``: no type, so the default handler, whose
receipt commits with the event's marker). The consumer drains the queue as the event source mapping does,
by batches of 10.

``python -m bench.units`` prints the figures for single and batch ingest; ``make bench`` reports them next to
their goals; :func:`measure` is what a test calls on a deterministic scenario.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, dataclass
from typing import Any

from bench import events as bodies
from bench.capacity import Meter, _scan_sizes, _schemas

BATCH_SIZE = 100


@dataclass(frozen=True, slots=True)
class PerEvent:
    """Per event: write units (GSI entries included) and read units per phase, DynamoDB calls per phase."""

    events: int
    ingest_wcu: float
    consumer_wcu: float
    rcu: float
    ingest_calls: float
    consumer_calls: float

    @property
    def wcu(self) -> float:
        """Write units per event, ingest + consumer."""
        return self.ingest_wcu + self.consumer_wcu

    def as_dict(self) -> dict[str, Any]:
        """Every figure, the total included."""
        return {**asdict(self), "wcu": self.wcu}


def measure(endpoint: str, events: int = 20, *, batch: bool = False) -> PerEvent:
    """Send ``events`` new events (one request each, or batches of 100), drain the queue, meter every call."""
    from plutus import bootstrap
    from tests.integration.harness import harness

    with harness(endpoint) as h:
        schemas, names = _schemas(h.client("dynamodb"), h.stack.refs)
        meter = Meter(schemas, names)
        meter.hook(bootstrap.root().clients("dynamodb"))
        meter.phase = "ingest"
        keys = [f"units-{h.stack.name}-{i}" for i in range(events)]
        if batch:
            for start in range(0, events, BATCH_SIZE):
                response = h.post_batch([bodies.body(k) for k in keys[start : start + BATCH_SIZE]])
                assert {r["status"] for r in response.json()["results"]} == {202}, response.body
        else:
            for key in keys:
                response = h.post_event(bodies.body(key))
                assert response.status == 202, response.body
        meter.phase = "consumer"
        assert h.drain() == events
        meter.settle(dict(_scan_sizes(h.client("dynamodb"), h.stack.refs, schemas)))
        assert {i["status"] for i in h.scan("EventsTable")} == {"PROCESSED"}
    return PerEvent(
        events=events,
        ingest_wcu=meter.wcu_by_phase["ingest"] / events,
        consumer_wcu=meter.wcu_by_phase["consumer"] / events,
        rcu=sum(meter.rcu.values()) / events,
        ingest_calls=meter.calls_by_phase["ingest"] / events,
        consumer_calls=meter.calls_by_phase["consumer"] / events,
    )


def run(endpoint: str, events: int = 100) -> dict[str, Any]:
    """Single and batch ingest, each with the default consumer."""
    return {
        "single": measure(endpoint, events).as_dict(),
        "batch_of_100": measure(endpoint, max(events, BATCH_SIZE), batch=True).as_dict(),
    }


def main() -> None:
    """Print the figures (JSON) from a fresh emulator; the handlers' own logs go to /dev/null."""
    out = sys.stdout
    # Before plutus is imported: Powertools binds its log handler to the stdout of that moment.
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115
    for key, value in {
        "POWERTOOLS_SERVICE_NAME": "plutus",
        "POWERTOOLS_METRICS_NAMESPACE": "Plutus",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }.items():
        os.environ.setdefault(key, value)
    from plutus_dev.emulator.resources import LOCAL_CREDENTIALS, start_emulator

    for key, value in LOCAL_CREDENTIALS.items():
        os.environ.setdefault(key, value)  # the emulator's, never real ones
    emulator = start_emulator()
    try:
        json.dump(run(emulator.url), out, indent=1)
        out.write("\n")
    finally:
        emulator.stop()


if __name__ == "__main__":
    main()
