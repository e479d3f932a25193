"""Healthcare processors: vital-sign alerts, care-pathway (medication) compliance and the audit trail.

Patient data is sensitive: these handlers never log, and the audit trail holds who did what and when, never a
clinical value or text. State keys (one partition per patient, so a patient's reads are single queries):

- ``HC#PATIENT#<id>`` / ``VITALS#HR``: last reading, abnormal streak, the open alert (versioned).
- ``HC#PATIENT#<id>`` / ``ALERT#<time>#<event_id>``: one per alert raised; ``resolved_at`` set on recovery.
- ``HC#PATIENT#<id>`` / ``MED#<order_id>``: an order's schedule: next ``due_at`` and its window (versioned).
- ``HC#PATIENT#<id>`` / ``COMPLIANCE#<due_at>#<order_id>#<kind>``: a missed, late or early dose.
- ``HC#PATIENT#<id>`` / ``AUDIT#<time>#<event_id>``: append-only (create-only writes), time-ordered.
- ``HC#PATIENT#<id>`` / ``NOTE#<note_id>#<version>``: binds a note version to its first event (author and
  fingerprint), so a resent version is audited once and a different one is a conflict.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

from plutus.core.effects import Effect, Put, Update
from plutus.core.registry import EventContext, Router
from plutus.domains.healthcare.models import (
    DoctorNotesUpdatedV1,
    HeartRateReadingV1,
    MedicationAdministeredV1,
)
from plutus.domains.healthcare.settings import HealthcareSettings
from plutus.domains.kit import bind_business_id, event_time, iso, parse_iso, version_of

router = Router("healthcare", settings=HealthcareSettings)

VITALS_HR = "VITALS#HR"
SEVERITY_RANK = {"warning": 1, "critical": 2}
# Each missed dose costs two effects (flag + schedule); this keeps one event inside one transaction (99
# effects). Orders beyond it are flagged by the patient's next event, and the read endpoint shows them anyway.
MAX_MISSED_FLAGS_PER_EVENT = 40


def patient_pk(patient_id: str) -> str:
    """The partition of one patient."""
    return f"HC#PATIENT#{patient_id}"


def _audit(
    ctx: EventContext, patient_id: str, at: datetime, actor: str, actor_type: str, action: str, **refs: Any
) -> Put:
    # Create-only: an audit entry, once written, can never be overwritten.
    return Put(
        patient_pk(patient_id),
        f"AUDIT#{iso(at)}#{ctx.event_id}",
        {
            "at": iso(at),
            "actor": actor,
            "actor_type": actor_type,
            "action": action,
            "event_id": ctx.event_id,
            "source": ctx.source,
            "recorded_at": ctx.received_at,
            **refs,
        },
        if_absent=True,
    )


def _window_end(order: dict[str, Any]) -> datetime:
    return parse_iso(order["due_at"]) + timedelta(minutes=int(order["window_minutes"]))


def flag_missed_doses(
    ctx: EventContext, patient_id: str, now: datetime, skip_order: str | None = None
) -> Iterator[Effect]:
    """Flag every order whose dose window closed before ``now`` (event time) without a dose.

    Runs on every event of the patient: any later event is evidence that the patient's clock has passed the
    window. ``skip_order`` is the order the current event administers (its own handler judges that dose).
    """
    pk = patient_pk(patient_id)
    orders = ctx.state.query(pk, "MED#", limit=ctx.settings_of(HealthcareSettings).max_orders_per_patient)
    flagged = 0
    for order in orders:
        due = order.get("due_at")
        if due is None or order["order_id"] == skip_order or order.get("flagged_due_at") == due:
            continue
        if now <= _window_end(order) or flagged >= MAX_MISSED_FLAGS_PER_EVENT:
            continue
        flagged += 1
        yield Put(
            pk,
            f"COMPLIANCE#{due}#{order['order_id']}#missed",
            {
                "kind": "missed",
                "order_id": order["order_id"],
                "medication_code": order.get("medication_code"),
                "due_at": due,
                "window_ends_at": iso(_window_end(order)),
                "detected_at": iso(now),
                "detected_by_event": ctx.event_id,
            },
        )
        yield Update(
            pk,
            order["sk"],
            set={"flagged_due_at": due},
            add={"missed_count": 1},
            expect_version=version_of(order),
        )


def _classify(bpm: int, settings: HealthcareSettings) -> tuple[str | None, bool]:
    """(``"high"``/``"low"``/``None``, critical?) of one reading against the configured ranges."""
    if bpm > settings.hr_high_bpm:
        return "high", bpm >= settings.hr_critical_high_bpm
    if bpm < settings.hr_low_bpm:
        return "low", bpm <= settings.hr_critical_low_bpm
    return None, False


def _alert(
    ctx: EventContext, event: HeartRateReadingV1, at: datetime, kind: str, severity: str, streak: int
) -> Put:
    s = ctx.settings_of(HealthcareSettings)
    threshold = {
        ("high", "warning"): s.hr_high_bpm,
        ("high", "critical"): s.hr_critical_high_bpm,
        ("low", "warning"): s.hr_low_bpm,
        ("low", "critical"): s.hr_critical_low_bpm,
    }[(kind, severity)]
    return Put(
        patient_pk(event.patient_id),
        f"ALERT#{iso(at)}#{ctx.event_id}",
        {
            "kind": f"heart_rate_{kind}",
            "severity": severity,
            "bpm": event.bpm,
            "threshold_bpm": threshold,
            "consecutive_readings": streak,
            "measured_at": iso(at),
            "device_id": event.device_id,
            "event_id": ctx.event_id,
        },
    )


def _vitals_effects(event: HeartRateReadingV1, ctx: EventContext, at: datetime) -> Iterator[Effect]:
    pk = patient_pk(event.patient_id)
    state = ctx.state.get(pk, VITALS_HR)
    kind, critical = _classify(event.bpm, ctx.settings_of(HealthcareSettings))
    if state is not None and at <= parse_iso(state["last_measured_at"]):
        # A reading that arrives after a newer one: it cannot change the streak, but a critical value is
        # still worth an alert (a clinician must see it even late).
        if kind is not None and critical:
            yield _alert(ctx, event, at, kind, "critical", 1)
        yield Update(pk, VITALS_HR, add={"readings": 1, "late_readings": 1})
        return

    previous_kind = state.get("streak_kind") if state else None
    streak = int(state.get("streak", 0)) + 1 if state and kind is not None and previous_kind == kind else 1
    streak = streak if kind is not None else 0
    severity: str | None = None
    if critical:
        severity = "critical"
    elif streak >= ctx.settings_of(HealthcareSettings).hr_sustained_readings:
        severity = "warning"
    open_sk = state.get("open_alert_sk") if state else None
    open_kind = state.get("open_alert_kind") if state else None
    open_severity = state.get("open_alert_severity") if state else None

    changes: dict[str, Any] = {
        "patient_id": event.patient_id,
        "last_bpm": event.bpm,
        "last_measured_at": iso(at),
        "last_device_id": event.device_id,
        "streak": streak,
        "streak_kind": kind,
    }
    raise_alert = severity is not None and (
        open_sk is None
        or open_kind != kind
        or SEVERITY_RANK[severity] > SEVERITY_RANK.get(str(open_severity), 0)
    )
    if raise_alert and severity is not None and kind is not None:
        alert = _alert(ctx, event, at, kind, severity, streak)
        yield alert
        changes |= {"open_alert_sk": alert.sk, "open_alert_kind": kind, "open_alert_severity": severity}
    if open_sk is not None and (kind != open_kind or raise_alert):
        # No longer abnormal in the alert's direction, or superseded by an escalated alert.
        yield Update(pk, str(open_sk), set={"resolved_at": iso(at)})
        if not raise_alert:
            changes |= {"open_alert_sk": None, "open_alert_kind": None, "open_alert_severity": None}
    yield Update(pk, VITALS_HR, set=changes, add={"readings": 1}, expect_version=version_of(state))


@router.on(HeartRateReadingV1)
def handle_record_heart_rate(event: HeartRateReadingV1, ctx: EventContext) -> Iterable[Effect]:
    """Alert on abnormal heart rate (critical at once, out-of-range after N consecutive readings)."""
    at = event_time(event.measured_at, ctx)
    yield from _vitals_effects(event, ctx, at)
    yield from flag_missed_doses(ctx, event.patient_id, at)
    yield _audit(
        ctx,
        event.patient_id,
        at,
        event.device_id,
        "device",
        "vitals.heart_rate.recorded",
        resource="heart_rate",
    )


def _dose_outcome(order: dict[str, Any] | None, at: datetime) -> tuple[str, int]:
    """How a dose at ``at`` relates to the order's due time: (outcome, minutes off schedule)."""
    if order is None or order.get("due_at") is None:
        return "unscheduled", 0
    due = parse_iso(order["due_at"])
    window = timedelta(minutes=int(order["window_minutes"]))
    offset = int((at - due).total_seconds() // 60)
    if at < due - window:
        return "early", offset
    if at > due + window:
        return "late", offset
    return "on_time", offset


@router.on(MedicationAdministeredV1)
def handle_record_medication(event: MedicationAdministeredV1, ctx: EventContext) -> Iterable[Effect]:
    """Judge the dose against its order's schedule, carry the schedule forward, flag other missed doses."""
    at = event_time(event.administered_at, ctx)
    pk = patient_pk(event.patient_id)
    sk = f"MED#{event.order_id}"
    order = ctx.state.get(pk, sk)
    last = order.get("last_administered_at") if order else None
    if last is not None and at <= parse_iso(last):
        # An older dose arriving after a newer one: counted, but it must not move the schedule back.
        yield Update(pk, sk, add={"administered_count": 1}, expect_version=version_of(order))
    else:
        outcome, offset = _dose_outcome(order, at)
        if outcome in ("late", "early") and order is not None:
            yield Put(
                pk,
                f"COMPLIANCE#{order['due_at']}#{event.order_id}#{outcome}",
                {
                    "kind": outcome,
                    "order_id": event.order_id,
                    "medication_code": event.medication_code,
                    "due_at": order["due_at"],
                    "administered_at": iso(at),
                    "minutes_off_schedule": offset,
                    "detected_by_event": ctx.event_id,
                },
            )
        next_due = iso(event.next_due_at) if event.next_due_at is not None else None
        yield Update(
            pk,
            sk,
            set={
                "order_id": event.order_id,
                "medication_code": event.medication_code,
                "last_administered_at": iso(at),
                "last_administered_by": event.administered_by,
                "last_outcome": outcome,
                "due_at": next_due,
                "window_minutes": ctx.settings_of(HealthcareSettings).dose_window_minutes,
                "status": "scheduled" if next_due else "completed",
            },
            add={"administered_count": 1, f"{outcome}_count": 1},
            expect_version=version_of(order),
        )
    yield from flag_missed_doses(ctx, event.patient_id, at, skip_order=event.order_id)
    yield _audit(
        ctx,
        event.patient_id,
        at,
        event.administered_by,
        "staff",
        "medication.administered",
        resource=f"order/{event.order_id}",
    )


@router.on(DoctorNotesUpdatedV1)
def handle_audit_note_update(event: DoctorNotesUpdatedV1, ctx: EventContext) -> Iterable[Effect]:
    """Audit who changed which note version when (never its text); the event also advances the dose clock."""
    at = event_time(event.updated_at, ctx)
    yield from flag_missed_doses(ctx, event.patient_id, at)
    # A note version is bound to its first event: resent by the EHR under a new key it is audited once;
    # another author or fingerprint for the same version is a conflict an auditor must see, never an entry.
    marker = bind_business_id(
        ctx,
        patient_pk(event.patient_id),
        f"NOTE#{event.note_id}#{event.note_version}",
        kind="note_version",
        content={"author_id": event.author_id, "content_sha256": event.content_sha256},
        at=at,
    )
    if marker is None:
        return
    yield marker
    refs: dict[str, Any] = {"resource": f"note/{event.note_id}", "note_version": event.note_version}
    if event.content_sha256 is not None:
        refs["content_sha256"] = event.content_sha256
    action = "note.created" if event.note_version == 1 else "note.revised"
    yield _audit(ctx, event.patient_id, at, event.author_id, event.author_role, action, **refs)
