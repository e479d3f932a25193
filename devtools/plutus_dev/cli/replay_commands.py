"""``plutus replay``: re-enqueue FAILED events by id, or every event in a status since a time.

One command, not a group, so options may follow the ids; cli.py adds it with one line.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from plutus.adapters.events_store import INDEXED_STATUSES, EventStatus
from plutus_dev.cli import replay
from plutus_dev.cli.common import console, target_or_exit
from plutus_dev.cli.target import EndpointOption, StackOption


def replay_command(
    event_ids: Annotated[list[str] | None, typer.Argument(help="Event ids to replay.")] = None,
    status: Annotated[EventStatus | None, typer.Option(help="Replay every event in this status.")] = None,
    since: Annotated[str | None, typer.Option(help="With --status: received since 2h, 7d or a date.")] = None,
    source: Annotated[str | None, typer.Option(help="With --status: only events from this source.")] = None,
    dry_run: Annotated[bool, typer.Option(help="List what would be replayed; send nothing.")] = False,
    stack: StackOption = None,
    endpoint_url: EndpointOption = None,
) -> None:
    """Re-enqueue FAILED events: plutus replay ID... or plutus replay --status FAILED --since 2h.

    PROCESSED events are never re-enqueued, and a replay that meets one is absorbed: effects apply once.
    """
    if bool(event_ids) == bool(status):
        console.print("[red]give event ids, or --status (not both)[/red]")
        raise typer.Exit(2)
    if status is EventStatus.PROCESSED:
        console.print("[red]PROCESSED events are never replayed: their effects are applied once[/red]")
        raise typer.Exit(2)
    if status is not None and status not in INDEXED_STATUSES:
        console.print(f"[red]{status} events are not indexed: replay them by id[/red]")
        raise typer.Exit(2)
    target = target_or_exit(stack, endpoint_url)
    dynamodb, sqs = target.client("dynamodb"), target.client("sqs")
    ids = list(event_ids or [])
    if status is not None:
        bound = replay.parse_since(since) if since else None
        ids = replay.event_ids_by_status(dynamodb, target.events_table, status, bound, source)
    if dry_run:
        console.print("\n".join(ids) or "nothing to replay")
        return
    table = Table()
    table.add_column("event id", no_wrap=True, min_width=36)  # copied into other commands: never cut
    table.add_column("outcome")
    table.add_column("detail")
    with Progress(
        TextColumn("replaying"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    ) as progress:
        task = progress.add_task("replay", total=len(ids))

        def record(result: replay.ReplayResult) -> None:
            table.add_row(result.event_id, str(result.outcome), result.detail)
            progress.advance(task)

        results = replay.replay_events(
            dynamodb, sqs, target.events_table, target.queue_url, ids, record, s3=target.client("s3")
        )
    if results:
        console.print(table)
    replayed = sum(r.outcome is replay.Outcome.REPLAYED for r in results)
    console.print(f"{replayed} of {len(results)} event(s) re-enqueued.")
    if any(r.outcome in {replay.Outcome.NOT_FOUND, replay.Outcome.NOT_REPLAYABLE} for r in results):
        raise typer.Exit(1)
