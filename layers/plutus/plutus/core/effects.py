"""Effects: the writes a handler asks for, as data.

Handlers never write to DynamoDB themselves. They return effects, and the consumer commits them in one
transaction together with the event's move to PROCESSED, whose condition (not already PROCESSED) is the
exactly-once marker: a redelivered or replayed event can never apply its effects twice.

:class:`EventNote` is the one effect that writes no item of its own: it lands on the event's own item, in the
very update that moves it to PROCESSED, so it needs no transaction and no extra write unit.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from plutus.core.errors import EffectRejectedError

Number = int | Decimal
NoteValue = int | Decimal | str | bool

# A note may name only attributes of its own namespace on the event's item: deny by default, so no handler can
# reach the event's status, id, ops-index keys, expiry, attempts, kept message or idempotency attributes (none
# of which starts with ``note_``; tests/unit/test_event_notes.py checks the events store's own names).
NOTE_PREFIX = "note_"
_NOTE_NAME = re.compile(r"^note_[a-z][a-z0-9_]{0,31}$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,39}$")
# The event's item is written on every event: a few short notes keep it under 1 KB (one write unit).
MAX_NOTE_ATTRIBUTES = 8
MAX_NOTE_TEXT = 128


@dataclass(frozen=True, slots=True)
class Put:
    """Write a whole item (create or replace). ``if_absent`` makes it create-only."""

    pk: str
    sk: str
    attributes: Mapping[str, Any]
    if_absent: bool = False


@dataclass(frozen=True, slots=True)
class Update:
    """Atomic update of one item.

    ``add`` increments numbers (creating them at 0), ``set`` overwrites, ``set_if_absent`` writes only missing
    attributes. ``expect_version`` turns it into an optimistic-concurrency write on the item's ``version``
    (0 means "the item must not exist yet"), for read-modify-write state such as rolling windows.
    ``condition`` names a numeric floor: ``("balance", 0)`` rejects the write if balance + delta < 0.
    """

    pk: str
    sk: str
    add: Mapping[str, Number] = field(default_factory=dict)
    set: Mapping[str, Any] = field(default_factory=dict)
    set_if_absent: Mapping[str, Any] = field(default_factory=dict)
    expect_version: int | None = None
    floor: tuple[str, Number] | None = None


@dataclass(frozen=True, slots=True)
class EventNote:
    """Attributes on the event's own item in the events table, written with its move to PROCESSED.

    The repository folds a note into the marker's update (the same ``UpdateExpression``, under the marker's
    condition), so it is applied exactly when the event is, once, without a second item. ``add`` increments
    numbers (from 0), ``set_if_absent`` writes attributes not there yet. Names must match
    ``note_[a-z][a-z0-9_]{0,31}``; values are numbers, booleans or strings of at most :data:`MAX_NOTE_TEXT`
    characters; at most :data:`MAX_NOTE_ATTRIBUTES` per event. Anything else is refused
    (:class:`EffectRejectedError`, permanent) when the note is made. A note lives as long as its event's item.
    """

    add: Mapping[str, Number] = field(default_factory=dict)
    set_if_absent: Mapping[str, NoteValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = [*self.add, *self.set_if_absent]
        if len(set(names)) != len(names):
            raise EffectRejectedError("a note names an attribute both to add to and to set")
        if len(names) > MAX_NOTE_ATTRIBUTES:
            raise EffectRejectedError(f"a note holds at most {MAX_NOTE_ATTRIBUTES} attributes")
        for name in names:
            if not isinstance(name, str) or not _NOTE_NAME.fullmatch(name):
                # Named only when it is a plain identifier: a name built from a payload must not leak it.
                shown = name if isinstance(name, str) and _IDENTIFIER.fullmatch(name) else "a name"
                raise EffectRejectedError(f"a note may only name note_ attributes: {shown} refused")
        for name, number in self.add.items():
            if isinstance(number, bool) or not isinstance(number, int | Decimal) or not _finite(number):
                raise EffectRejectedError(f"a note adds numbers only: {name} refused")
        for name, value in self.set_if_absent.items():
            if not isinstance(value, int | Decimal | str) or not _finite(value):  # bool is an int
                raise EffectRejectedError(
                    f"a note holds numbers, booleans and short text only: {name} refused"
                )
            if isinstance(value, str) and len(value) > MAX_NOTE_TEXT:
                raise EffectRejectedError(
                    f"a note's text is at most {MAX_NOTE_TEXT} characters: {name} refused"
                )


def _finite(value: NoteValue) -> bool:
    # DynamoDB stores no NaN or infinity.
    return not isinstance(value, Decimal) or value.is_finite()


StateEffect = Put | Update
Effect = Put | Update | EventNote


def fold_effects(effects: Iterable[Effect]) -> tuple[EventNote | None, list[StateEffect]]:
    """The event's notes as one (or ``None``), and the state-table effects in order.

    Notes combine as if applied one after another: counters add up, and the first ``set_if_absent`` of a name
    wins. The combined note is validated again (a name both added to and set, or too many attributes, is
    refused).
    """
    add: dict[str, Number] = {}
    set_if_absent: dict[str, NoteValue] = {}
    state: list[StateEffect] = []
    noted = False
    for effect in effects:
        if not isinstance(effect, EventNote):
            state.append(effect)
            continue
        noted = True
        for name, number in effect.add.items():
            add[name] = add.get(name, 0) + number
        for name, value in effect.set_if_absent.items():
            set_if_absent.setdefault(name, value)
    return (EventNote(add, set_if_absent) if noted else None), state


class StateReader(Protocol):
    """Read access to the state table that handlers get through their context."""

    def get(self, pk: str, sk: str) -> dict[str, Any] | None:
        """One item, or ``None``."""
        ...

    def query(
        self, pk: str, sk_prefix: str = "", *, limit: int = 100, newest_first: bool = False
    ) -> list[dict[str, Any]]:
        """Items of one partition whose sort key starts with ``sk_prefix``."""
        ...
