"""Healthcare through the real ingest and consumer handlers against moto: alerts, compliance flags and the
audit trail are written exactly once under duplicate delivery and replay, and nothing clinical is logged."""

from __future__ import annotations

from typing import Any

from tests.builders import an_event
from tests.clock import DAY
from tests.integration.harness import Harness
from tests.integration.redelivery import deliver_again, drain_capturing, stable_state
from tests.logcapture import captured_logs

PATIENT = "pat_it_9f31"


def _post(h: Harness, sent: list[dict[str, Any]], key: str, event_type: str, payload: dict[str, Any]) -> str:
    body = an_event(key, event_type, {"patient_id": PATIENT, **payload}, source="ehr_bridge")
    response = h.post_event(body)
    assert response.status == 202, response.body
    sent.append(body)
    return str(response.json()["event_id"])


def _hr(h: Harness, sent: list[dict[str, Any]], key: str, bpm: int, at: str) -> str:
    return _post(
        h, sent, key, "heart_rate_reading", {"device_id": "monitor_w4_b2", "bpm": bpm, "measured_at": at}
    )


def test_alerts_flags_and_audit_apply_once_under_duplicates_redelivery_and_replay(stack: Harness) -> None:
    # Given a shift: a dose scheduling the next for 16:00, a heart rate that stays high, a note revision,
    # and a reading at 17:05 that passes the dose's window (drained one by one: order matters to a streak)
    sent: list[dict[str, Any]] = []
    steps = [
        lambda: _post(
            stack,
            sent,
            "mar-1",
            "medication_administered",
            {
                "order_id": "ord_7731",
                "medication_code": "rxnorm:197361",
                "dose_mg": 5,
                "route": "oral",
                "administered_by": "nurse_0192",
                "administered_at": f"{DAY}T08:00:00Z",
                "next_due_at": f"{DAY}T16:00:00Z",
            },
        ),
        lambda: _hr(stack, sent, "hr-1", 125, f"{DAY}T16:50:00Z"),
        lambda: _hr(stack, sent, "hr-2", 128, f"{DAY}T16:55:00Z"),
        lambda: _hr(stack, sent, "hr-3", 133, f"{DAY}T17:05:00Z"),
        lambda: _post(
            stack,
            sent,
            "note-1",
            "doctor_notes_updated",
            {
                "note_id": "note_55120",
                "note_version": 2,
                "author_id": "dr_0031",
                "author_role": "attending",
                "updated_at": f"{DAY}T17:10:00Z",
            },
        ),
    ]
    bodies: list[str] = []
    with captured_logs() as logs:
        for step in steps:
            step()
            bodies += drain_capturing(stack)
    assert len(bodies) == len(steps)
    before = stable_state(stack, f"HC#PATIENT#{PATIENT}")
    assert len([i for i in before if i["sk"].startswith("ALERT#")]) == 1
    assert [i["kind"] for i in before if i["sk"].startswith("COMPLIANCE#")] == ["missed"]

    # When the producer retries every request, every message is delivered again (a duplicate, a redelivery
    # after a lost delete) and an operator replays them all
    assert {stack.post_event(body).status for body in sent} == {200}
    assert deliver_again(stack, bodies) == 3 * len(bodies)

    # Then not one item changed: one warning, one missed-dose flag, five audit entries
    assert stable_state(stack, f"HC#PATIENT#{PATIENT}") == before
    trail = stack.request("GET", f"/api/v1/healthcare/patients/{PATIENT}/audit").json()
    assert [e["action"] for e in trail] == [
        "medication.administered",
        "vitals.heart_rate.recorded",
        "vitals.heart_rate.recorded",
        "vitals.heart_rate.recorded",
        "note.revised",
    ]
    alerts = stack.request("GET", f"/api/v1/healthcare/patients/{PATIENT}/alerts").json()
    assert [(a["severity"], a["bpm"], a["consecutive_readings"]) for a in alerts] == [("warning", 133, 3)]
    flags = stack.request("GET", f"/api/v1/healthcare/patients/{PATIENT}/compliance").json()
    assert [(f["kind"], f["order_id"], f["detected_at"]) for f in flags] == [
        ("missed", "ord_7731", f"{DAY}T17:05:00.000000Z")
    ]
    meds = stack.request(
        "GET", f"/api/v1/healthcare/patients/{PATIENT}/medications?as_of={DAY}T17:30:00Z"
    ).json()
    assert meds["overdue"] == ["ord_7731"] and meds["orders"][0]["missed_flagged"] is True
    vitals = stack.request("GET", f"/api/v1/healthcare/patients/{PATIENT}/vitals").json()
    assert (vitals["last_bpm"], vitals["readings"], vitals["open_alert_severity"]) == (133, 3, "warning")
    # And the pipeline logged nothing that identifies the patient or a clinical value
    assert logs and not [line for line in logs if PATIENT in line or "rxnorm" in line or "bpm" in line]


def test_unknown_patient_reads_are_404_problems(stack: Harness) -> None:
    response = stack.request("GET", "/api/v1/healthcare/patients/pat_nobody/audit")
    assert response.status == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/resource-not-found")
