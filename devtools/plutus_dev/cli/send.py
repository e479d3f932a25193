"""What ``plutus send`` sends: an envelope file, a sample under ``events/`` by type name, or a raw body.

Plain functions; ``send_commands`` prints. ``events/*.json`` are API Gateway events (what ``sam local invoke``
takes), so their ``body`` is the envelope.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from plutus_dev.emulator.template import ROOT

EVENTS_DIR = ROOT / "events"
# Envelopes of the embedded stack's dev-only types (plutus_dev.emulator.dev_events), sendable by name too.
DEV_SAMPLES_DIR = Path(__file__).resolve().parents[1] / "emulator" / "samples"
INGEST_PATH = "/api/v1/ingest"
BATCH_PATH = "/api/v1/ingest/batch"


class SendError(Exception):
    """An argument is neither a file, a sample name nor a JSON body."""


def sample_names(directory: Path = EVENTS_DIR) -> list[str]:
    """The ingest samples (``events/<name>.json`` with an ingest body), then the dev-only ones."""
    names = []
    for path in sorted(directory.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            continue
        if isinstance(data, dict) and data.get("path") == INGEST_PATH and data.get("body"):
            names.append(path.stem)
    return names + sorted(p.stem for p in DEV_SAMPLES_DIR.glob("*.json"))


def body_of(text: str) -> str:
    """The request body in ``text``: an API Gateway event's ``body``, or ``text`` itself."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise SendError(f"not JSON: {exc}") from None
    if isinstance(data, dict) and "httpMethod" in data and "body" in data:
        raw = data["body"] or ""
        return base64.b64decode(raw).decode() if data.get("isBase64Encoded") else str(raw)
    return text


def load(argument: str, directory: Path = EVENTS_DIR) -> str:
    """The body ``argument`` stands for: a raw JSON body, a file, or a sample name under ``events/``."""
    if argument.lstrip().startswith("{"):
        return body_of(argument)
    path = Path(argument)
    if path.is_file():
        return body_of(path.read_text(encoding="utf-8"))
    for folder in (directory, DEV_SAMPLES_DIR):
        sample = folder / f"{argument.removesuffix('.json')}.json"
        if sample.is_file():
            text = sample.read_text(encoding="utf-8")
            return redated(body_of(text), json.loads(text).get("requestContext", {}).get("requestTimeEpoch"))
    known = ", ".join(sample_names(directory)) or "none"
    raise SendError(f"{argument!r} is not a JSON body, a file, or a sample under {directory}/ ({known})")


def redated(body: str, received_ms: Any) -> str:
    """A sample's body with its payload times moved on by as long as now is past the receive time the sample
    claims: ingest refuses event times more than 7 days old (plutus/core/times.py), and a sample should work
    whenever it is sent."""
    data = json.loads(body)
    payload = data.get("payload") if isinstance(data, dict) else None
    if not isinstance(received_ms, int) or not isinstance(payload, dict):
        return body
    shift = datetime.now(UTC) - datetime.fromtimestamp(received_ms / 1000, UTC)
    for name, value in payload.items():
        if isinstance(value, str) and name.endswith(("_at", "_by")):
            try:
                payload[name] = (datetime.fromisoformat(value) + shift).isoformat()
            except ValueError:
                continue
    return json.dumps(data)


def with_new_key(body: str) -> str:
    """``body`` with a fresh ``idempotency_key``: sent again, it is a new event, not a duplicate."""
    data = json.loads(body)
    if isinstance(data, dict):
        data["idempotency_key"] = f"cli_{uuid.uuid4().hex}"
    return json.dumps(data)


@dataclass(frozen=True)
class Sent:
    """The answer to one event."""

    status: int
    event_id: str | None
    replayed: bool
    problem: dict[str, Any] | None = None


def send_one(client: httpx.Client, body: str) -> Sent:
    """POST one envelope to ``/api/v1/ingest``."""
    response = client.post(INGEST_PATH, content=body, headers={"Content-Type": "application/json"})
    data = _json(response)
    replayed = response.headers.get("Idempotent-Replayed", "").lower() == "true"
    if response.status_code in {200, 202}:
        return Sent(response.status_code, data.get("event_id"), replayed)
    return Sent(response.status_code, None, replayed, data)


def send_batch(client: httpx.Client, bodies: list[str]) -> tuple[int, list[Sent]]:
    """POST every envelope in one ``/api/v1/ingest/batch`` request: (HTTP status, one result per event)."""
    payload = json.dumps({"events": [json.loads(b) for b in bodies]})
    response = client.post(BATCH_PATH, content=payload, headers={"Content-Type": "application/json"})
    data = _json(response)
    if response.status_code != 200 or "results" not in data:
        return response.status_code, [Sent(response.status_code, None, False, data)]
    return 200, [
        Sent(r["status"], r.get("event_id"), r["status"] == 200, r.get("error")) for r in data["results"]
    ]


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {"detail": response.text[:200]}
    return data if isinstance(data, dict) else {"detail": str(data)[:200]}
