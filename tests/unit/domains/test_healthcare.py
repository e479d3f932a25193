"""Healthcare pack: realistic sequences of readings, doses and note updates, asserting the derived state."""

from __future__ import annotations

import json
from typing import Any

import pytest

from plutus.core.errors import InvalidEventError
from plutus.domains import build_registry, healthcare
from plutus.domains.healthcare.handlers import patient_pk
from plutus.ingest.app import parse_ingest_body
from tests.builders import an_event, encoded
from tests.fakes import DomainRunner, packs, settings
from tests.logcapture import captured_logs
from tests.unit.domains.readclient import read_client

PATIENT = "pat_00417"


def _runner(**overrides: Any) -> DomainRunner:
    return DomainRunner(routers=[healthcare.router], packs=packs(**overrides))


def _hr(runner: DomainRunner, bpm: int, at: str, patient: str = PATIENT, **kw: Any) -> str:
    payload = {"patient_id": patient, "device_id": "monitor_icu3_bed12", "bpm": bpm, "measured_at": at}
    return runner.send("heart_rate_reading", payload, **kw)


def _dose(runner: DomainRunner, at: str, next_due: str | None, order: str = "ord_7731", **kw: Any) -> str:
    payload = {
        "patient_id": PATIENT,
        "order_id": order,
        "medication_code": "rxnorm:197361",
        "dose_mg": 5,
        "route": "oral",
        "administered_by": "nurse_0192",
        "administered_at": at,
        "next_due_at": next_due,
    }
    return runner.send("medication_administered", payload, **kw)


def _note(runner: DomainRunner, version: int, at: str, **extra: Any) -> str:
    payload = {
        "patient_id": PATIENT,
        "note_id": "note_55120",
        "note_version": version,
        "author_id": "dr_0031",
        "author_role": "attending",
        "updated_at": at,
        **extra,
    }
    return runner.send("doctor_notes_updated", payload)


def _items(runner: DomainRunner, prefix: str, patient: str = PATIENT) -> list[dict[str, Any]]:
    return runner.state.query(patient_pk(patient), prefix, limit=1000)


# --- vital-sign alerts -------------------------------------------------------------------------------------


def test_sustained_tachycardia_warns_once_escalates_to_critical_and_resolves_when_back_in_range() -> None:
    runner = _runner()
    # Given a resting patient whose heart rate climbs, stays high, spikes, and settles
    for bpm, minute in [(88, 0), (125, 1), (128, 2), (131, 3), (134, 4), (156, 5), (92, 6)]:
        _hr(runner, bpm, f"2026-11-26T08:0{minute}:00Z")

    alerts = _items(runner, "ALERT#")
    # Then the third consecutive high reading raises one warning, the spike escalates it to critical,
    # and the return to range resolves the critical alert
    assert [(a["kind"], a["severity"], int(a["bpm"])) for a in alerts] == [
        ("heart_rate_high", "warning", 131),
        ("heart_rate_high", "critical", 156),
    ]
    assert int(alerts[0]["consecutive_readings"]) == 3 and int(alerts[0]["threshold_bpm"]) == 120
    assert alerts[0]["resolved_at"] == "2026-11-26T08:05:00.000000Z"  # superseded by the escalation
    assert alerts[1]["resolved_at"] == "2026-11-26T08:06:00.000000Z"
    vitals = runner.state.get(patient_pk(PATIENT), "VITALS#HR")
    assert vitals is not None
    assert int(vitals["last_bpm"]) == 92 and int(vitals["streak"]) == 0 and vitals["open_alert_kind"] is None
    assert int(vitals["readings"]) == 7


def test_one_critical_bradycardia_reading_alerts_at_once_and_a_brief_blip_does_not() -> None:
    runner = _runner()
    _hr(runner, 47, "2026-11-26T03:00:00Z")  # low, but one reading is not sustained
    _hr(runner, 62, "2026-11-26T03:01:00Z")
    _hr(runner, 36, "2026-11-26T03:02:00Z")  # critical: alert without waiting

    alerts = _items(runner, "ALERT#")
    assert [(a["kind"], a["severity"], int(a["consecutive_readings"])) for a in alerts] == [
        ("heart_rate_low", "critical", 1)
    ]
    vitals = runner.state.get(patient_pk(PATIENT), "VITALS#HR")
    assert vitals is not None and vitals["open_alert_severity"] == "critical"


def test_a_swing_from_high_to_low_resolves_the_high_alert() -> None:
    runner = _runner(healthcare_hr_sustained_readings=2)
    for bpm, minute in [(130, 0), (132, 1), (45, 2), (44, 3)]:
        _hr(runner, bpm, f"2026-11-26T10:0{minute}:00Z")

    high, low = _items(runner, "ALERT#")
    assert (high["kind"], high["resolved_at"]) == ("heart_rate_high", "2026-11-26T10:02:00.000000Z")
    assert (low["kind"], low.get("resolved_at")) == ("heart_rate_low", None)


def test_ranges_and_sustain_count_are_settings() -> None:
    # Given a paediatric ward that configures a tighter high bound and alerts on the first reading
    runner = _runner(healthcare_hr_high_bpm=100, healthcare_hr_sustained_readings=1)
    _hr(runner, 105, "2026-11-26T08:00:00Z")
    [alert] = _items(runner, "ALERT#")
    assert (alert["severity"], int(alert["threshold_bpm"])) == ("warning", 100)


def test_inconsistent_ranges_are_refused_at_startup() -> None:
    with pytest.raises(ValueError, match="must nest"):
        packs(healthcare_hr_low_bpm=130)


def test_a_reading_that_arrives_late_does_not_rewrite_the_streak() -> None:
    runner = _runner()
    _hr(runner, 125, "2026-11-26T08:01:00Z")
    _hr(runner, 127, "2026-11-26T08:02:00Z")
    # When a normal reading from before both arrives last (a monitor flushing its buffer)
    _hr(runner, 80, "2026-11-26T08:00:00Z")
    _hr(runner, 129, "2026-11-26T08:03:00Z")

    # Then the streak continued: the third in-order high reading still warns
    vitals = runner.state.get(patient_pk(PATIENT), "VITALS#HR")
    assert vitals is not None
    assert int(vitals["streak"]) == 3 and int(vitals["late_readings"]) == 1
    assert vitals["last_measured_at"] == "2026-11-26T08:03:00.000000Z"
    assert [a["severity"] for a in _items(runner, "ALERT#")] == ["warning"]


# --- care-pathway compliance -------------------------------------------------------------------------------


def test_dose_inside_its_window_is_on_time_and_carries_the_schedule_forward() -> None:
    runner = _runner()
    _dose(runner, "2026-11-26T08:00:00Z", "2026-11-26T16:00:00Z")
    _dose(runner, "2026-11-26T16:40:00Z", "2026-11-27T00:00:00Z")  # 40 min late, inside the 60-min window

    order = runner.state.get(patient_pk(PATIENT), "MED#ord_7731")
    assert order is not None
    assert order["due_at"] == "2026-11-27T00:00:00.000000Z" and order["last_outcome"] == "on_time"
    assert int(order["administered_count"]) == 2 and int(order["on_time_count"]) == 1
    assert _items(runner, "COMPLIANCE#") == []


def test_missed_dose_is_flagged_once_when_a_later_event_passes_its_window_then_the_late_dose_too() -> None:
    runner = _runner()
    # Given a dose due at 16:00 (window +-60 min)
    _dose(runner, "2026-11-26T08:00:00Z", "2026-11-26T16:00:00Z")
    # When the patient's monitor keeps reporting: 16:30 is inside the window, 17:05 is past it
    _hr(runner, 80, "2026-11-26T16:30:00Z")
    assert _items(runner, "COMPLIANCE#") == []
    _hr(runner, 82, "2026-11-26T17:05:00Z")
    _note(runner, 2, "2026-11-26T17:20:00Z")  # any later event of the patient; must not flag again

    [missed] = _items(runner, "COMPLIANCE#")
    assert missed["kind"] == "missed" and missed["due_at"] == "2026-11-26T16:00:00.000000Z"
    assert missed["window_ends_at"] == "2026-11-26T17:00:00.000000Z"
    assert missed["detected_at"] == "2026-11-26T17:05:00.000000Z"

    # When the dose is finally given at 17:45, it is recorded as late against the same due time
    _dose(runner, "2026-11-26T17:45:00Z", "2026-11-27T00:00:00Z")
    flags = {f["kind"]: f for f in _items(runner, "COMPLIANCE#")}
    assert set(flags) == {"missed", "late"}
    assert int(flags["late"]["minutes_off_schedule"]) == 105
    order = runner.state.get(patient_pk(PATIENT), "MED#ord_7731")
    assert order is not None
    assert int(order["missed_count"]) == 1 and int(order["late_count"]) == 1
    assert order["due_at"] == "2026-11-27T00:00:00.000000Z"


def test_a_dose_given_well_before_its_window_is_flagged_early() -> None:
    runner = _runner(healthcare_dose_window_minutes=30)
    _dose(runner, "2026-11-26T08:00:00Z", "2026-11-26T12:00:00Z")
    _dose(runner, "2026-11-26T10:30:00Z", "2026-11-26T16:00:00Z")
    [early] = _items(runner, "COMPLIANCE#")
    assert early["kind"] == "early" and int(early["minutes_off_schedule"]) == -90


def test_a_dose_of_one_order_flags_another_order_that_was_missed() -> None:
    runner = _runner()
    _dose(runner, "2026-11-26T06:00:00Z", "2026-11-26T12:00:00Z", order="ord_heparin")
    _dose(runner, "2026-11-26T08:00:00Z", "2026-11-26T20:00:00Z", order="ord_metoprolol")
    _dose(runner, "2026-11-26T13:30:00Z", "2026-11-26T21:00:00Z", order="ord_insulin")

    [missed] = _items(runner, "COMPLIANCE#")
    assert (missed["kind"], missed["order_id"]) == ("missed", "ord_heparin")


def test_completed_course_is_never_overdue_and_an_old_dose_arriving_late_keeps_the_schedule() -> None:
    runner = _runner()
    _dose(runner, "2026-11-26T08:00:00Z", "2026-11-26T16:00:00Z")
    _dose(runner, "2026-11-26T16:05:00Z", None)  # last dose of the course
    _dose(runner, "2026-11-26T07:00:00Z", "2026-11-26T09:00:00Z")  # an old record replayed from the EHR
    _hr(runner, 75, "2026-11-28T00:00:00Z")

    order = runner.state.get(patient_pk(PATIENT), "MED#ord_7731")
    assert order is not None
    assert order["status"] == "completed" and order["due_at"] is None
    assert int(order["administered_count"]) == 3
    assert _items(runner, "COMPLIANCE#") == []


def test_medications_read_evaluates_overdue_doses_at_read_time_without_a_later_event() -> None:
    runner = _runner()
    _dose(runner, "2026-11-26T08:00:00Z", "2026-11-26T16:00:00Z", order="ord_a")
    _dose(runner, "2026-11-26T09:00:00Z", "2026-11-26T21:00:00Z", order="ord_b")
    client = read_client(healthcare.api_router(), runner.state)
    url = f"/api/v1/healthcare/patients/{PATIENT}/medications"

    at_1530 = client.get(url, params={"as_of": "2026-11-26T15:30:00Z"}).json()
    assert {o["order_id"]: o["status"] for o in at_1530["orders"]} == {"ord_a": "due", "ord_b": "upcoming"}
    at_1800 = client.get(url, params={"as_of": "2026-11-26T18:00:00+00:00"}).json()
    assert at_1800["as_of"] == "2026-11-26T18:00:00.000000Z"
    assert at_1800["overdue"] == ["ord_a"]
    [order_a] = [o for o in at_1800["orders"] if o["order_id"] == "ord_a"]
    assert order_a["window_ends_at"] == "2026-11-26T17:00:00.000000Z" and order_a["missed_flagged"] is False
    # No event has arrived since, so nothing is flagged yet: the read is what surfaces it
    assert client.get(f"/api/v1/healthcare/patients/{PATIENT}/compliance").json() == []


# --- the audit trail ---------------------------------------------------------------------------------------


def test_audit_trail_records_who_did_what_and_when_in_event_time_order_without_clinical_content() -> None:
    runner = _runner()
    # Given events that arrive out of order
    note_id = _note(
        runner,
        3,
        "2026-11-26T09:40:00Z",
        content_sha256="9f2c4e1a7b3d5f6081a2c3d4e5f60718293a4b5c6d7e8f901a2b3c4d5e6f7a8b",
    )
    _dose(runner, "2026-11-26T08:02:00Z", "2026-11-26T16:00:00Z")
    _hr(runner, 131, "2026-11-26T08:15:00Z")
    _note(runner, 1, "2026-11-26T07:30:00Z")
    _hr(runner, 99, "2026-11-26T08:00:00Z", patient="pat_other")

    client = read_client(healthcare.api_router(), runner.state)
    trail = client.get(f"/api/v1/healthcare/patients/{PATIENT}/audit").json()

    # Then the trail is ordered by event time and names actor, action and resource only
    assert [(e["at"][11:16], e["actor"], e["action"], e["resource"]) for e in trail] == [
        ("07:30", "dr_0031", "note.created", "note/note_55120"),
        ("08:02", "nurse_0192", "medication.administered", "order/ord_7731"),
        ("08:15", "monitor_icu3_bed12", "vitals.heart_rate.recorded", "heart_rate"),
        ("09:40", "dr_0031", "note.revised", "note/note_55120"),
    ]
    assert trail[3]["note_version"] == 3 and trail[3]["event_id"] == note_id
    assert trail[3]["content_sha256"].startswith("9f2c4e1a")
    newest = client.get(f"/api/v1/healthcare/patients/{PATIENT}/audit", params={"order": "desc", "limit": 1})
    assert [e["action"] for e in newest.json()] == ["note.revised"]
    # And no stored audit entry holds a clinical value: no bpm, drug, dose or route
    stored = _items(runner, "AUDIT#")
    assert len(stored) == 4
    clinical = {"bpm", "medication_code", "dose_mg", "route", "next_due_at"}
    assert not any(clinical & entry.keys() for entry in stored)
    assert not any("131" in str(v) or "rxnorm" in str(v) for entry in stored for v in entry.values())


@pytest.mark.parametrize("field", ["content", "text", "note"])
def test_note_text_is_refused_at_ingest_naming_the_field(field: str) -> None:
    payload = {
        "patient_id": "pat_00417",
        "note_id": "note_1",
        "note_version": 1,
        "author_id": "dr_1",
        "author_role": "attending",
        "updated_at": "2026-11-26T09:40:00Z",
        field: "Pt c/o chest pain",
    }
    body = encoded(an_event("n-1", "doctor_notes_updated", payload, source="ehr"))
    with pytest.raises(InvalidEventError) as caught:
        parse_ingest_body(body, "application/json", None, settings(), build_registry())
    assert caught.value.errors[0]["field"] == f"payload.{field}"
    assert "chest pain" not in str(caught.value.errors)


def test_unknown_patient_is_404_and_one_patient_never_sees_another() -> None:
    runner = _runner()
    _hr(runner, 130, "2026-11-26T08:00:00Z", patient="pat_other")
    client = read_client(healthcare.api_router(), runner.state)
    for path in ("vitals", "alerts", "medications", "compliance", "audit"):
        response = client.get(f"/api/v1/healthcare/patients/{PATIENT}/{path}")
        assert response.status_code == 404, path
        assert response.headers["content-type"] == "application/problem+json"
        assert PATIENT not in response.json()["detail"]


def test_handlers_log_nothing_about_the_patient() -> None:
    runner = _runner()
    with captured_logs() as lines:
        _dose(runner, "2026-11-26T08:00:00Z", "2026-11-26T16:00:00Z")
        _hr(runner, 170, "2026-11-26T17:30:00Z")
        _note(runner, 2, "2026-11-26T17:40:00Z")
    # Now that the runner is the real consumer, it logs; the source location and time are not patient data.
    fields = [
        {k: v for k, v in json.loads(line).items() if k not in {"location", "timestamp"}} for line in lines
    ]
    assert lines and not [f for f in map(json.dumps, fields) if PATIENT in f or "rxnorm" in f or "170" in f]
