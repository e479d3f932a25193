"""The dev-profile embedded stack as the e2e walks through it (one API worker, one poller), and polling."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from plutus_dev.emulator.stack import LocalStack, StackConfig


def wait_for(probe: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    """Poll ``probe`` until it returns something truthy. The timeout only bounds a broken run."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.25)
    raise AssertionError(f"never {what}")


def dev_stack(prefix: str) -> Iterator[LocalStack]:
    """A dev-profile stack named ``<prefix><random>``, stopped when the generator closes (a fixture body)."""
    local = LocalStack(
        StackConfig(
            port=0,
            stack_name=f"{prefix}{uuid.uuid4().hex[:6]}",
            profile="dev",
            api_concurrency=1,
            consumer_pollers=1,
        )
    ).start()
    yield local
    local.stop()
