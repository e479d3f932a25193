"""What the operator CLI's command groups share: the console, the target, durations."""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Console

from plutus_dev.cli.target import Target, TargetError, resolve

# soft_wrap: ids and URLs stay on one line, whatever the terminal width, so they can be copied.
console = Console(soft_wrap=True)
# Every command group's Typer settings. Plain (click) help: typer's rich help printed <bool> after every flag
# and docstring markup verbatim.
TYPER_SETTINGS: dict[str, Any] = {"rich_markup_mode": None}


def target_or_exit(stack: str | None, endpoint_url: str | None) -> Target:
    """The resolved target, or a readable error and exit code 2."""
    try:
        target = resolve(stack, endpoint_url)
    except TargetError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    console.print(f"[dim]target: {target.source} ({target.endpoint_url or 'AWS'})[/dim]")
    return target


def human_age(seconds: float | None) -> str:
    """``3d 4h``, ``5m 2s``..."""
    if seconds is None:
        return "-"
    seconds = int(max(0, seconds))
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")]
    shown = [f"{n}{u}" for n, u in parts if n][:2]
    return " ".join(shown) or "0s"
