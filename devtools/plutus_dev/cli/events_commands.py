"""``plutus events``: one event by id, or the failing ones by status (the ops index; never a scan)."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from typing import Annotated, Any

import typer
from rich.table import Table

from plutus.adapters import events_store
from plutus.adapters.events_store import INDEXED_STATUSES, EventStatus
from plutus_dev.cli.common import TYPER_SETTINGS, console, target_or_exit
from plutus_dev.cli.replay import parse_since
from plutus_dev.cli.target import EndpointOption, StackOption, Target

FINAL = {EventStatus.PROCESSED, EventStatus.FAILED}

app = typer.Typer(
    **TYPER_SETTINGS, help="Recorded events: one by id, or a list by status.", no_args_is_help=True
)


@app.command()
def get(
    event_id: Annotated[str, typer.Argument(help="The event id (or message:<id> of an unparseable one).")],
    stack: StackOption = None,
    endpoint_url: EndpointOption = None,
) -> None:
    """One event's status, attempts and last error."""
    target = target_or_exit(stack, endpoint_url)
    dynamodb = target.client("dynamodb")
    # A ``kept:`` id names the message a FAILED event kept, not an event: never read it as one.
    item = (
        None
        if event_id.startswith(events_store.KEPT_PREFIX)
        else events_store.get_event(dynamodb, target.events_table, event_id, consistent=True)
    )
    # An item without a status is a key claimed by an ingest that has not answered: not an event (as the API).
    if item is None or "status" not in item:
        console.print(f"[red]no event {event_id}[/red]")
        raise typer.Exit(1)
    view = events_store.public_view(item)
    kept = events_store.read_kept_message(dynamodb, target.events_table, event_id, item)
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
    found = events_store.query_by_status(
        target.client("dynamodb"), target.events_table, status, bound, source=source
    )
    rows = iter(found)
    first = next(rows, None)
    if first is None:
        console.print(
            f"no {status} events"
            + (f" since {since}" if since else "")
            + (f" from {source}" if source else "")
        )
        return
    table = Table()
    # Ids are what operators copy into `plutus replay`: never truncated, whatever the terminal's width.
    table.add_column("event id", no_wrap=True, min_width=36)
    for header in ("source", "event type", "attempts", "received at", "last error"):
        table.add_column(header)
    shown = 0
    for item in itertools.chain([first], rows):
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


def watch_event(
    read: Callable[[], dict[str, Any] | None],
    on_change: Callable[[dict[str, Any] | None], None],
    *,
    timeout: float,
    interval: float = 0.5,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any] | None:
    """Read the event until PROCESSED or FAILED (or ``timeout``), reporting each change; the last read."""
    deadline = clock() + timeout
    last: tuple[Any, ...] | None = None
    item = None
    while True:
        item = read()
        seen = (item or {}).get("status"), (item or {}).get("attempts"), (item or {}).get("last_error")
        if seen != last:
            on_change(item)
            last = seen
        if (item and item.get("status") in FINAL) or clock() >= deadline:
            return item
        sleep(interval)


def follow(target: Target, event_id: str, timeout: float = 120.0) -> str:
    """Print ``event_id``'s status changes until its final state; returns the last status seen."""
    dynamodb = target.client("dynamodb")
    started = time.monotonic()

    def read() -> dict[str, Any] | None:
        return events_store.get_event(dynamodb, target.events_table, event_id, consistent=True)

    def report(item: dict[str, Any] | None) -> None:
        elapsed = f"{time.monotonic() - started:5.1f}s"
        if item is None:
            console.print(f"{elapsed}  {event_id}: not recorded (yet)")
            return
        failed = item.get("last_error") and item.get("status") != EventStatus.PROCESSED
        error = f"  last error: {item['last_error']}" if failed else ""
        console.print(
            f"{elapsed}  {event_id}: {item.get('status')}  attempts {item.get('attempts', 0)}{error}"
        )

    item = watch_event(read, report, timeout=timeout)
    status = str((item or {}).get("status") or "UNKNOWN")
    if status == EventStatus.FAILED:
        console.print(f"FAILED: its message goes to the dead-letter queue. Replay: plutus replay {event_id}")
    elif status != EventStatus.PROCESSED:
        console.print(f"[yellow]still {status} after {timeout:.0f}s[/yellow]")
    return status


@app.command()
def watch(
    event_id: Annotated[str, typer.Argument(help="The event id (from the 202 answer).")],
    timeout: Annotated[float, typer.Option(help="Seconds to wait for a final state.")] = 120.0,
    stack: StackOption = None,
    endpoint_url: EndpointOption = None,
) -> None:
    """Follow one event to its final state (PROCESSED: exit 0; FAILED or timeout: exit 1)."""
    target = target_or_exit(stack, endpoint_url)
    if follow(target, event_id, timeout) != EventStatus.PROCESSED:
        raise typer.Exit(1)
