"""``plutus read PATH``: one read route through the API, signed with SigV4 as a deployed stack requires.

Reads (event status, every pack's read endpoints, ``/openapi.json``) need SigV4 in every ``AuthMode`` where
deployed; this signs with the ambient AWS credentials (environment, profile, SSO). The embedded stack checks
no signature, so without credentials a local read goes unsigned.
"""

from __future__ import annotations

import json
from typing import Annotated
from urllib.parse import urlsplit

import httpx
import typer

from plutus_dev.cli.common import console
from plutus_dev.sigv4 import ambient_signer

EMBEDDED_API = "http://127.0.0.1:3000"


def _api_url(api_url: str | None, stack: str | None) -> str:
    if api_url:
        return api_url.rstrip("/")
    if stack:
        import boto3

        described = boto3.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
        if "ApiUrl" not in outputs:
            raise typer.BadParameter(f"stack {stack} has no ApiUrl output", param_hint="--stack")
        return str(outputs["ApiUrl"]).rstrip("/")
    return EMBEDDED_API


def _is_local(url: str) -> bool:
    return urlsplit(url).hostname in {"127.0.0.1", "localhost", "::1"}


def signed_get(url: str, path: str, transport: httpx.BaseTransport | None = None) -> httpx.Response:
    """``GET url + path``, SigV4-signed when credentials are at hand; refused without them unless local."""
    signer = ambient_signer(url)
    if signer is None and not _is_local(url):
        raise typer.BadParameter("no AWS credentials to sign with: every deployed read needs SigV4")
    with httpx.Client(timeout=30, auth=signer, transport=transport) as client:
        return client.get(url + "/" + path.lstrip("/"))


def read_command(
    path: Annotated[str, typer.Argument(help="The route, e.g. /api/v1/events/<id> or /openapi.json.")],
    api_url: Annotated[
        str | None,
        typer.Option("--api-url", envvar="PLUTUS_API_URL", help="API base URL, stage included (…/v1)."),
    ] = None,
    stack: Annotated[str | None, typer.Option("--stack", help="Read the API URL from this stack.")] = None,
) -> None:
    """GET one read route and print its answer; exits 1 on a 4xx or 5xx."""
    url = _api_url(api_url, stack)
    response = signed_get(url, path)
    console.print(f"[dim]GET {url}/{path.lstrip('/')} -> {response.status_code}[/dim]")
    try:
        console.print_json(json.dumps(response.json()))
    except ValueError:
        console.print(response.text, markup=False)
    if response.status_code >= 400:
        raise typer.Exit(1)
