"""Healthcare event payloads. Patient data is sensitive: nothing here is ever logged."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from plutus.core.registry import EventModel
from plutus.domains.kit import AwareEventTime, Ident, PlannedTime

# Fields an EHR might put on a notes event that would carry the note itself. Declared only to be refused at
# ingest (422 naming the field), so clinical text never reaches the queue, the state table or a log.
NoteText = SkipJsonSchema[Any]


class HeartRateReadingV1(EventModel):
    """One heart-rate measurement from a bedside monitor or wearable."""

    event_type = "heart_rate_reading"
    schema_version = "1.0"
    ordering_key = "patient_id"
    restricted = "clinical"
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "patient_id": "pat_00417",
                    "device_id": "monitor_icu3_bed12",
                    "bpm": 128,
                    "measured_at": "2026-11-26T08:15:00Z",
                }
            ]
        }
    )

    patient_id: Ident
    device_id: Ident
    bpm: int = Field(ge=1, le=350)
    measured_at: AwareEventTime


class MedicationAdministeredV1(EventModel):
    """A dose given against a medication order; ``next_due_at`` carries the order's schedule forward."""

    event_type = "medication_administered"
    schema_version = "1.0"
    ordering_key = "patient_id"
    restricted = "clinical"
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "patient_id": "pat_00417",
                    "order_id": "ord_7731",
                    "medication_code": "rxnorm:197361",
                    "dose_mg": 5,
                    "route": "oral",
                    "administered_by": "nurse_0192",
                    "administered_at": "2026-11-26T08:02:00Z",
                    "next_due_at": "2026-11-26T16:00:00Z",
                }
            ]
        }
    )

    patient_id: Ident
    order_id: Ident
    medication_code: str = Field(min_length=1, max_length=64)
    dose_mg: float = Field(gt=0, le=100_000)
    route: Literal["oral", "iv", "im", "subcutaneous", "inhaled", "topical", "other"]
    administered_by: Ident
    administered_at: AwareEventTime
    # None: the order's course is complete (or the dose was PRN, as needed): nothing further is due.
    next_due_at: PlannedTime | None = None

    @model_validator(mode="after")
    def _next_dose_after_this_one(self) -> MedicationAdministeredV1:
        if self.next_due_at is not None and self.next_due_at <= self.administered_at:
            raise ValueError("next_due_at must be after administered_at")
        return self


class DoctorNotesUpdatedV1(EventModel):
    """A clinical note was created or revised. The event names the note; it never carries its text."""

    event_type = "doctor_notes_updated"
    schema_version = "1.0"
    ordering_key = "patient_id"
    restricted = "clinical"
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "patient_id": "pat_00417",
                    "note_id": "note_55120",
                    "note_version": 3,
                    "author_id": "dr_0031",
                    "author_role": "attending",
                    "updated_at": "2026-11-26T09:40:00Z",
                    "content_sha256": "9f2c4e1a7b3d5f6081a2c3d4e5f60718293a4b5c6d7e8f901a2b3c4d5e6f7a8b",
                }
            ]
        }
    )

    patient_id: Ident
    note_id: Ident
    note_version: int = Field(ge=1, le=1_000_000_000)
    author_id: Ident
    author_role: Literal["attending", "resident", "nurse_practitioner", "consultant", "other"]
    updated_at: AwareEventTime
    # The EHR's fingerprint of the version (fixed length: it reveals nothing about the note's size) lets an
    # auditor prove later that the version read is the version written.
    content_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")

    content: NoteText = Field(default=None, exclude=True)
    text: NoteText = Field(default=None, exclude=True)
    body: NoteText = Field(default=None, exclude=True)
    note: NoteText = Field(default=None, exclude=True)
    note_text: NoteText = Field(default=None, exclude=True)

    @field_validator("content", "text", "body", "note", "note_text", mode="before")
    @classmethod
    def _refuse_note_text(cls, value: Any) -> Any:
        if value is not None:
            raise ValueError("note text must never be sent to Plutus; send content_sha256 instead")
        return value
