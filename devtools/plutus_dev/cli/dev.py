"""``plutus dev``: run the embedded local stack."""

from __future__ import annotations

import typer

from plutus_dev.cli.common import TYPER_SETTINGS

app = typer.Typer(**TYPER_SETTINGS, help="The embedded local stack (no Docker, no AWS account).")


@app.callback(invoke_without_command=True)
def run() -> None:
    """Start an embedded stack (its own emulator, the API on :3000 if free), as make dev does."""
    from plutus_dev.emulator.stack import main

    main()
