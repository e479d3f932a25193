"""Each pack owns its settings: a typed model per pack, named in the environment exactly as before
(``PLUTUS_<PACK>_<NAME>``), validated once per execution environment and at the consumer's init."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from plutus.consumer.processor import Consumer
from plutus.core.pack_settings import PackSettings
from plutus.core.registry import EventContext
from plutus.domains import PACKS, build_registry
from plutus.domains.fintech.settings import FintechSettings
from plutus.domains.healthcare.settings import HealthcareSettings
from plutus.settings import Settings
from tests.fakes import FakeState, settings


def test_every_pack_declares_a_settings_model_prefixed_with_its_domain() -> None:
    registry = build_registry()
    prefixes = {str(m.model_config.get("env_prefix")) for m in registry.settings_models}
    assert prefixes == {f"PLUTUS_{name.upper()}_" for name in PACKS}


def test_the_core_settings_hold_no_pack_knob() -> None:
    domains = tuple(f"{name}_" for name in PACKS)
    assert not [name for name in Settings.model_fields if name.startswith(domains)]


def test_a_pack_setting_keeps_its_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLUTUS_FINTECH_OVERDRAFT_LIMIT", "250")
    monkeypatch.setenv("PLUTUS_FINTECH_KYC_REQUIRED", '["identity"]')
    loaded = PackSettings.load([FintechSettings]).get(FintechSettings)
    assert (loaded.overdraft_limit, loaded.kyc_required) == (250, ("identity",))


def test_a_context_hands_a_handler_its_packs_settings_once_per_environment() -> None:
    packs = PackSettings(FintechSettings(overdraft_limit=7))
    ctx = EventContext("e", "s", "t", "1.0", "2026-11-26T08:00:00.000000Z", FakeState(), settings(), packs)
    assert ctx.settings_of(FintechSettings).overdraft_limit == 7
    # a model nobody loaded is read from the environment on first use, then kept
    assert ctx.settings_of(HealthcareSettings) is ctx.settings_of(HealthcareSettings)


def test_a_bad_pack_setting_fails_the_consumer_at_init(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given heart-rate ranges that do not nest (the pack's own cross-field rule)
    monkeypatch.setenv("PLUTUS_HEALTHCARE_HR_LOW_BPM", "130")
    # When the consumer of an environment is built, then it refuses to start
    with pytest.raises(ValidationError, match="heart-rate ranges must nest"):
        Consumer(settings(), build_registry(), events=None, state=FakeState())  # type: ignore[arg-type]
