"""Which SQS message group an event's message joins (template parameter ``QueueMode``).

- On a FIFO queue the group is the value of the payload field the event's type orders by (its model's
  ``ordering_key``: an account, a vehicle, a package): SQS delivers one group's messages in order, one batch
  at a time, and groups in parallel. An untyped event, or a type that declares no field, is ordered by source.
- On a standard queue the group is the source: SQS fair queues keep one flooding producer from raising the
  others' dwell time. Standard queues never order.

Pure functions: ingest, batch ingest and the operator's replay derive the same group for the same event.
"""

from __future__ import annotations

import hashlib
import string
from typing import Any, Literal

from plutus.core.errors import InvalidEventError
from plutus.core.registry import Registry
from plutus.core.storable import dotted, json_pointer

QueueMode = Literal["standard", "fifo"]

# SQS: a MessageGroupId is 1 to 128 characters, alphanumeric or ASCII punctuation (no space, no Unicode).
MAX_GROUP_ID = 128
_ALLOWED = frozenset(string.ascii_letters + string.digits + string.punctuation)
HASHED_PREFIX = "sha256:"


def message_group_id(value: str) -> str:
    """``value`` itself when SQS takes it as a ``MessageGroupId``, else ``sha256:`` and its hex digest.

    Deterministic, so one key always lands in one group. A hashed value can only ever share its group with
    a key of the same digest (or a raw value spelling that digest): a shared group orders more, never less.
    """
    if 0 < len(value) <= MAX_GROUP_ID and all(ch in _ALLOWED for ch in value):
        return value
    return HASHED_PREFIX + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def ordering_value(payload: dict[str, Any], field: str) -> str | None:
    """The payload's ordering key as text, or ``None`` if it is missing, empty or not a string or integer."""
    value = payload.get(field)
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    text = str(value)
    return text or None


def message_group(
    source: str,
    event_type: str | None,
    schema_version: str,
    payload: dict[str, Any],
    registry: Registry,
    mode: QueueMode,
) -> str:
    """The ``MessageGroupId`` of one event's message in ``mode``.

    Raises :class:`InvalidEventError` (a 422 naming the field) on FIFO when the type's ordering field is
    missing: such an event has no place in any order, and guessing one would order it wrongly.
    """
    if mode == "standard" or event_type is None:
        return message_group_id(source)
    field = registry.ordering_key(event_type, schema_version)
    if field is None:
        return message_group_id(source)
    value = ordering_value(payload, field)
    if value is None:
        path = ("payload", field)
        raise InvalidEventError(
            "the event lacks the field it is ordered by",
            [
                {
                    "field": dotted(path),
                    "pointer": json_pointer(path),
                    "message": f"{event_type} events are ordered by {field}: a non-empty string or integer",
                }
            ],
        )
    return message_group_id(value)
