"""IoT through the real ingest and consumer against the emulator: the seed's string readings are accepted and
normalised, and a redelivered fix never adds its distance twice."""

from __future__ import annotations

from functools import partial

import pytest

from plutus.domains.iot.handlers import haversine_km
from tests.builders import an_event
from tests.clock import DAY
from tests.integration.harness import Harness
from tests.integration.redelivery import drain_capturing, redeliver_after_commit, send_duplicate, send_replay

# Every event of this test comes from one producer.
telematics = partial(an_event, source="telematics")
ROUTE = [(-1.2921, 36.8219), (-1.3000, 36.8300), (-1.3100, 36.8500)]
EVENTS = [
    telematics(
        "t1",
        "engine_temperature",
        {
            "vehicle_id": "truck-017",
            "reading": "engine_temperature:215°F",
            "occurred_at": f"{DAY}T14:00:00Z",
        },
    ),
    telematics(
        "t2",
        "engine_temperature",
        {
            "vehicle_id": "truck-017",
            "reading": "engine_temperature:233.6°F",
            "occurred_at": f"{DAY}T14:10:00Z",
        },
    ),
    telematics(
        "f1",
        "fuel_level",
        {"vehicle_id": "truck-017", "reading": "fuel_level:42%", "occurred_at": f"{DAY}T14:00:30Z"},
    ),
] + [
    telematics(
        f"g{i}",
        "gps_location_update",
        {
            "vehicle_id": "truck-017",
            "latitude": lat,
            "longitude": lon,
            "speed_kph": 50,
            "occurred_at": f"{DAY}T17:0{i}:00+03:00",
        },
    )
    for i, (lat, lon) in enumerate(ROUTE)
]


def test_seed_readings_are_normalised_and_redelivery_never_adds_distance_twice(stack: Harness) -> None:
    # Given readings as the seed sends them, and a short trip, accepted and processed (deletes lost)
    for event in EVENTS:
        assert stack.post_event(event).status == 202
    assert redeliver_after_commit(stack) == len(EVENTS)
    bodies = drain_capturing(stack)

    vehicle = stack.request("GET", "/api/v1/iot/vehicles/truck-017").json()
    km = haversine_km(*ROUTE[0], *ROUTE[1]) + haversine_km(*ROUTE[1], *ROUTE[2])
    assert vehicle["engine"]["last_c"] == 112.0 and vehicle["engine"]["overheating"] is True
    assert vehicle["fuel"]["level_pct"] == 42.0
    assert vehicle["position"]["distance_km"] == pytest.approx(km, abs=1e-3)

    # When the messages come again as duplicates and replays
    for body in bodies:
        send_duplicate(stack, body)
        send_replay(stack, body)
    assert stack.drain() == 2 * len(EVENTS)

    # Then nothing moved: one overheat alert, the same distance and insurance inputs
    assert stack.request("GET", "/api/v1/iot/vehicles/truck-017").json() == vehicle
    alerts = stack.request("GET", "/api/v1/iot/vehicles/truck-017/alerts").json()
    assert [(a["kind"], a["details"]) for a in alerts] == [("overheat", {"temperature_c": 112})]


def test_an_unparseable_reading_is_422_naming_the_field(stack: Harness) -> None:
    response = stack.post_event(telematics("bad", "fuel_level", {"vehicle_id": "truck-017", "level": "full"}))
    assert response.status == 422
    assert [e["field"] for e in response.json()["errors"]] == ["payload.level"]
    assert stack.queue_depth() == 0
