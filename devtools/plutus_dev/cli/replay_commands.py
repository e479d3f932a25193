"""``plutus replay``: re-enqueue FAILED events by id, or in bulk by filter (plan first, then a resumable run).

One command, not a group, so options may follow the ids; cli.py adds it with one line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from plutus.adapters.events_store import INDEXED_STATUSES, EventStatus
from plutus_dev.cli import bulk_replay, replay
from plutus_dev.cli.bulk import TokenBucket, interactive, stop_on_signals
from plutus_dev.cli.bulk_replay import Checkpoint, Selection
from plutus_dev.cli.common import console, target_or_exit
from plutus_dev.cli.target import EndpointOption, StackOption, Target

INTERRUPTED = 130  # what a shell reports for a command ended by Ctrl-C

RERUN_REFUSED = """--rerun-processed is refused: handlers cannot be re-run safely for a PROCESSED event.
- Its effects were committed in the same transaction that moved it to PROCESSED, whose condition (not
  PROCESSED yet) is the exactly-once marker. Running its handlers again would apply them again: balances,
  counters and stock levels are increments. Lifting the marker for it would let its redelivered and DLQ
  copies through as well.
- Processing drops the message an event kept, so there is no payload left to send.
- The ops index leaves PROCESSED events out (nearly every event ends there), so selecting them would be a
  Scan of the table.
To change what a processed event did, send a correcting event (its own event id) that the handlers apply."""


def replay_command(  # noqa: C901 - one command's option checks, each a line
    event_ids: Annotated[list[str] | None, typer.Argument(help="Event ids to replay.")] = None,
    status: Annotated[
        EventStatus | None, typer.Option(help="Select events in this status (default FAILED).")
    ] = None,
    source: Annotated[str | None, typer.Option(help="Only events from this source.")] = None,
    event_type: Annotated[str | None, typer.Option("--type", help="Only events of this type.")] = None,
    since: Annotated[
        str | None, typer.Option("--from", "--since", help="Received at or after: 2h, 30m, 7d or ISO-8601.")
    ] = None,
    until: Annotated[str | None, typer.Option("--until", help="Received before: 2h, 7d or ISO-8601.")] = None,
    dry_run: Annotated[bool, typer.Option(help="Print the plan; send nothing.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Go on after the plan without asking.")] = False,
    rate: Annotated[
        float | None, typer.Option(help="At most this many events re-enqueued per second.")
    ] = None,
    resume: Annotated[bool, typer.Option(help="Go on from this selection's checkpoint.")] = False,
    restart: Annotated[bool, typer.Option(help="Drop this selection's checkpoint and start over.")] = False,
    rerun_processed: Annotated[
        bool, typer.Option(help="Re-run handlers of PROCESSED events (refused: see the message).")
    ] = False,
    checkpoint_dir: Annotated[
        Path | None,
        typer.Option(envvar=bulk_replay.CHECKPOINT_DIR_ENV, help="Checkpoints' directory (.plutus/replay)."),
    ] = None,
    stop_after: Annotated[int | None, typer.Option(hidden=True)] = None,  # drills: stop as Ctrl-C would
    stack: StackOption = None,
    endpoint_url: EndpointOption = None,
) -> None:
    """Re-enqueue FAILED events: by id (plutus replay ID...) or by filter, e.g. --source shop --from 2h.

    A filter prints a plan (events, messages, AWS requests and cost, oldest and newest) and asks before it
    sends. PROCESSED events are never re-enqueued, and a second run over the same selection sends nothing.
    """
    if rerun_processed:
        console.print(f"[red]{RERUN_REFUSED}[/red]")
        raise typer.Exit(2)
    if status is EventStatus.PROCESSED:
        console.print("[red]PROCESSED events are never replayed: their effects are applied once[/red]")
        raise typer.Exit(2)
    filtered = any(v is not None for v in (status, source, event_type, since, until))
    if bool(event_ids) == filtered:
        console.print("[red]give event ids, or a filter (--status, --source, --type, --from, --until)[/red]")
        raise typer.Exit(2)
    if status is not None and status not in INDEXED_STATUSES:
        console.print(f"[red]{status} events are not indexed: replay them by id[/red]")
        raise typer.Exit(2)
    if rate is not None and rate <= 0:
        console.print("[red]--rate must be positive[/red]")
        raise typer.Exit(2)
    target = target_or_exit(stack, endpoint_url)
    if event_ids:
        _replay_ids(target, event_ids, dry_run)
        return
    # The selection as typed (FAILED when no status is given): the same options find the same checkpoint.
    options = {"status": status or EventStatus.FAILED, "source": source, "type": event_type, "from": since}
    options["until"] = until
    key = bulk_replay.checkpoint_key(target.events_table, {k: v and str(v) for k, v in options.items()})
    path = (checkpoint_dir or bulk_replay.checkpoint_dir()) / f"{key}.json"
    checkpoint = _checkpoint(path, resume, restart, status, source, event_type, since, until)
    _bulk(target, checkpoint, dry_run=dry_run, yes=yes, rate=rate, stop_after=stop_after)


def _checkpoint(
    path: Path,
    resume: bool,
    restart: bool,
    status: EventStatus | None,
    source: str | None,
    event_type: str | None,
    since: str | None,
    until: str | None,
) -> Checkpoint:
    previous = Checkpoint.load(path) if path.exists() else None
    if resume:
        if previous is None:
            console.print(f"[red]no checkpoint for this selection ({path}): nothing to resume[/red]")
            raise typer.Exit(2)
        return previous
    if previous is not None and not previous.complete and not restart:
        done = previous.counts.get("re-enqueued", 0)
        console.print(
            f"[red]an interrupted run of this selection left a checkpoint ({done} re-enqueued): --resume to "
            f"go on, --restart to start over[/red] ({path})"
        )
        raise typer.Exit(2)
    try:
        bounds = [replay.parse_since(v) if v else None for v in (since, until)]
    except ValueError:
        console.print("[red]--from and --until take 2h, 30m, 7d or an ISO-8601 date/time[/red]")
        raise typer.Exit(2) from None
    if bounds[0] and bounds[1] and bounds[0] >= bounds[1]:
        console.print(f"[red]--from ({bounds[0]}) must be before --until ({bounds[1]})[/red]")
        raise typer.Exit(2)
    selection = Selection(status or EventStatus.FAILED, source, event_type, bounds[0], bounds[1])
    return Checkpoint(path, selection)


def _bulk(
    target: Target,
    checkpoint: Checkpoint,
    *,
    dry_run: bool,
    yes: bool,
    rate: float | None,
    stop_after: int | None,
) -> None:
    dynamodb, sqs = target.client("dynamodb"), target.client("sqs")
    if checkpoint.complete:
        console.print("This selection's run is complete; nothing to resume.")
        _print_counts(checkpoint.counts)
        return
    found = bulk_replay.plan(dynamodb, target.events_table, checkpoint)
    _print_plan(found, resumed=bool(checkpoint.counts))
    if dry_run:
        return
    if found.messages == 0:
        console.print("Nothing to re-enqueue.")
        if checkpoint.counts:  # a resume whose remaining events all skip: the run ends here
            checkpoint.complete = True
            checkpoint.save()
        return
    if not yes:
        if not interactive():
            console.print("[red]stdin is not a terminal: pass --yes to go on after the plan[/red]")
            raise typer.Exit(2)
        if not typer.confirm(f"Re-enqueue {found.messages} message(s)?"):
            raise typer.Exit(1)
    handled = 0
    with (
        stop_on_signals() as stop,
        Progress(
            TextColumn("replaying"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
        ) as progress,
    ):
        task = progress.add_task("replay", total=found.selected)

        def advance(_: bulk_replay.Handled) -> None:
            nonlocal handled
            handled += 1
            progress.advance(task)
            if stop_after is not None and handled >= stop_after:
                stop.set()

        finished = bulk_replay.run(
            dynamodb,
            sqs,
            target.events_table,
            target.queue_url,
            checkpoint,
            bucket=TokenBucket(rate, wait=stop.wait),
            stopped=stop.is_set,
            on_handled=advance,
        )
    _print_counts(checkpoint.counts)
    if not finished:
        console.print(
            f"[yellow]Interrupted: checkpoint saved ({checkpoint.path}). Run the same command with --resume "
            "to go on.[/yellow]"
        )
        raise typer.Exit(INTERRUPTED)
    if checkpoint.counts.get("failed"):
        raise typer.Exit(1)


def _print_plan(found: bulk_replay.Plan, *, resumed: bool) -> None:
    # Plain "label: value" lines, never a table: soft-wrapped, they stay one line each in any terminal or log.
    rest = " (the rest of an interrupted run)" if resumed else ""
    console.print(f"Selection: {found.selection.describe()}{rest}")
    console.print(f"events selected: {found.selected}")
    console.print(f"messages to re-enqueue: {found.messages}")
    for reason, count in sorted(found.skipped.items()):
        console.print(f"skipped, {bulk_replay.Skip[reason]}: {count}")
    console.print(f"oldest received: {found.oldest or '-'}")
    console.print(f"newest received: {found.newest or '-'}")
    console.print("The run's AWS requests (estimated):")
    for line in found.run.lines():
        console.print(f"  {line}")
    console.print(f"This plan read: {found.spent.requests} request(s), ${found.spent.usd:.6f}.")
    if found.sample:
        more = found.messages - len(found.sample)
        console.print("First to re-enqueue: " + " ".join(found.sample) + (f" (+{more} more)" if more else ""))


def _print_counts(counts: dict[str, int]) -> None:
    console.print("Report (the whole selection, across resumes):")
    console.print(f"selected: {counts.get('selected', 0)}")
    console.print(f"re-enqueued: {counts.get('re-enqueued', 0)}")
    for key, value in sorted(counts.items()):
        if key.startswith("skipped:"):
            console.print(f"skipped, {bulk_replay.Skip[key.split(':', 1)[1]]}: {value}")
    console.print(f"failed: {counts.get('failed', 0)}")


def _replay_ids(target: Target, event_ids: list[str], dry_run: bool) -> None:
    if dry_run:
        console.print("\n".join(event_ids))
        return
    dynamodb, sqs = target.client("dynamodb"), target.client("sqs")
    table = Table()
    table.add_column("event id", no_wrap=True, min_width=36)  # copied into other commands: never cut
    table.add_column("outcome")
    table.add_column("detail")
    with Progress(
        TextColumn("replaying"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    ) as progress:
        task = progress.add_task("replay", total=len(event_ids))

        def record(result: replay.ReplayResult) -> None:
            table.add_row(result.event_id, str(result.outcome), result.detail)
            progress.advance(task)

        results = replay.replay_events(
            dynamodb, sqs, target.events_table, target.queue_url, event_ids, record, s3=target.client("s3")
        )
    if results:
        console.print(table)
    replayed = sum(r.outcome is replay.Outcome.REPLAYED for r in results)
    console.print(f"{replayed} of {len(results)} event(s) re-enqueued.")
    if any(r.outcome in {replay.Outcome.NOT_FOUND, replay.Outcome.NOT_REPLAYABLE} for r in results):
        raise typer.Exit(1)
