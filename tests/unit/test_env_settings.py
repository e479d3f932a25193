"""Settings read from the environment without pydantic-settings keep its rules: the same variable names (any
case), constructor values over the environment, JSON for collections, every value validated, unknown
fields refused, and a missing required name fails loudly."""

from __future__ import annotations

from typing import Annotated

import pytest
from pydantic import Field, ValidationError

from plutus.core.env_settings import EnvConfig, EnvSettings, NoDecode, environment_values
from plutus.domains.fintech.settings import FintechSettings
from plutus.domains.saas.settings import SaasSettings
from plutus.settings import Settings

REQUIRED = {
    "PLUTUS_EVENTS_TABLE": "events",
    "PLUTUS_STATE_TABLE": "state",
    "PLUTUS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/q",
}


class Knobs(EnvSettings):
    model_config = EnvConfig(env_prefix="TEST_KNOBS_")

    limit: int = Field(default=5, ge=1)
    names: tuple[str, ...] = ("a",)
    label: str | None = None


def test_the_core_settings_come_from_their_plutus_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PLUTUS_MAX_BATCH_EVENTS", "7")
    monkeypatch.setenv("PLUTUS_ALLOW_UNREGISTERED_TYPES", "true")
    monkeypatch.setenv("PLUTUS_AUTH_MODE", "IAM")
    settings = Settings.from_environment()
    assert (settings.events_table, settings.queue_url) == ("events", REQUIRED["PLUTUS_QUEUE_URL"])
    assert (settings.max_batch_events, settings.allow_unregistered_types, settings.auth_mode) == (
        7,
        True,
        "IAM",
    )


def test_a_missing_table_name_fails_at_init(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("PLUTUS_EVENTS_TABLE")
    with pytest.raises(ValidationError, match="events_table"):
        Settings.from_environment()


def test_an_invalid_value_is_refused_not_clamped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_KNOBS_LIMIT", "0")
    with pytest.raises(ValidationError, match="limit"):
        Knobs()


def test_names_match_in_any_case_and_constructor_values_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("test_knobs_limit", "9")
    monkeypatch.setenv("TEST_KNOBS_LABEL", "from-env")
    knobs = Knobs(label="given")
    assert (knobs.limit, knobs.label) == (9, "given")


def test_collections_are_json_and_bad_json_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLUTUS_SAAS_FEATURE_CATALOGUE", '["dashboards", "exports"]')
    monkeypatch.setenv("PLUTUS_FINTECH_KYC_REQUIRED", '["identity"]')
    assert SaasSettings().feature_catalogue == ("dashboards", "exports")
    assert FintechSettings().kyc_required == ("identity",)
    monkeypatch.setenv("TEST_KNOBS_NAMES", "a,b")
    with pytest.raises(ValueError, match="TEST_KNOBS_NAMES must be JSON"):
        Knobs()


def test_an_empty_variable_is_a_value_that_validation_judges(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_KNOBS_LABEL", "")
    assert Knobs().label == ""
    assert environment_values(Knobs, {"TEST_KNOBS_LIMIT": "3", "OTHER": "x"}) == {"limit": "3"}


def test_unknown_fields_are_refused_and_settings_are_frozen() -> None:
    with pytest.raises(ValidationError, match="extra"):
        Knobs(limits=3)
    with pytest.raises(ValidationError, match="frozen"):
        Knobs().limit = 2  # type: ignore[misc]


class Raw(EnvSettings):
    model_config = EnvConfig(env_prefix="TEST_RAW_")

    table: Annotated[dict[str, int], NoDecode] = Field(default_factory=dict)


def test_a_nodecode_collection_reaches_validation_as_its_string(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_RAW_TABLE", "")
    assert environment_values(Raw) == {"table": ""}
    monkeypatch.setenv("PLUTUS_WEBHOOK_SOURCES", "")  # main's validator reads "" as no sources
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)
    assert Settings.from_environment().webhook_sources == {}
