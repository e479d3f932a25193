"""Every plutus --help reads as plain text: no type placeholders after flags, no docstring markup."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from plutus_dev.cli.app import app

COMMANDS = [
    [],
    ["send"],
    ["replay"],
    ["stats"],
    ["events"],
    ["events", "get"],
    ["events", "list"],
    ["events", "watch"],
    ["dlq"],
    ["dlq", "list"],
    ["dlq", "show"],
    ["dlq", "redrive"],
    ["webhooks"],
    ["webhooks", "secret"],
    ["webhooks", "secret", "put"],
    ["webhooks", "secret", "remove-old"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "plutus")
def test_help_has_no_placeholders_or_markup(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"])

    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output
    assert "``" not in result.output
    assert "Usage: plutus" in result.output
