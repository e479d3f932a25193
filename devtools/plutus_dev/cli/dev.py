"""``plutus dev``: run the embedded local stack."""

from __future__ import annotations

import typer

app = typer.Typer(help="The embedded local stack (no Docker, no AWS account).")


@app.callback(invoke_without_command=True)
def run() -> None:
    """Start moto, create the template's resources, serve the API on :3000 and poll the queue."""
    from plutus_dev.emulator.stack import main

    main()
