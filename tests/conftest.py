"""Shared fixtures: one moto server per test session, over HTTP, like any AWS endpoint."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from plutus_dev.emulator.resources import LOCAL_CREDENTIALS, Emulator, start_emulator

# Credentials for the emulator only; never real ones. Against a deployed stack (PLUTUS_API_URL) the e2e tests
# use the caller's own AWS configuration (profile, region) to read stack outputs and sign requests.
if not os.environ.get("PLUTUS_API_URL"):
    for _key, _value in LOCAL_CREDENTIALS.items():
        os.environ.setdefault(_key, _value)
# What template.yaml's Globals give every function, set before anything imports plutus.observability.
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "plutus")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Plutus")
os.environ["POWERTOOLS_TRACE_DISABLED"] = "true"
os.environ.setdefault("POWERTOOLS_DEV", "false")


@pytest.fixture(scope="session")
def emulator() -> Iterator[Emulator]:
    """A moto server on a free loopback port, in its own process."""
    emu = start_emulator()
    yield emu
    emu.stop()
