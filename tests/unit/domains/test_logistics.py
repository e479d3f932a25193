"""Logistics pack: shipment journeys through the handlers, asserting ETAs, reroutes and SLA flags."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from plutus.domains import logistics
from plutus.domains.logistics.handlers import lane_pk, package_pk
from tests.fakes import DomainRunner, packs
from tests.unit.domains.readclient import read_client

T0 = datetime.fromisoformat("2026-11-20T08:00:00+00:00")


def _z(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _runner(**overrides: Any) -> DomainRunner:
    return DomainRunner(routers=[logistics.router], packs=packs(**overrides))


def _scan(runner: DomainRunner, pkg: str, scan_type: str, at: datetime, **extra: Any) -> str:
    payload = {
        "package_id": pkg,
        "scan_type": scan_type,
        "facility_id": "fac_nbo_west",
        "occurred_at": _z(at),
    }
    return runner.send("package_scanned", {**payload, **extra})


def _pickup(
    runner: DomainRunner, pkg: str, at: datetime, promised_by: datetime, lane: str = "NBO-MBA"
) -> str:
    origin, destination = lane.split("-")
    return _scan(
        runner, pkg, "picked_up", at, origin=origin, destination=destination, promised_by=_z(promised_by)
    )


def _attempt(
    runner: DomainRunner, pkg: str, at: datetime, reason: str | None = None, attempt: int = 1
) -> str:
    payload = {
        "package_id": pkg,
        "attempt_number": attempt,
        "outcome": "failed" if reason else "delivered",
        "failure_reason": reason,
        "courier_id": "cr_mba_017",
        "occurred_at": _z(at),
    }
    return runner.send("delivery_attempted", payload)


def _breach(runner: DomainRunner, pkg: str, at: datetime, temperature: float, seconds: int) -> str:
    payload = {
        "package_id": pkg,
        "sensor_id": "tag_7f21",
        "temperature_c": temperature,
        "min_c": 2.0,
        "max_c": 8.0,
        "duration_seconds": seconds,
        "occurred_at": _z(at),
    }
    return runner.send("temperature_breach", payload)


def _fix(runner: DomainRunner, pkg: str, at: datetime, lat: float = -1.52, lon: float = 37.27) -> str:
    payload = {"package_id": pkg, "vehicle_id": "trk_kbx_221", "lat": lat, "lon": lon, "occurred_at": _z(at)}
    return runner.send("location_update", payload)


def _state(runner: DomainRunner, pkg: str) -> dict[str, Any]:
    item = runner.state.get(package_pk(pkg), "STATE")
    assert item is not None
    return item


def _kinds(runner: DomainRunner, pkg: str) -> list[str]:
    return [i["kind"] for i in runner.state.query(package_pk(pkg), "EXCEPTION#")]


def _deliver_history(runner: DomainRunner, hours: list[int]) -> None:
    for n, h in enumerate(hours):
        shipped = T0 + timedelta(hours=n)
        _pickup(runner, f"pkg_hist_{n}", shipped, shipped + timedelta(hours=72))
        _scan(runner, f"pkg_hist_{n}", "departed_hub", shipped + timedelta(hours=2))
        _attempt(runner, f"pkg_hist_{n}", shipped + timedelta(hours=h, minutes=10))


# --- ETA from the lane's history ---------------------------------------------------------------------------


def test_eta_is_the_lanes_transit_percentile_once_it_has_enough_history() -> None:
    runner = _runner()
    client = read_client(logistics.api_router(), runner.state, runner.packs)
    shipped = T0 + timedelta(days=3)
    _pickup(runner, "pkg_new", shipped, shipped + timedelta(hours=48))

    # Given no history on the lane, the ETA is the promise
    body = client.get("/api/v1/logistics/packages/pkg_new", params={"as_of": _z(shipped)}).json()
    assert (body["eta_source"], body["eta"]) == ("promise", "2026-11-25T08:00:00.000000Z")

    # When five packages were delivered on the lane in 30, 32, 34, 40 and 50 hours
    _deliver_history(runner, [30, 32, 34, 40, 50])

    # Then the lane reports them; the ETA is pickup + the 80th percentile (top of the 40-41 h bucket)
    lane = client.get("/api/v1/logistics/lanes/NBO/MBA").json()
    assert lane["deliveries"] == 5 and lane["mean_hours"] == pytest.approx(37.37, abs=0.01)
    assert (lane["p50_hours"], lane["p80_hours"], lane["eta_hours"]) == (35.0, 41.0, 41.0)
    body = client.get("/api/v1/logistics/packages/pkg_new", params={"as_of": _z(shipped)}).json()
    assert (body["eta_source"], body["eta"]) == ("lane_history", "2026-11-25T01:00:00.000000Z")
    # And another lane's history is its own
    assert client.get("/api/v1/logistics/lanes/MBA/NBO").status_code == 404


def test_eta_percentile_and_minimum_history_are_settings() -> None:
    runner = _runner(logistics_eta_percentile=0.5, logistics_eta_min_samples=3)
    _deliver_history(runner, [30, 32, 50])
    lane = read_client(logistics.api_router(), runner.state, runner.packs).get(
        "/api/v1/logistics/lanes/NBO/MBA"
    )
    assert lane.json()["eta_hours"] == 33.0


def test_a_delivery_processed_before_its_pickup_scan_still_counts_once_for_the_lane() -> None:
    runner = _runner()
    _attempt(runner, "pkg_ooo", T0 + timedelta(hours=30))
    _pickup(runner, "pkg_ooo", T0, T0 + timedelta(hours=48))
    _scan(runner, "pkg_ooo", "delivered", T0 + timedelta(hours=31))  # a second delivery signal

    lane = runner.state.get(lane_pk("NBO", "MBA"), "TRANSIT")
    assert lane is not None and int(lane["count"]) == 1 and int(lane["sum_seconds"]) == 30 * 3600
    state = _state(runner, "pkg_ooo")
    assert state["status"] == "delivered" and state["delivered_via"] == "courier"
    assert state["sla_breached"] is False


# --- exceptions: reroute ------------------------------------------------------------------------------------


def test_a_failed_delivery_is_an_exception_that_marks_the_package_for_reroute() -> None:
    runner = _runner()
    _pickup(runner, "pkg_1", T0, T0 + timedelta(hours=48))
    _scan(runner, "pkg_1", "out_for_delivery", T0 + timedelta(hours=30))
    _attempt(runner, "pkg_1", T0 + timedelta(hours=31), reason="address_not_found")

    state = _state(runner, "pkg_1")
    assert (state["status"], state["reroute"], int(state["failed_attempts"])) == ("delivery_failed", True, 1)
    assert state["reroute_reasons"] == ["failed_delivery:address_not_found"]
    assert _kinds(runner, "pkg_1") == ["failed_delivery"]


def test_reroute_after_a_configured_number_of_failed_attempts() -> None:
    runner = _runner(logistics_reroute_after_failed_attempts=2)
    _pickup(runner, "pkg_1", T0, T0 + timedelta(hours=72))
    _attempt(runner, "pkg_1", T0 + timedelta(hours=30), reason="recipient_absent")
    assert _state(runner, "pkg_1")["reroute"] is False
    _attempt(runner, "pkg_1", T0 + timedelta(hours=54), reason="recipient_absent", attempt=2)
    assert _state(runner, "pkg_1")["reroute"] is True


def test_a_brief_small_excursion_is_recorded_but_a_long_or_large_one_reroutes() -> None:
    runner = _runner()
    _pickup(runner, "pkg_vax", T0, T0 + timedelta(hours=24))
    _breach(runner, "pkg_vax", T0 + timedelta(hours=2), temperature=8.6, seconds=300)
    assert _state(runner, "pkg_vax")["reroute"] is False
    _breach(runner, "pkg_vax", T0 + timedelta(hours=3), temperature=8.9, seconds=1_260)  # 21 minutes
    _breach(runner, "pkg_vax", T0 + timedelta(hours=4), temperature=-1.5, seconds=60)  # 3.5 degrees below

    state = _state(runner, "pkg_vax")
    assert state["reroute"] is True and state["reroute_requested_at"] == "2026-11-20T11:00:00.000000Z"
    assert state["reroute_reasons"] == ["temperature_breach", "temperature_breach"]
    body = read_client(logistics.api_router(), runner.state, runner.packs).get(
        "/api/v1/logistics/packages/pkg_vax"
    )
    breaches = body.json()["exceptions"]
    assert [(b["details"]["severe"], b["details"]["excursion_c"]) for b in breaches] == [
        (True, 3.5),
        (True, 0.9),
        (False, 0.6),
    ]


def test_breach_thresholds_are_settings() -> None:
    runner = _runner(logistics_breach_reroute_seconds=60, logistics_breach_reroute_excursion_c=10)
    _breach(runner, "pkg_x", T0, temperature=9.0, seconds=120)
    assert _state(runner, "pkg_x")["reroute"] is True


# --- SLA monitoring -----------------------------------------------------------------------------------------


def test_an_event_after_the_promise_flags_an_undelivered_package_once() -> None:
    runner = _runner()
    promised = T0 + timedelta(hours=48)
    _pickup(runner, "pkg_1", T0, promised)
    _fix(runner, "pkg_1", promised - timedelta(minutes=5))
    assert _state(runner, "pkg_1")["sla_breached"] is False
    # When a GPS fix arrives after the promised time (the package is still on the road)
    _fix(runner, "pkg_1", promised + timedelta(minutes=20), lat=-3.9, lon=39.6)
    _fix(runner, "pkg_1", promised + timedelta(minutes=40))
    _attempt(runner, "pkg_1", promised + timedelta(hours=1))

    state = _state(runner, "pkg_1")
    assert state["sla_breached"] is True and state["sla_breach_detected_at"] == "2026-11-22T08:20:00.000000Z"
    assert _kinds(runner, "pkg_1") == ["sla_breach"]
    fix = runner.state.get(package_pk("pkg_1"), "LOCATION")
    assert fix is not None and fix["at"] == "2026-11-22T08:40:00.000000Z"


def test_an_old_fix_arriving_late_does_not_move_the_package_back() -> None:
    runner = _runner()
    _pickup(runner, "pkg_1", T0, T0 + timedelta(hours=48))
    _fix(runner, "pkg_1", T0 + timedelta(hours=5), lat=-3.9, lon=39.6)
    _fix(runner, "pkg_1", T0 + timedelta(hours=1), lat=-1.3, lon=36.8)
    fix = runner.state.get(package_pk("pkg_1"), "LOCATION")
    assert fix is not None and float(fix["lat"]) == -3.9


def test_late_delivery_is_a_breach_and_on_time_delivery_is_not() -> None:
    runner = _runner()
    _pickup(runner, "pkg_late", T0, T0 + timedelta(hours=24))
    _pickup(runner, "pkg_ok", T0, T0 + timedelta(hours=24))
    _attempt(runner, "pkg_late", T0 + timedelta(hours=26))
    _attempt(runner, "pkg_ok", T0 + timedelta(hours=23))
    assert (_state(runner, "pkg_late")["sla_breached"], _state(runner, "pkg_ok")["sla_breached"]) == (
        True,
        False,
    )


def test_sla_is_also_judged_at_read_time_for_packages_with_no_later_event() -> None:
    runner = _runner()
    promised = T0 + timedelta(hours=48)  # 2026-11-22 08:00
    _pickup(runner, "pkg_silent", T0, promised)
    _pickup(runner, "pkg_on_time", T0, promised)
    _pickup(runner, "pkg_late", T0, promised + timedelta(hours=4))
    _pickup(runner, "pkg_other_day", T0, promised + timedelta(days=1))
    _attempt(runner, "pkg_on_time", promised - timedelta(hours=1))
    _attempt(runner, "pkg_late", promised + timedelta(hours=6))
    client = read_client(logistics.api_router(), runner.state, runner.packs)

    # Nothing has flagged the silent package (no event since its promise), but the reads see it late
    assert _state(runner, "pkg_silent")["sla_breached"] is False
    view = client.get("/api/v1/logistics/packages/pkg_silent", params={"as_of": "2026-11-22T10:30:00Z"})
    assert view.json()["late_at_as_of"] is True
    report = client.get("/api/v1/logistics/sla/2026-11-22/late", params={"as_of": "2026-11-22T10:30:00Z"})
    body = report.json()
    assert body["promised"] == 3
    assert [(p["package_id"], p["hours_late"]) for p in body["late"]] == [
        ("pkg_silent", 2.5),
        ("pkg_late", 2.0),
    ]
    before = client.get("/api/v1/logistics/sla/2026-11-22/late", params={"as_of": "2026-11-22T07:00:00Z"})
    assert [p["package_id"] for p in before.json()["late"]] == ["pkg_late"]  # delivered late is known early


def test_invalid_events_are_refused() -> None:
    runner = _runner()
    with pytest.raises(ValidationError, match="picked_up scan needs"):
        _scan(runner, "pkg_1", "picked_up", T0, origin="NBO")
    with pytest.raises(ValidationError, match="not a breach"):
        _breach(runner, "pkg_1", T0, temperature=5.0, seconds=60)
    with pytest.raises(ValidationError, match="failure_reason"):
        runner.send(
            "delivery_attempted",
            {
                "package_id": "p",
                "attempt_number": 1,
                "outcome": "failed",
                "courier_id": "c",
                "occurred_at": _z(T0),
            },
        )
    assert (
        read_client(logistics.api_router(), runner.state, runner.packs)
        .get("/api/v1/logistics/packages/p")
        .status_code
        == 404
    )
