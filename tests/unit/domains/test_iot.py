"""IoT / fleet pack: unit parsing, maintenance alerts, position and distance, the insurance score."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from plutus.domains import iot
from plutus.domains.iot.handlers import ENGINE, haversine_km, insurance_score, is_night, vehicle_pk
from plutus.domains.iot.models import EngineTemperatureV1, FuelLevelV1
from plutus.domains.iot.settings import IotSettings
from plutus.domains.iot.units import parse_fuel_level, parse_temperature, split_reading
from tests.fakes import DomainRunner, packs
from tests.unit.domains.readclient import read_client

T0 = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)


def at(seconds: float, tz: int = 0) -> str:
    return (T0 + timedelta(seconds=seconds)).astimezone(timezone(timedelta(hours=tz))).isoformat()


def runner(**overrides: Any) -> DomainRunner:
    return DomainRunner(routers=[iot.router], packs=packs(**overrides))


# --- parsing and unit normalisation ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "unit", "celsius"),
    [
        ("215°F", "C", 101.67),
        ("215 °F", "C", 101.67),
        ("215F", "C", 101.67),
        ("101.5 C", "F", 101.5),
        ("101.5celsius", "C", 101.5),
        ("374.15K", "C", 101.0),
        ("-40degF", "C", -40.0),
        ("98", "C", 98.0),
        ("212", "F", 100.0),
        (101.5, "C", 101.5),
        (212, "F", 100.0),
        (373.15, "K", 100.0),
    ],
)
def test_temperatures_are_normalised_to_celsius(raw: object, unit: str, celsius: float) -> None:
    assert parse_temperature(raw, unit) == celsius


@pytest.mark.parametrize("raw", ["hot", "215 X", "", "°F", True, None, [215], float("nan"), "1e400"])
def test_unparseable_temperatures_are_refused(raw: object) -> None:
    with pytest.raises(ValueError):
        parse_temperature(raw)


@pytest.mark.parametrize(
    ("raw", "unit", "capacity", "percent"),
    [
        ("42%", "percent", None, 42.0),
        ("42 %", "percent", None, 42.0),
        ("42", "percent", None, 42.0),
        (42, "percent", None, 42.0),
        (0.42, "fraction", None, 42.0),
        ("0.5 ratio", "percent", None, 50.0),
        ("38.5 L", "percent", 110.0, 35.0),
        ("10 gal", "percent", 100.0, 37.85),
        (55, "litres", 110.0, 50.0),
    ],
)
def test_fuel_levels_are_normalised_to_percent_of_the_tank(
    raw: object, unit: str, capacity: float | None, percent: float
) -> None:
    assert parse_fuel_level(raw, unit, capacity) == percent


@pytest.mark.parametrize(
    ("raw", "unit", "capacity"),
    [
        ("142%", "percent", None),
        ("-3%", "percent", None),
        ("38 L", "percent", None),
        ("4 quarts", "percent", None),
        ("full", "percent", None),
        (120, "litres", 100.0),
    ],
)
def test_impossible_fuel_levels_are_refused(raw: object, unit: str, capacity: float | None) -> None:
    with pytest.raises(ValueError):
        parse_fuel_level(raw, unit, capacity)


def test_seed_style_readings_and_structured_numbers_make_the_same_model() -> None:
    seed = EngineTemperatureV1.model_validate(
        {"vehicle_id": "truck-017", "reading": "engine_temperature:215°F"}
    )
    numeric = EngineTemperatureV1.model_validate({"vehicle_id": "truck-017", "temperature": 215, "unit": "F"})
    canonical = EngineTemperatureV1.model_validate({"vehicle_id": "truck-017", "temperature_c": 101.67})
    assert seed.temperature_c == numeric.temperature_c == canonical.temperature_c == 101.67
    fuel = FuelLevelV1.model_validate({"vehicle_id": "truck-017", "reading": "fuel_level:42%"})
    assert fuel.level_pct == 42.0
    assert split_reading("fuel_level: 42%", "fuel_level") == "42%"


@pytest.mark.parametrize(
    ("model", "payload", "fields"),
    [
        (
            EngineTemperatureV1,
            {"vehicle_id": "v", "reading": "engine_temp:215F"},
            {("reading",), ("temperature_c",)},
        ),
        (EngineTemperatureV1, {"vehicle_id": "v", "temperature": "215 X"}, {("temperature",)}),
        (EngineTemperatureV1, {"vehicle_id": "v", "temperature": "900F"}, {("temperature",)}),
        (FuelLevelV1, {"vehicle_id": "v", "reading": "fuel_level:142%"}, {("level_pct",)}),
        (FuelLevelV1, {"vehicle_id": "v", "level": "38 L"}, {("level",)}),
    ],
)
def test_invalid_readings_name_their_field(
    model: Any, payload: dict[str, Any], fields: set[tuple[str, ...]]
) -> None:
    with pytest.raises(ValidationError) as exc:
        model.model_validate(payload)
    assert {e["loc"] for e in exc.value.errors()} == fields


# --- predictive maintenance ----------------------------------------------------------------------------


def temp(r: DomainRunner, vehicle: str, value: object, seconds: float) -> None:
    r.send("engine_temperature", {"vehicle_id": vehicle, "temperature": value, "occurred_at": at(seconds)})


def alerts(r: DomainRunner, vehicle: str) -> list[tuple[str, dict[str, Any]]]:
    body = read_client(iot.api_router(), r.state).get(
        f"/api/v1/iot/vehicles/{vehicle}/alerts", params={"limit": 100}
    )
    return [(a["kind"], a["details"]) for a in reversed(body.json())]


def test_overheating_alerts_once_and_rearms_below_the_hysteresis() -> None:
    r = runner(iot_engine_overheat_c=110.0, iot_engine_hysteresis_c=5.0)
    # Given readings in mixed units, one every ten minutes (no trend to speak of)
    for i, reading in enumerate(["194°F", 95, "100 C", "233.6°F", 115, 106, 104, "231.8F"]):
        temp(r, "truck-017", reading, 600 * i)

    # Then 112 °C raises an alert, 115 and 106 (still above 105) do not, 104 re-arms, 111 alerts again
    assert [(kind, d["temperature_c"]) for kind, d in alerts(r, "truck-017")] == [
        ("overheat", 112.0),
        ("overheat", 111.0),
    ]
    engine = read_client(iot.api_router(), r.state).get("/api/v1/iot/vehicles/truck-017").json()["engine"]
    assert engine["last_c"] == 111.0 and engine["overheating"] is True and engine["readings"] == 8


def test_a_rising_trend_at_operating_temperature_alerts_but_a_warm_up_does_not() -> None:
    r = runner(iot_engine_trend_c_per_min=1.0, iot_engine_operating_c=85.0, iot_trend_min_readings=5)
    # A cold start warming up fast: 15 °C a minute, but below operating temperature
    for i, celsius in enumerate([20, 35, 50, 65, 80]):
        temp(r, "van-2", celsius, 60 * i)
    assert alerts(r, "van-2") == []

    # A hot engine climbing 1.5 °C a minute (a failing water pump)
    for i, celsius in enumerate([88.0, 89.5, 91.0, 92.5, 94.0, 95.5]):
        temp(r, "truck-9", celsius, 60 * i)
    [(kind, details)] = alerts(r, "truck-9")
    assert kind == "rising_temperature"
    assert details["slope_c_per_min"] == pytest.approx(1.5)
    assert details["readings"] == 5  # raised once, as soon as the window had enough readings
    engine = r.state.get(vehicle_pk("truck-9"), ENGINE)
    assert engine is not None and engine["rising"] is True


def test_the_window_is_bounded_and_ordered_by_reading_time() -> None:
    r = runner(iot_temperature_window=4)
    for i in [0, 1, 2, 3, 5, 4]:  # the last reading arrives late
        temp(r, "v1", 80 + i, 60 * i)
    engine = r.state.get(vehicle_pk("v1"), ENGINE)
    assert engine is not None
    assert [float(p["c"]) for p in engine["window"]] == [82.0, 83.0, 84.0, 85.0]
    assert float(engine["last_c"]) == 85.0


def test_fuel_alerts_on_low_level_once_and_on_a_sudden_drop() -> None:
    r = runner(iot_fuel_low_pct=15.0, iot_fuel_drop_pct=20.0, iot_fuel_drop_window_seconds=900)
    readings = [
        ("fuel_level:42%", 0),
        ("30%", 3600),
        ("12%", 7200),
        ("10%", 7500),
        ("80%", 9000),
        ("55%", 9300),
        ("5%", 1),
    ]  # the last one is older than all: ignored
    for reading, seconds in readings:
        payload = {"vehicle_id": "truck-017", "occurred_at": at(seconds)}
        if reading.startswith("fuel_level:"):
            payload["reading"] = reading
        else:
            payload["level"] = reading
        r.send("fuel_level", payload)

    assert alerts(r, "truck-017") == [
        ("low_fuel", {"level_pct": 12}),
        ("fuel_drop", {"drop_pct": 25, "seconds": 300}),
    ]
    fuel = read_client(iot.api_router(), r.state).get("/api/v1/iot/vehicles/truck-017").json()["fuel"]
    assert fuel == {"level_pct": 55.0, "at": "2026-11-26T16:35:00.000000Z", "low": False}


# --- position, distance and the insurance score --------------------------------------------------------


def test_haversine_matches_known_distances() -> None:
    assert haversine_km(0.0, 0.0, 0.0, 1.0) == pytest.approx(111.195, abs=1e-3)
    assert haversine_km(51.5074, -0.1278, 48.8566, 2.3522) == pytest.approx(343.5, abs=0.5)  # London-Paris
    assert haversine_km(-1.2921, 36.8219, -1.2921, 36.8219) == 0.0


def gps(r: DomainRunner, vehicle: str, lat: float, lon: float, when: str, speed: float | None = None) -> None:
    payload: dict[str, Any] = {"vehicle_id": vehicle, "latitude": lat, "longitude": lon, "occurred_at": when}
    if speed is not None:
        payload["speed_kph"] = speed
    r.send("gps_location_update", payload)


ROUTE = [(-1.2921, 36.8219), (-1.3000, 36.8300), (-1.3100, 36.8500), (-1.3192, 36.9278)]  # CBD -> JKIA


def test_last_position_and_distance_move_forward_only_and_ignore_glitches() -> None:
    r = runner()
    for i, (lat, lon) in enumerate(ROUTE):
        gps(r, "truck-017", lat, lon, at(300 * i))
    # a late fix from the middle of the trip, and a glitch 500 km away one minute later
    gps(r, "truck-017", -1.2950, 36.8250, at(150))
    gps(r, "truck-017", 3.0, 38.0, at(960))

    expected = sum(haversine_km(*a, *b) for a, b in zip(ROUTE, ROUTE[1:], strict=False))
    position = read_client(iot.api_router(), r.state).get("/api/v1/iot/vehicles/truck-017").json()["position"]
    assert (position["latitude"], position["longitude"]) == ROUTE[-1]
    assert position["distance_km"] == pytest.approx(expected, abs=1e-3)
    assert (position["fixes"], position["glitches"]) == (4, 1)
    assert position["at"] == "2026-11-26T14:15:00.000000Z"


def test_night_is_judged_in_the_devices_local_time() -> None:
    assert is_night(23, 22, 5) and is_night(2, 22, 5) and not is_night(5, 22, 5) and not is_night(14, 22, 5)
    r = runner()
    # the same UTC instants (20:00Z): 23:00 in Nairobi is night, 20:00 in London is not
    for i, (lat, lon) in enumerate(ROUTE[:2]):
        gps(r, "nairobi", lat, lon, at(6 * 3600 + 60 * i, tz=3))
        gps(r, "london", lat, lon, at(6 * 3600 + 60 * i, tz=0))
    client = read_client(iot.api_router(), r.state)
    nairobi = client.get("/api/v1/iot/vehicles/nairobi").json()["insurance"]
    london = client.get("/api/v1/iot/vehicles/london").json()["insurance"]
    assert nairobi["km"] == london["km"] > 0
    assert nairobi["night_km"] == nairobi["km"] and london["night_km"] == 0


def test_harsh_braking_and_acceleration_count_only_between_close_fixes() -> None:
    r = runner(iot_harsh_brake_mps2=3.0, iot_harsh_accel_mps2=3.0, iot_harsh_max_gap_seconds=10)
    lat = -1.30
    fixes = [(0, 80.0), (3, 40.0), (6, 35.0), (10, 85.0), (70, 0.0), (74, 50.0)]
    for i, (seconds, speed) in enumerate(fixes):
        gps(r, "van-2", lat + i * 0.0002, 36.80, at(seconds), speed=speed)
    # 80->40 in 3 s is -3.7 m/s^2 (harsh), 35->85 in 4 s is +3.5 (harsh), 85->0 over 60 s is too far apart,
    # 0->50 in 4 s is +3.5 (harsh)
    insurance = read_client(iot.api_router(), r.state).get("/api/v1/iot/vehicles/van-2").json()["insurance"]
    assert (insurance["harsh_brakes"], insurance["harsh_accels"]) == (1, 2)


def test_the_insurance_score_weighs_harsh_events_per_100_km_night_and_speeding_share() -> None:
    s = IotSettings()
    assert insurance_score(200.0, 0.0, 0.0, 0, s) == (100.0, "low")
    # 2 harsh events in 200 km: 5 * 2 * 100/200 = 5; a quarter at night: 20 * 0.25 = 5; 10% speeding: 3
    assert insurance_score(200.0, 50.0, 20.0, 2, s) == (87.0, "low")
    # a 1 km trip with one harsh event is judged over at least 10 km: 5 * 100/10 = 50
    assert insurance_score(1.0, 0.0, 0.0, 1, s) == (50.0, "high")
    assert insurance_score(50.0, 50.0, 50.0, 10, s) == (0.0, "high")


def test_a_trip_updates_the_vehicle_score() -> None:
    r = runner()
    for i, (lat, lon) in enumerate(ROUTE):
        gps(r, "truck-017", lat, lon, at(300 * i, tz=3), speed=60.0)
    insurance = (
        read_client(iot.api_router(), r.state).get("/api/v1/iot/vehicles/truck-017").json()["insurance"]
    )
    km = sum(haversine_km(*a, *b) for a, b in zip(ROUTE, ROUTE[1:], strict=False))
    assert insurance["km"] == pytest.approx(km, abs=1e-3)
    assert (insurance["score"], insurance["band"]) == (
        insurance_score(km, 0.0, 0.0, 0, IotSettings())[0],
        "low",
    )


def test_an_unknown_vehicle_is_404() -> None:
    client = read_client(iot.api_router(), runner().state)
    assert client.get("/api/v1/iot/vehicles/nope").status_code == 404
    assert client.get("/api/v1/iot/vehicles/nope/alerts").json() == []
