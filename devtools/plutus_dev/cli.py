"""``plutus``: the operator CLI (typer + rich). Dev tooling; never deployed.

Each command group lives in its own module and is added here with one line.
"""

from __future__ import annotations

import typer

from plutus_dev import cli_dev, cli_dlq, cli_events, cli_replay, cli_stats

app = typer.Typer(
    name="plutus", help="Operate a Plutus stack: the embedded one, LocalStack or AWS.", no_args_is_help=True
)
app.add_typer(cli_dev.app, name="dev")
app.add_typer(cli_stats.app, name="stats")
app.add_typer(cli_dlq.app, name="dlq")
app.add_typer(cli_events.app, name="events")
app.command("replay")(cli_replay.replay_command)

if __name__ == "__main__":
    app()
