"""``plutus webhooks secret``: store a source's webhook secret where its stack reads it, checked first.

``put`` writes one secret (from a file, generated, or typed at a hidden prompt), alone or, with ``--rotate``,
ahead of the current one so both verify while the provider rolls; ``remove-old`` then keeps only the newest.
A secret is never printed, except a ``--generate``d one, once, to give to the provider.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from plutus.core.providers import ProviderKind
from plutus_dev.cli import webhook_secrets as ws
from plutus_dev.cli.common import TYPER_SETTINGS, console, target_or_exit
from plutus_dev.cli.target import EndpointOption, StackOption

app = typer.Typer(**TYPER_SETTINGS, help="Provider and producer webhook secrets.", no_args_is_help=True)
secret_app = typer.Typer(
    **TYPER_SETTINGS,
    help="A source's webhook secrets (<WebhookSecretPrefix><source>), checked as the stack checks them.",
    no_args_is_help=True,
)
app.add_typer(secret_app, name="secret")

SourceArgument = Annotated[
    str, typer.Argument(help="The source: the last segment of /api/v1/webhooks/<source>.")
]
KindOption = Annotated[
    ProviderKind | None,
    typer.Option(
        "--kind",
        help="The source's kind, for a source WebhookSources does not list (a Standard Webhooks producer: "
        "standard_webhooks). Default: the stack's WebhookSources.",
        show_default=False,
    ),
]
AFTER = "The stack reads it within WebhookSecretMaxAgeSeconds (300 s by default)."


def _fail(exc: Exception) -> typer.Exit:
    console.print(f"[red]{exc}[/red]", markup=True, highlight=False)
    return typer.Exit(2)


def _secret_text(from_file: Path | None, generate: bool, kind: ProviderKind) -> str:
    if from_file is not None and generate:
        raise ws.SecretCommandError("give --from-file or --generate, not both")
    if generate:
        return ws.generate(kind)
    if from_file is not None:
        try:
            return sys.stdin.read() if str(from_file) == "-" else from_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ws.SecretCommandError(f"cannot read {from_file}: {type(exc).__name__}") from None
    return str(typer.prompt(f"{kind} secret (not shown)", hide_input=True))


@secret_app.command("put")
def put(
    source: SourceArgument,
    from_file: Annotated[
        Path | None,
        typer.Option(
            "--from-file", help="Read the secret from this file ('-': standard input).", show_default=False
        ),
    ] = None,
    generate: Annotated[
        bool,
        typer.Option(
            "--generate",
            help="Generate a random 32-byte secret (github, generic_hmac, standard_webhooks); print it once.",
        ),
    ] = False,
    rotate: Annotated[
        bool, typer.Option("--rotate", help="Keep the current secret after the new one (both verify).")
    ] = False,
    kind: KindOption = None,
    stack: StackOption = None,
    endpoint_url: EndpointOption = None,
) -> None:
    """Store SOURCE's secret (replacing what is stored, or ahead of it with --rotate). Without --from-file or
    --generate the secret is read at a hidden prompt."""
    target = target_or_exit(stack, endpoint_url)
    try:
        place = ws.resolve_place(target, source, kind)
        text = ws.checked(place.kind, _secret_text(from_file, generate, place.kind))
        current = ws.read(target, place)
        change = ws.put(place.kind, text, current, rotate)
    except ws.SecretCommandError as exc:
        raise _fail(exc) from None
    ws.write(target, place, change.value, exists=current is not None)
    if generate:
        console.print("Generated secret (shown once, store it in the provider's settings):")
        typer.echo(text)
    if not place.configured:
        console.print(f"[yellow]{source} is not in the stack's WebhookSources[/yellow]: a producer's secret?")
    console.print(f"{change.describe(place)}. {AFTER}", highlight=False)


@secret_app.command("remove-old")
def remove_old(
    source: SourceArgument,
    kind: KindOption = None,
    stack: StackOption = None,
    endpoint_url: EndpointOption = None,
) -> None:
    """Keep only SOURCE's newest secret (the first), once the provider signs with it alone."""
    target = target_or_exit(stack, endpoint_url)
    try:
        place = ws.resolve_place(target, source, kind)
        current = ws.read(target, place)
        change = ws.remove_old(place.kind, current)
    except ws.SecretCommandError as exc:
        raise _fail(exc) from None
    if change is None:
        console.print(f"Only one secret is stored for {source}: nothing to remove.", highlight=False)
        return
    ws.write(target, place, change.value, exists=True)
    console.print(f"{change.describe(place)}. {AFTER}", highlight=False)
