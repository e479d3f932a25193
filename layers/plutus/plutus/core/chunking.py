"""Split a sequence into the calls of a batch API: at most N entries and B bytes per call, in order."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol


class Sized(Protocol):
    @property
    def size(self) -> int: ...


def calls[T: Sized](entries: Iterable[T], max_entries: int, max_bytes: int) -> Iterator[list[T]]:
    """``entries`` grouped in order, each group at most ``max_entries`` long and ``max_bytes`` in total
    ``size`` (an entry larger than ``max_bytes`` goes alone: the API refuses it, as it would anyway)."""
    call: list[T] = []
    total = 0
    for entry in entries:
        if call and (len(call) == max_entries or total + entry.size > max_bytes):
            yield call
            call, total = [], 0
        call.append(entry)
        total += entry.size
    if call:
        yield call
