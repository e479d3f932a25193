"""samconfig.toml: dev and prod environments whose overrides are valid values of the template's parameters."""

from __future__ import annotations

import re
import shlex
import tomllib
from typing import Any

import pytest

from plutus_dev.emulator.template import ROOT, load_template

PARAMETERS: dict[str, Any] = load_template()["Parameters"]
CONFIG = tomllib.loads((ROOT / "samconfig.toml").read_text())


def overrides(env: str) -> dict[str, str]:
    pairs = shlex.split(CONFIG[env]["deploy"]["parameters"]["parameter_overrides"])
    return dict(pair.split("=", 1) for pair in pairs)


def test_plain_sam_deploy_is_the_dev_environment() -> None:
    assert CONFIG["default"]["deploy"] == CONFIG["dev"]["deploy"]


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_each_environment_deploys_with_valid_overrides(env: str) -> None:
    deploy = CONFIG[env]["deploy"]["parameters"]
    assert deploy["resolve_s3"] is True
    assert "CAPABILITY_IAM" in deploy["capabilities"]
    assert deploy["stack_name"] == f"plutus-{env}"
    given = overrides(env)
    assert given["Environment"] == env
    for name, value in given.items():
        spec = PARAMETERS[name]  # a typo'd name would be ignored by sam deploy, silently
        if "AllowedValues" in spec:
            assert value in [str(v) for v in spec["AllowedValues"]], name
        if "AllowedPattern" in spec:
            assert re.fullmatch(spec["AllowedPattern"], value), name
        if spec["Type"] == "Number":
            assert (
                spec.get("MinValue", float("-inf")) <= float(value) <= spec.get("MaxValue", float("inf"))
            ), name


def test_prod_authenticates_producers_and_keeps_access_logs() -> None:
    prod = overrides("prod")
    assert prod["AuthMode"] != "NONE"
    assert prod["ApiAccessLogs"] == "Enabled"


def test_prod_caps_reads_and_dev_deploys_on_an_account_that_cannot_reserve() -> None:
    # A new account's concurrency limit (10) leaves nothing to reserve: dev must deploy there; prod keeps
    # reads from taking ingest's concurrency.
    default = str(PARAMETERS["ReadsReservedConcurrency"]["Default"])
    assert int(overrides("prod").get("ReadsReservedConcurrency", default)) > 0
    assert overrides("dev")["ReadsReservedConcurrency"] == "0"
