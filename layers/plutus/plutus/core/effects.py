"""Effects: the writes a handler asks for, as data.

Handlers never write to DynamoDB themselves. They return effects, and the consumer commits them in one
transaction together with the event's move to PROCESSED, whose condition (not already PROCESSED) is the
exactly-once marker: a redelivered or replayed event can never apply its effects twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

Number = int | Decimal


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


Effect = Put | Update


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
