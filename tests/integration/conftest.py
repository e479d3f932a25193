"""Integration fixtures: a fresh template-provisioned stack per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from plutus_dev.emulator.resources import Emulator
from plutus_dev.faults.proxy import FaultProxy
from tests.integration.harness import Harness, harness


@pytest.fixture
def stack(emulator: Emulator) -> Iterator[Harness]:
    """Tables and queues from template.yaml (unique names), with both real handlers wired to them."""
    with harness(emulator.url, parameters={"MaxReceiveCount": "3"}) as h:
        yield h


@pytest.fixture
def proxy(emulator: Emulator) -> Iterator[FaultProxy]:
    """A fault proxy in front of the emulator: it counts every call, and injects only the rules a test adds
    (a held connection times out after 2.5 s)."""
    with FaultProxy(emulator.url, timeout_hold=2.5) as p:
        yield p


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The number of hypothesis examples each property test ran (reported with the issue)."""
    lines = [
        f"{report.nodeid}: {value} examples"
        for report in terminalreporter.stats.get("passed", [])
        for key, value in getattr(report, "user_properties", ())
        if key == "hypothesis_examples"
    ]
    if lines:
        terminalreporter.write_sep("-", "hypothesis examples run")
        for line in lines:
            terminalreporter.write_line(line)
