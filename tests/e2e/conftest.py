"""e2e: black-box HTTP against a running stack.

By default the embedded stack is started on free ports. Set ``PLUTUS_API_URL`` to test a deployed stack
instead (``make e2e PLUTUS_API_URL=https://....execute-api....amazonaws.com/v1``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest

from plutus_dev.emulator import free_port
from plutus_dev.stack import LocalStack, StackConfig


@pytest.fixture(scope="session")
def local_stack() -> Iterator[LocalStack | None]:
    """The embedded stack, unless a deployed stack's URL was given."""
    if os.environ.get("PLUTUS_API_URL"):
        yield None
        return
    stack = LocalStack(
        StackConfig(
            port=free_port(),
            emulator_port=free_port(),
            api_concurrency=2,
            consumer_pollers=2,
            stack_name="e2e",
        )
    )
    stack.start()
    yield stack
    stack.stop()


@pytest.fixture(scope="session")
def api_url(local_stack: LocalStack | None) -> str:
    return os.environ.get("PLUTUS_API_URL") or local_stack.url  # type: ignore[union-attr]


@pytest.fixture
def api(api_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api_url, timeout=30) as client:
        yield client
