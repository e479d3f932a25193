"""``plutus dlq``: inspect the dead-letter queue and redrive it."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.syntax import Syntax
from rich.table import Table

from plutus_dev.cli import dlq
from plutus_dev.cli.common import TYPER_SETTINGS, console, human_age, target_or_exit
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
def redrive(
    stack: StackOption = None,
    endpoint_url: EndpointOption = None,
    max_messages: Annotated[
        int | None, typer.Option(help="Move at most this many (fallback path only).")
    ] = None,
) -> None:
    """Move the DLQ's messages back to the source queue (StartMessageMoveTask, else receive/send/delete)."""
    target = target_or_exit(stack, endpoint_url)
    sqs = target.client("sqs")
    with Progress(
        TextColumn("redriving"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    ) as progress:
        task = progress.add_task("redrive", total=None)

        def advance(moved: int, total: int | None) -> None:
            progress.update(task, completed=moved, total=total)

        result = dlq.redrive(
            sqs, target.dlq_url, target.queue_url, on_progress=advance, max_messages=max_messages
        )
    if result.path == dlq.MOVE_TASK:
        console.print(f"Path: {dlq.MOVE_TASK} (task {result.task_handle}), status {result.status}.")
    else:
        console.print(f"Path: receive -> send -> delete, attributes kept (fallback: {result.reason}).")
    console.print(f"Moved {result.moved} message(s) back to {target.queue_url.rsplit('/', 1)[-1]}.")
    for line in result.details:
        console.print(f"[red]not moved[/red] {line}")
    if result.failed or result.status not in {"COMPLETED"}:
        if result.reason and result.path == dlq.MOVE_TASK:
            console.print(f"[red]{result.reason}[/red]")
        raise typer.Exit(1)
