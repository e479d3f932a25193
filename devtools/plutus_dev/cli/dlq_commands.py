"""``plutus dlq``: inspect the dead-letter queue and redrive it."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.syntax import Syntax
from rich.table import Table

from plutus_dev.cli import dlq
from plutus_dev.cli.bulk import TokenBucket, interactive, stop_on_signals
from plutus_dev.cli.common import TYPER_SETTINGS, console, human_age, target_or_exit
from plutus_dev.cli.replay import parse_since
from plutus_dev.cli.target import EndpointOption, StackOption

app = typer.Typer(
    **TYPER_SETTINGS,
    help="The dead-letter queue: count, show and redrive its messages.",
    no_args_is_help=True,
)


@app.command("list")
def list_messages(
    stack: StackOption = None,
    endpoint_url: EndpointOption = None,
    scan_limit: Annotated[int, typer.Option(help="Messages read to find the oldest.")] = 1000,
) -> None:
    """How many messages the DLQ holds, and how old the oldest is."""
    target = target_or_exit(stack, endpoint_url)
    found = dlq.summary(target.client("sqs"), target.dlq_url, scan_limit)
    queue_name = target.dlq_url.rsplit("/", 1)[-1]
    table = Table()
    table.add_column("queue", no_wrap=True, min_width=len(queue_name))  # names are copied, never cut
    for header in ("messages", "in flight", "oldest message age"):
        table.add_column(header)
    oldest = human_age(found.oldest_age_seconds)
    if found.visible > found.scanned:
        oldest += f" (of the first {found.scanned})"
    table.add_row(queue_name, str(found.visible), str(found.in_flight), oldest)
    console.print(table)


@app.command()
def show(
    stack: StackOption = None,
    endpoint_url: EndpointOption = None,
    limit: Annotated[int, typer.Option(help="Messages to show, oldest first.")] = 20,
    payload: Annotated[bool, typer.Option(help="Print payloads too (may hold personal data).")] = False,
) -> None:
    """Pretty-print the DLQ's messages (event id, receive count, envelope), leaving them in the queue."""
    target = target_or_exit(stack, endpoint_url)
    letters = dlq.peek(target.client("sqs"), target.dlq_url, limit=limit)
    if not letters:
        console.print("The dead-letter queue is empty.")
        return
    for letter in letters:
        table = Table(show_header=False, box=None, pad_edge=False)
        table.add_row("message id", letter.message_id)
        table.add_row("event id", letter.event_id or "[red]unparseable[/red]")
        table.add_row("receive count", str(letter.receive_count))
        table.add_row("age", human_age(letter.age_seconds()))
        for key, value in letter.envelope().items():
            if key != "event_id":
                table.add_row(key, str(value))
        table.add_row("size", f"{len(letter.body.encode())} bytes")
        console.rule(letter.event_id or letter.message_id)
        console.print(table)
        if payload:
            pretty, note = dlq.readable_body(letter.body, target.client("s3"))
            if note:
                console.print(note)
            console.print(Syntax(pretty, "json", word_wrap=True))
    console.print(f"{len(letters)} message(s); reading received each once (counted in receive count).")


@app.command()
def redrive(  # noqa: C901 - one command's option checks, each a line
    stack: StackOption = None,
    endpoint_url: EndpointOption = None,
    source: Annotated[str | None, typer.Option(help="Only messages of events from this source.")] = None,
    event_type: Annotated[
        str | None, typer.Option("--type", help="Only messages of this event type.")
    ] = None,
    since: Annotated[
        str | None, typer.Option("--from", "--since", help="Received at or after: 2h, 7d or ISO-8601.")
    ] = None,
    until: Annotated[str | None, typer.Option("--until", help="Received before: 2h, 7d or ISO-8601.")] = None,
    error: Annotated[
        str | None, typer.Option(help="Only messages that failed with this error class (RuntimeError...).")
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="Print the plan; move nothing.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Go on after the plan without asking.")] = False,
    rate: Annotated[float | None, typer.Option(help="At most this many messages moved per second.")] = None,
    scan_limit: Annotated[int, typer.Option(help="Messages the plan peeks at.")] = 1000,
    max_messages: Annotated[
        int | None, typer.Option(help="Move at most this many (unfiltered fallback path only).")
    ] = None,
) -> None:
    """Move DLQ messages back to the source queue: all, or with a filter the matching ones (the rest stay).

    All: StartMessageMoveTask, else receive/send/delete. A plan comes first; --yes skips the question.
    """
    if rate is not None and rate <= 0:
        console.print("[red]--rate must be positive[/red]")
        raise typer.Exit(2)
    try:
        bounds = [parse_since(v) if v else None for v in (since, until)]
    except ValueError:
        console.print("[red]--from and --until take 2h, 30m, 7d or an ISO-8601 date/time[/red]")
        raise typer.Exit(2) from None
    flt = dlq.LetterFilter(source, event_type, bounds[0], bounds[1], error)
    target = target_or_exit(stack, endpoint_url)
    sqs = target.client("sqs")
    errors = dlq.ErrorClasses(target.client("dynamodb"), target.events_table)
    found = dlq.plan_redrive(sqs, target.dlq_url, flt, errors, scan_limit)
    _print_redrive_plan(found, flt)
    if dry_run:
        return
    if found.matching == 0:
        console.print("Nothing to redrive.")
        return
    if not yes:
        if not interactive():
            console.print("[red]stdin is not a terminal: pass --yes to go on after the plan[/red]")
            raise typer.Exit(2)
        if not typer.confirm(f"Move {found.matching} message(s) back to the source queue?"):
            raise typer.Exit(1)
    with (
        stop_on_signals() as stop,
        Progress(
            TextColumn("redriving"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
        ) as progress,
    ):
        task = progress.add_task("redrive", total=found.matching)

        def advance(moved: int, total: int | None) -> None:
            progress.update(task, completed=moved, total=total)

        bucket = TokenBucket(rate, wait=stop.wait)
        if flt:
            result = dlq.redrive_filtered(
                sqs,
                target.dlq_url,
                target.queue_url,
                lambda letter: flt.matches(letter, errors),
                bucket=bucket,
                stopped=stop.is_set,
                on_progress=advance,
                total=found.matching,
            )
        else:
            result = dlq.redrive(
                sqs,
                target.dlq_url,
                target.queue_url,
                on_progress=advance,
                max_messages=max_messages,
                rate=rate,
                stopped=stop.is_set,
                bucket=bucket,
            )
    if result.path == dlq.MOVE_TASK:
        console.print(f"Path: {dlq.MOVE_TASK} (task {result.task_handle}), status {result.status}.")
    else:
        console.print(f"Path: receive -> send -> delete, attributes kept (fallback: {result.reason}).")
    console.print(f"Moved {result.moved} message(s) back to {target.queue_url.rsplit('/', 1)[-1]}.")
    if flt:
        console.print(f"Left {result.kept} message(s) the filter did not select in the DLQ, visible again.")
    for line in result.details:
        console.print(f"[red]not moved[/red] {line}")
    if stop.is_set():
        console.print("[yellow]Interrupted: what was not moved is still in the DLQ; run it again.[/yellow]")
        raise typer.Exit(130)
    if result.failed or result.status not in {"COMPLETED"}:
        if result.reason and result.path == dlq.MOVE_TASK:
            console.print(f"[red]{result.reason}[/red]")
        raise typer.Exit(1)


def _print_redrive_plan(found: dlq.RedrivePlan, flt: dlq.LetterFilter) -> None:
    # Plain "label: value" lines, as `plutus replay` prints its plan: one line each in any terminal or log.
    console.print(f"messages in the DLQ: {found.visible}")
    console.print(f"messages read for this plan: {found.scanned}")
    console.print(f"messages to move: {found.matching}")
    console.print(f"messages that stay: {found.kept}")
    console.print(f"oldest received: {found.oldest or '-'}")
    console.print(f"newest received: {found.newest or '-'}")
    for name, count in sorted(found.errors.items()):
        console.print(f"error {name}: {count}")
    if found.visible > found.scanned:
        console.print(
            f"[yellow]Only the first {found.scanned} were read: raise --scan-limit to see all.[/yellow]"
        )
    path = (
        "receive -> send -> delete"
        if flt
        else f"{dlq.MOVE_TASK} where available, else receive -> send -> delete"
    )
    console.print(f"The run's AWS requests (estimated, {path}):")
    for line in found.run.lines():
        console.print(f"  {line}")
    console.print(f"This plan read: {found.spent.requests} request(s), ${found.spent.usd:.6f}.")
