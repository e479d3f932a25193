"""The ingest routes' reply bodies: one model each, used to build the reply and to document it (OpenAPI).

Framework-free (pydantic only): the Lambda hot path builds replies from these without importing FastAPI.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class EventAccepted(BaseModel):
    """Answer to an accepted (202) or replayed (200) event."""

    event_id: str


class BatchItemResult(BaseModel):
    """The outcome of one event of a batch."""

    index: int = Field(description="Position of the event in the request.")
    status: int = Field(
        description="202 new, 200 duplicate, 409 in progress (retry), 422 invalid or key reused with other "
        "content, 503 not queued (retry)."
    )
    event_id: str | None = Field(default=None, description="With 202 and 200.")
    error: dict[str, Any] | None = Field(
        default=None, description="Otherwise: the problem document the single endpoint would answer."
    )


class BatchIngestResponse(BaseModel):
    """One result per event, in request order."""

    results: list[BatchItemResult]


def body(reply: BaseModel) -> dict[str, Any]:
    """The JSON body of ``reply``: unset optional members are left out, not sent as null."""
    return reply.model_dump(mode="json", exclude_none=True)
