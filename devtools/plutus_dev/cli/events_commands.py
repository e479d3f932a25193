"""``plutus events``: one event by id, or the failing ones by status (the ops index; never a scan)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from plutus.adapters import events_store
from plutus.adapters.events_store import INDEXED_STATUSES, EventStatus
from plutus_dev.cli.common import console, target_or_exit
from plutus_dev.cli.replay import parse_since
from plutus_dev.cli.target import EndpointOption, StackOption

app = typer.Typer(help="Recorded events: one by id, or a list by status.", no_args_is_help=True)


@app.command()
def get(
    event_id: Annotated[str, typer.Argument(help="The event id (or message:<id> of an unparseable one).")],
    stack: StackOption = None,
    endpoint_url: EndpointOption = None,
) -> None:
    """One event's status, attempts and last error."""
    target = target_or_exit(stack, endpoint_url)
    item = events_store.get_event(target.client("dynamodb"), target.events_table, event_id, consistent=True)
    if item is None:
        console.print(f"[red]no event {event_id}[/red]")
        raise typer.Exit(1)
    view = events_store.public_view(item)
    kept = events_store.kept_message(item)
    view["replayable"] = kept is not None
    console.print_json(json.dumps(view))


@app.command("list")
def list_events(
    status: Annotated[
        EventStatus, typer.Option(help="Status to list: FAILED or PROCESSING.")
    ] = EventStatus.FAILED,
    since: Annotated[str | None, typer.Option(help="Received since: 2h, 30m, 7d or an ISO date.")] = None,
    source: Annotated[str | None, typer.Option(help="Only events from this source.")] = None,
    limit: Annotated[int, typer.Option(help="Rows to show.")] = 50,
    stack: StackOption = None,
    endpoint_url: EndpointOption = None,
) -> None:
    """Events in one status, oldest first."""
    if status not in INDEXED_STATUSES:
        # Every event passes through RECEIVED and nearly all end PROCESSED: indexing them would put every
        # event's writes on a handful of index partitions. Look those up by id.
        console.print(f"[red]only FAILED and PROCESSING events are listed; {status} ones by id[/red]")
        raise typer.Exit(2)
    target = target_or_exit(stack, endpoint_url)
    bound = parse_since(since) if since else None
    table = Table()
    # Ids are what operators copy into `plutus replay`: never truncated, whatever the terminal's width.
    table.add_column("event id", no_wrap=True, min_width=36)
    for header in ("source", "event type", "attempts", "received at", "last error"):
        table.add_column(header)
    shown = 0
    found = events_store.query_by_status(
        target.client("dynamodb"), target.events_table, status, bound, source=source
    )
    for item in found:
        if shown == limit:
            table.caption = f"first {limit} shown; use --limit for more"
            break
        table.add_row(
            item["event_id"],
            str(item.get("source", "")),
            str(item.get("event_type") or "-"),
            str(item.get("attempts", 0)),
            str(item.get("received_at", "")),
            str(item.get("last_error") or "")[:80],
        )
        shown += 1
    console.print(table)
    console.print(f"{shown} {status} event(s)")
