"""``plutus send``: envelopes, samples by type name or raw bodies to a stack's API; prints the answers."""

from __future__ import annotations

from typing import Annotated

import httpx
import typer

from plutus_dev.cli import send
from plutus_dev.cli.common import console, target_or_exit
from plutus_dev.cli.events_commands import follow
from plutus_dev.cli.target import StackOption, TargetError, resolve_api_url

SAMPLES_HELP = "Sample names are the files under events/, e.g. payment_completed (see: plutus send --list)."


def send_command(
    items: Annotated[
        list[str] | None,
        typer.Argument(
            help="Envelope files, sample names (events/NAME.json) or raw JSON bodies.", show_default=False
        ),
    ] = None,
    batch: Annotated[
        bool, typer.Option("--batch", help="Send them all in one POST /api/v1/ingest/batch.")
    ] = False,
    new_key: Annotated[
        bool,
        typer.Option("--new-key", help="Give each a fresh idempotency_key (a new event, not a duplicate)."),
    ] = False,
    watch: Annotated[
        bool, typer.Option("--watch", help="Then follow each new event to its final state.")
    ] = False,
    list_samples: Annotated[bool, typer.Option("--list", help="List the sample names and exit.")] = False,
    url: Annotated[
        str | None,
        typer.Option("--url", help="API base URL (default: PLUTUS_API_URL, else the running stack's)."),
    ] = None,
    stack: StackOption = None,
) -> None:
    """Send events and print each one's HTTP status, Idempotent-Replayed and event id.

    Sending the same thing twice shows the guarantee: 202 with an event id, then 200,
    Idempotent-Replayed: true and the same id.
    """
    if list_samples:
        console.print("\n".join(send.sample_names()))
        return
    if not items:
        console.print(f"[red]nothing to send[/red]. {SAMPLES_HELP}")
        raise typer.Exit(2)
    try:
        bodies = [send.load(item) for item in items]
        base, how = resolve_api_url(stack, url)
    except (send.SendError, TargetError) as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    if new_key:
        bodies = [send.with_new_key(b) for b in bodies]
    console.print(f"[dim]api: {base} ({how})[/dim]")
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            if batch:
                status, results = send.send_batch(client, bodies)
                console.print(f"batch: HTTP {status}")
            else:
                results = [send.send_one(client, body) for body in bodies]
    except httpx.HTTPError as exc:
        console.print(
            f"[red]cannot reach {base}[/red] ({type(exc).__name__}). Is `make dev` running? Else --url."
        )
        raise typer.Exit(1) from None
    for result in results:
        _print(result)
    if watch:
        accepted = [r.event_id for r in results if r.event_id]
        if accepted:
            target = target_or_exit(stack, None)
            finals = [follow(target, event_id) for event_id in accepted]
            if any(final != "PROCESSED" for final in finals):
                raise typer.Exit(1)
    if any(r.status not in {200, 202} for r in results):
        raise typer.Exit(1)


def _print(result: send.Sent) -> None:
    if result.status in {200, 202}:
        replayed = "true" if result.replayed else "false"
        console.print(f"HTTP {result.status}  Idempotent-Replayed: {replayed}  event_id: {result.event_id}")
        return
    problem = result.problem or {}
    title = problem.get("title") or ""
    detail = problem.get("detail") or ""
    console.print(f"[red]HTTP {result.status}[/red]  {title}: {detail}".rstrip(": "))
    for error in problem.get("errors") or []:
        console.print(f"  {error.get('field', '')}: {error.get('message', '')}")
