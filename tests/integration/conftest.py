"""Integration fixtures: a fresh template-provisioned stack per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from plutus_dev.emulator.resources import Emulator
from tests.integration.harness import Harness, harness


@pytest.fixture
def stack(emulator: Emulator) -> Iterator[Harness]:
    """Tables and queues from template.yaml (unique names), with both real handlers wired to them."""
    with harness(emulator.url, parameters={"MaxReceiveCount": "3"}) as h:
        yield h
