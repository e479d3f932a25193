"""What bulk replay and filtered redrive share: a rate limit, a clean stop on a signal, a priced plan.

Pure helpers (no AWS client): the token bucket and the estimate are unit-tested with a fake clock and
figures; the commands wire them to SQS and DynamoDB.
"""

from __future__ import annotations

import math
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from boto3.dynamodb.types import Binary

from plutus_dev.prices import PRICES

MILLION = 1_000_000
# Billing units: SQS bills each 64 KB chunk of a request as one request; DynamoDB reads 4 KB per unit (half a
# unit eventually consistent) and writes 1 KB per unit.
SQS_CHUNK = 65_536
READ_UNIT = 4_096
WRITE_UNIT = 1_024


class TokenBucket:
    """``rate`` takes per second on average, ``burst`` at once; a take sleeps until a token is due.

    It sleeps on ``wait`` (``threading.Event.wait`` in the commands), so a signal that sets the event ends the
    sleep at once: no busy wait, and no waiting out the bucket after Ctrl-C.
    """

    def __init__(
        self,
        rate: float | None,
        *,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        wait: Callable[[float], bool] | None = None,
    ) -> None:
        if rate is not None and rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate or 1.0)
        self.clock = clock
        self.wait = wait or _sleep
        self.tokens = self.burst
        self.stamp = clock()

    def take(self) -> bool:
        """Take one token, sleeping until one is due; ``False`` if the wait was cut short (a stop)."""
        if self.rate is None:
            return True
        self._refill()
        if self.tokens < 1:
            if self.wait((1 - self.tokens) / self.rate):
                return False
            self._refill()
        self.tokens -= 1
        return True

    def _refill(self) -> None:
        now = self.clock()
        assert self.rate is not None
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now


def _sleep(seconds: float) -> bool:
    time.sleep(seconds)
    return False


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """An event that SIGINT (Ctrl-C) and SIGTERM set instead of killing the run, so it ends between items.

    Outside the main thread (where Python cannot install handlers) the event is only set by the caller.
    """
    stop = threading.Event()
    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda *_: stop.set())
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def interactive() -> bool:
    """Whether stdin is a terminal a person can answer from (never true for a pipe, cron or CI)."""
    return sys.stdin is not None and sys.stdin.isatty()


@dataclass
class Estimate:
    """The AWS requests a run will make, the units they bill, and their price (plutus_dev.prices)."""

    calls: Counter[str] = field(default_factory=Counter)
    read_units: float = 0.0
    write_units: float = 0.0
    sqs_billed: int = 0

    def read(self, api: str, item_bytes: list[int], *, consistent: bool) -> None:
        """One read request over items of these sizes (each rounded up to 4 KB, as DynamoDB bills them)."""
        self.calls[f"dynamodb.{api}"] += 1
        units = sum(max(1, math.ceil(b / READ_UNIT)) for b in item_bytes) or 1
        self.read_units += units if consistent else units / 2

    def query(self, scanned_bytes: int) -> None:
        """One ``Query`` page: DynamoDB bills the scanned range (before any filter) as a whole, by 4 KB."""
        self.calls["dynamodb.Query"] += 1
        self.read_units += max(1, math.ceil(scanned_bytes / READ_UNIT)) / 2

    def write(self, api: str, item_bytes: int) -> None:
        """One single-item write (a whole-item rewrite is billed by 1 KB of the item)."""
        self.calls[f"dynamodb.{api}"] += 1
        self.write_units += max(1, math.ceil(item_bytes / WRITE_UNIT))

    def sqs(self, api: str, payload_bytes: int = 0) -> None:
        """One SQS request (a send with a body billed by 64 KB chunk)."""
        self.calls[f"sqs.{api}"] += 1
        self.sqs_billed += max(1, math.ceil(payload_bytes / SQS_CHUNK))

    @property
    def requests(self) -> int:
        return sum(self.calls.values())

    @property
    def usd(self) -> float:
        return (
            self.read_units * PRICES["dynamodb_per_million_rru"]
            + self.write_units * PRICES["dynamodb_per_million_wru"]
            + self.sqs_billed * PRICES["sqs_per_million_requests"]
        ) / MILLION

    def lines(self) -> list[str]:
        """Human lines: each API's calls, then units and price."""
        out = [f"{api}: {n}" for api, n in sorted(self.calls.items())]
        out.append(
            f"DynamoDB {self.read_units:g} read units, {self.write_units:g} write units; "
            f"SQS {self.sqs_billed} billed request(s)"
        )
        out.append(f"estimated cost: ${self.usd:.6f} (on-demand list prices, us-east-1)")
        return out


def item_bytes(item: dict[str, Any]) -> int:
    """An item's size as DynamoDB counts it (names plus values), from its plain values."""
    size = 0
    for name, value in item.items():
        size += len(name.encode())
        if isinstance(value, Binary):
            size += len(value.value)  # type: ignore[attr-defined]  # boto3 stubs omit it
        elif isinstance(value, bytes | bytearray):
            size += len(value)
        elif isinstance(value, str):
            size += len(value.encode())
        else:
            size += len(str(value)) // 2 + 1  # numbers: about one byte per two digits
    return size


def iso(moment: datetime) -> str:
    """A UTC instant as the events table writes ``received_at``."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
