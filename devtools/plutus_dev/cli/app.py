"""``plutus``: the operator CLI (typer + rich). Dev tooling; never deployed.

Each command group lives in its own module and is added here with one line.
"""

from __future__ import annotations

import typer

from plutus_dev.cli import dev as cli_dev
from plutus_dev.cli import dlq_commands as cli_dlq
from plutus_dev.cli import events_commands as cli_events
from plutus_dev.cli import read_command as cli_read
from plutus_dev.cli import replay_commands as cli_replay
from plutus_dev.cli import send_commands as cli_send
from plutus_dev.cli import stats_commands as cli_stats
from plutus_dev.cli import webhooks_commands as cli_webhooks
from plutus_dev.cli.common import TYPER_SETTINGS

app = typer.Typer(
    **TYPER_SETTINGS,
    name="plutus",
    help="Operate a Plutus stack: the embedded one, LocalStack or AWS.",
    no_args_is_help=True,
)
app.add_typer(cli_dev.app, name="dev")
app.add_typer(cli_stats.app, name="stats")
app.add_typer(cli_dlq.app, name="dlq")
app.add_typer(cli_events.app, name="events")
app.add_typer(cli_webhooks.app, name="webhooks")
app.command("replay")(cli_replay.replay_command)
app.command("read")(cli_read.read_command)
app.command("send")(cli_send.send_command)

if __name__ == "__main__":
    app()
