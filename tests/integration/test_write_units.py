"""Write units per event, as DynamoDB bills them (bench/units.py's meter), on deterministic scenarios."""

from __future__ import annotations

from bench.units import measure
from plutus_dev.emulator.resources import Emulator


def test_units_and_calls_per_event_single_ingest_and_default_handler(emulator: Emulator) -> None:
    per_event = measure(emulator.url, 20)

    # Ingest: the INPROGRESS claim (1) and the update completing the record and writing the event RECEIVED
    # (1), both on the event's own item. Consumer: the marker, the receipt folded into it, one item of one
    # transaction per batch of 10 (1 x 2). No index writes: RECEIVED and PROCESSED never enter the ops index.
    assert (per_event.ingest_wcu, per_event.consumer_wcu, per_event.rcu) == (2, 2, 0)
    assert (per_event.ingest_calls, per_event.consumer_calls) == (2, 0.1)
