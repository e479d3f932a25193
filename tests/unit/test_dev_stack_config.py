"""make dev's configuration: the dev profile, and which shell settings reach the functions."""

from __future__ import annotations

import pytest

from plutus_dev.emulator.stack import (
    PROFILES,
    StackConfig,
    StackError,
    config_from_environment,
    shell_settings,
)
from plutus_dev.emulator.template import default_parameters, load_template


def test_make_dev_runs_the_dev_profile_on_short_retries() -> None:
    config = config_from_environment({"PLUTUS_PORT": "3999"})

    parameters = default_parameters(load_template(), config.effective_parameters())

    assert config.profile == "dev"
    assert parameters["QueueVisibilityTimeoutSeconds"] == "5"
    assert parameters["MaxReceiveCount"] == "2"
    assert "plutus_dev.emulator.dev_events:install" in PROFILES["dev"].setup


def test_the_template_profile_keeps_the_deployed_defaults() -> None:
    config = config_from_environment({"PLUTUS_PORT": "3999", "PLUTUS_PROFILE": "template"})

    parameters = default_parameters(load_template(), config.effective_parameters())

    assert (parameters["QueueVisibilityTimeoutSeconds"], parameters["MaxReceiveCount"]) == ("180", "5")
    assert PROFILES["template"].setup == ()


def test_parameter_overrides_beat_the_profile() -> None:
    config = config_from_environment(
        {"PLUTUS_PORT": "3999", "PLUTUS_PARAMETERS": "MaxReceiveCount=3 LogLevel=DEBUG"}
    )

    assert config.effective_parameters()["MaxReceiveCount"] == "3"
    assert config.effective_parameters()["LogLevel"] == "DEBUG"
    assert (
        StackConfig(profile="dev", parameters={"MaxReceiveCount": "4"}).effective_parameters()[
            "MaxReceiveCount"
        ]
        == "4"
    )


def test_shell_settings_reach_the_functions_but_resource_names_do_not() -> None:
    shell = {
        "PLUTUS_ALLOW_UNREGISTERED_TYPES": "true",
        "PLUTUS_MAX_BATCH_EVENTS": "10",
        "PLUTUS_FINTECH_OVERDRAFT_LIMIT": "50",  # a pack's own setting
        "POWERTOOLS_LOG_LEVEL": "DEBUG",
        # Exported for the CLI, or left over: must not point the stack's functions elsewhere.
        "PLUTUS_EVENTS_TABLE": "someone-elses-table",
        "PLUTUS_QUEUE_URL": "https://sqs.example/1/q",
        "PLUTUS_MAX_RECEIVE_COUNT": "9",
        "PLUTUS_PORT": "3999",  # the stack's own configuration, not a setting
        "HOME": "/root",
    }

    assert shell_settings(shell) == {
        "PLUTUS_ALLOW_UNREGISTERED_TYPES": "true",
        "PLUTUS_MAX_BATCH_EVENTS": "10",
        "PLUTUS_FINTECH_OVERDRAFT_LIMIT": "50",
        "POWERTOOLS_LOG_LEVEL": "DEBUG",
    }
    assert config_from_environment(shell).environment == shell_settings(shell)


def test_a_second_stack_gets_its_own_name_and_logs() -> None:
    config = config_from_environment({"PLUTUS_PORT": "3999", "PLUTUS_STACK_NAME": "second"})

    assert config.stack_name == "second"
    assert config.log_dir.name == "second"
    assert config.emulator_port is None  # its own emulator, on a free port


def test_an_unknown_profile_is_refused() -> None:
    with pytest.raises(StackError, match="choose one of template, dev"):
        config_from_environment({"PLUTUS_PORT": "3999", "PLUTUS_PROFILE": "prod"})
