"""Healthcare read endpoints: a patient's vitals, alerts, medication schedule (evaluated at read time),
compliance flags and audit trail. Every read is one partition (the patient's): a get or a prefix query."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel

from plutus.core.effects import StateReader
from plutus.core.errors import ResourceNotFoundError
from plutus.domains.deps import Now, State
from plutus.domains.healthcare.handlers import VITALS_HR, patient_pk
from plutus.domains.kit import PATH_ID, iso, parse_iso

api = APIRouter(prefix="/api/v1/healthcare", tags=["healthcare"])
Limit = Annotated[int, Query(ge=1, le=500)]
PatientId = Annotated[str, Path(pattern=PATH_ID)]


class VitalsView(BaseModel):
    """The latest heart-rate reading and the alert state it left."""

    patient_id: str
    last_bpm: int
    last_measured_at: str
    last_device_id: str
    readings: int
    late_readings: int
    abnormal_streak: int
    abnormal_direction: str | None
    open_alert_kind: str | None
    open_alert_severity: str | None


class AlertView(BaseModel):
    """One vital-sign alert."""

    kind: str
    severity: str
    bpm: int
    threshold_bpm: int
    consecutive_readings: int
    measured_at: str
    device_id: str
    resolved_at: str | None = None


OrderStatus = Literal["completed", "upcoming", "due", "overdue"]


class OrderView(BaseModel):
    """One medication order's schedule, with its status at ``as_of``."""

    order_id: str
    medication_code: str
    status: OrderStatus
    due_at: str | None
    window_opens_at: str | None
    window_ends_at: str | None
    missed_flagged: bool
    last_administered_at: str
    last_administered_by: str
    last_outcome: str
    counts: dict[str, int]


class MedicationsView(BaseModel):
    """A patient's orders evaluated against the clock at ``as_of``."""

    patient_id: str
    as_of: str
    overdue: list[str]
    orders: list[OrderView]


class ComplianceFlagView(BaseModel):
    """A dose given outside its window, or not given at all."""

    kind: Literal["missed", "late", "early"]
    order_id: str
    medication_code: str | None
    due_at: str
    window_ends_at: str | None = None
    administered_at: str | None = None
    minutes_off_schedule: int | None = None
    detected_at: str | None = None


class AuditEntryView(BaseModel):
    """Who did what to which record, and when. No clinical values or text."""

    at: str
    actor: str
    actor_type: str
    action: str
    resource: str
    note_version: int | None = None
    content_sha256: str | None = None
    event_id: str
    source: str
    recorded_at: str


def _require_patient(state: StateReader, patient_id: str) -> None:
    # Every event of a patient writes an audit entry, so an empty audit trail means an unknown patient.
    if not state.query(patient_pk(patient_id), "AUDIT#", limit=1):
        raise ResourceNotFoundError("nothing has been recorded for this patient")


def _ints(item: dict[str, Any], *names: str) -> dict[str, int]:
    return {name: int(item.get(name, 0)) for name in names}


@api.get("/patients/{patient_id}/vitals", response_model=VitalsView)
def get_vitals(patient_id: PatientId, state: State) -> VitalsView:
    """The latest heart rate, the current abnormal streak and the open alert, if any."""
    item = state.get(patient_pk(patient_id), VITALS_HR)
    if item is None:
        raise ResourceNotFoundError("no vitals recorded for this patient")
    return VitalsView(
        patient_id=patient_id,
        last_bpm=int(item["last_bpm"]),
        last_measured_at=item["last_measured_at"],
        last_device_id=item["last_device_id"],
        abnormal_streak=int(item.get("streak", 0)),
        abnormal_direction=item.get("streak_kind"),
        open_alert_kind=item.get("open_alert_kind"),
        open_alert_severity=item.get("open_alert_severity"),
        **_ints(item, "readings", "late_readings"),
    )


@api.get("/patients/{patient_id}/alerts", response_model=list[AlertView])
def list_alerts(patient_id: PatientId, state: State, limit: Limit = 50) -> list[AlertView]:
    """Vital-sign alerts, newest first."""
    items = state.query(patient_pk(patient_id), "ALERT#", limit=limit, newest_first=True)
    if not items:
        _require_patient(state, patient_id)
    return [
        AlertView.model_validate({**i, **_ints(i, "bpm", "threshold_bpm", "consecutive_readings")})
        for i in items
    ]


def _order_status(order: dict[str, Any], now: datetime) -> tuple[OrderStatus, str | None, str | None]:
    if order.get("due_at") is None:
        return "completed", None, None
    due = parse_iso(order["due_at"])
    window = timedelta(minutes=int(order["window_minutes"]))
    opens, ends = due - window, due + window
    status: OrderStatus = "upcoming" if now < opens else "due" if now <= ends else "overdue"
    return status, iso(opens), iso(ends)


@api.get("/patients/{patient_id}/medications", response_model=MedicationsView)
def get_medications(
    patient_id: PatientId,
    state: State,
    now: Now,
) -> MedicationsView:
    """Every order's schedule, judged at ``as_of``: a dose whose window has closed is ``overdue``.

    This is the read-time half of compliance: the handlers flag a missed dose only when a later event of the
    same patient shows that its window has passed; this endpoint also catches a patient with no later event.
    """
    items = state.query(patient_pk(patient_id), "MED#", limit=1000)
    if not items:
        _require_patient(state, patient_id)
    orders = []
    for item in items:
        status, opens, ends = _order_status(item, now)
        orders.append(
            OrderView(
                order_id=item["order_id"],
                medication_code=item["medication_code"],
                status=status,
                due_at=item.get("due_at"),
                window_opens_at=opens,
                window_ends_at=ends,
                missed_flagged=item.get("due_at") is not None
                and item.get("flagged_due_at") == item["due_at"],
                last_administered_at=item["last_administered_at"],
                last_administered_by=item["last_administered_by"],
                last_outcome=item["last_outcome"],
                counts=_ints(
                    item, "administered_count", "on_time_count", "late_count", "early_count", "missed_count"
                ),
            )
        )
    return MedicationsView(
        patient_id=patient_id,
        as_of=iso(now),
        overdue=[o.order_id for o in orders if o.status == "overdue"],
        orders=orders,
    )


@api.get("/patients/{patient_id}/compliance", response_model=list[ComplianceFlagView])
def list_compliance_flags(
    patient_id: PatientId, state: State, limit: Limit = 100
) -> list[ComplianceFlagView]:
    """Missed, late and early doses, most recent due time first."""
    items = state.query(patient_pk(patient_id), "COMPLIANCE#", limit=limit, newest_first=True)
    if not items:
        _require_patient(state, patient_id)
    return [
        ComplianceFlagView.model_validate(
            {
                **i,
                "minutes_off_schedule": int(i["minutes_off_schedule"])
                if "minutes_off_schedule" in i
                else None,
            }
        )
        for i in items
    ]


@api.get("/patients/{patient_id}/audit", response_model=list[AuditEntryView])
def list_audit_trail(
    patient_id: PatientId, state: State, limit: Limit = 100, order: Literal["asc", "desc"] = "asc"
) -> list[AuditEntryView]:
    """The patient's audit trail in event-time order (``order=desc``: newest first)."""
    items = state.query(patient_pk(patient_id), "AUDIT#", limit=limit, newest_first=order == "desc")
    if not items:
        raise ResourceNotFoundError("nothing has been recorded for this patient")
    return [
        AuditEntryView.model_validate(
            {**i, "note_version": int(i["note_version"]) if "note_version" in i else None}
        )
        for i in items
    ]
