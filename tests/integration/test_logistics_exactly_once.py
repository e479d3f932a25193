"""Logistics through the real ingest and consumer handlers against moto: lane transit samples, exceptions and
SLA flags are recorded exactly once under duplicate requests, redelivery and replay."""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from typing import Any

from tests.builders import an_event
from tests.clock import day, midnight
from tests.integration.harness import Harness
from tests.integration.redelivery import deliver_again, drain_capturing, stable_state

# Every event of this test comes from one producer.
carrier_edi = partial(an_event, source="carrier_edi")

BASE_DAY = -6


def _journey(pkg: str, day: int, transit_hours: int, failed_first: bool) -> list[dict[str, Any]]:
    # ``day`` counts from BASE_DAY, six days ago: the whole journey lies inside ingest's event-time window.
    start = midnight(BASE_DAY + day) + timedelta(hours=8)
    shipped = start.strftime("%Y-%m-%dT%H:%M:%SZ")
    delivered = (start + timedelta(hours=transit_hours)).strftime("%Y-%m-%dT%H:%M:%SZ")
    events = [
        carrier_edi(
            f"{pkg}-pickup",
            "package_scanned",
            {
                "package_id": pkg,
                "scan_type": "picked_up",
                "facility_id": "fac_nbo_west",
                "origin": "NBO",
                "destination": "KSM",
                "promised_by": (start + timedelta(hours=24)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "occurred_at": shipped,
            },
        ),
    ]
    if failed_first:
        events.append(
            carrier_edi(
                f"{pkg}-attempt-1",
                "delivery_attempted",
                {
                    "package_id": pkg,
                    "attempt_number": 1,
                    "outcome": "failed",
                    "failure_reason": "recipient_absent",
                    "courier_id": "cr_ksm_004",
                    "occurred_at": (midnight(BASE_DAY + day + 1) + timedelta(hours=9)).strftime(
                        "%Y-%m-%dT%H:%M:%SZ"
                    ),
                },
            )
        )
    events.append(
        carrier_edi(
            f"{pkg}-attempt-2",
            "delivery_attempted",
            {
                "package_id": pkg,
                "attempt_number": 2 if failed_first else 1,
                "outcome": "delivered",
                "failure_reason": None,
                "courier_id": "cr_ksm_004",
                "occurred_at": delivered,
            },
        )
    )
    return events


def test_lane_history_and_exceptions_are_recorded_once_under_duplicates_redelivery_and_replay(
    stack: Harness,
) -> None:
    # Given two journeys on NBO -> KSM promised within 24 h: 26 h with a failed first attempt (rerouted,
    # delivered 2 h late), and 20 h
    sent = _journey("pkg_it_a", 0, 26, failed_first=True) + _journey("pkg_it_b", 2, 20, failed_first=False)
    bodies: list[str] = []
    for body in sent:
        assert stack.post_event(body).status == 202
        bodies += drain_capturing(stack)
    assert len(bodies) == len(sent)
    lane = stack.request("GET", "/api/v1/logistics/lanes/NBO/KSM").json()
    assert (lane["deliveries"], lane["mean_hours"]) == (2, 23.0)
    before = stable_state(stack, "LOG#")

    # When every request is retried, every message is delivered again (a duplicate, a redelivery after a
    # lost delete) and an operator replays them all
    assert {stack.post_event(body).status for body in sent} == {200}
    assert deliver_again(stack, bodies) == 3 * len(bodies)

    # Then the lane still has two samples, and each package its own exceptions once
    assert stable_state(stack, "LOG#") == before
    assert stack.request("GET", "/api/v1/logistics/lanes/NBO/KSM").json() == lane
    a = stack.request("GET", "/api/v1/logistics/packages/pkg_it_a").json()
    assert [e["kind"] for e in a["exceptions"]] == ["sla_breach", "failed_delivery"]
    assert (a["status"], a["reroute"], a["sla_breached"], a["eta_source"]) == (
        "delivered",
        True,
        True,
        "delivered",
    )
    b = stack.request("GET", "/api/v1/logistics/packages/pkg_it_b").json()
    assert (b["exceptions"], b["sla_breached"]) == ([], False)
    promised_day, as_of = day(BASE_DAY + 1), f"{day(BASE_DAY + 20)}T00:00:00Z"
    report = stack.request("GET", f"/api/v1/logistics/sla/{promised_day}/late?as_of={as_of}").json()
    assert [(p["package_id"], p["hours_late"]) for p in report["late"]] == [("pkg_it_a", 2.0)]
