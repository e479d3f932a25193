"""e2e: black-box HTTP against a running stack.

By default the embedded stack is started on free ports. Set ``PLUTUS_API_URL`` to test a deployed stack
instead, and ``STACK`` to its CloudFormation stack name so the tests read its outputs (``AuthMode``...):
``make e2e PLUTUS_API_URL=https://....execute-api....amazonaws.com/v1 STACK=plutus-dev``.

Ingest requests are signed the way the target's ``AuthMode`` asks: SigV4 (``IAM``, ambient AWS credentials)
or Standard Webhooks (``WEBHOOK_SIGNATURE``, with ``PLUTUS_WEBHOOK_SECRET`` or the ``payment_service`` secret
read from the stack's secret store). Every other request (reads, docs, OpenAPI) is signed with SigV4, which a
deployed stack asks for in every mode. Nothing here reaches into a deployed stack's internals; a test that
cannot be run against a target is skipped with the reason.
"""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
import httpx
import pytest
from botocore.credentials import Credentials
from standardwebhooks.webhooks import Webhook

from plutus_dev.emulator.resources import LOCAL_CREDENTIALS, free_port
from plutus_dev.emulator.stack import LocalStack, StackConfig
from plutus_dev.sigv4 import SigV4Signer, ambient_signer, api_region

SOURCE = "payment_service"


class WebhookSigner(httpx.Auth):
    """Standard Webhooks headers on every POST, signed by the reference library."""

    requires_request_body = True

    def __init__(self, secret: str) -> None:
        self.webhook = Webhook(secret)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if request.method == "POST":
            msg_id = request.headers.get("webhook-id") or f"msg_{uuid.uuid4().hex}"
            now = datetime.now(UTC)
            request.headers["webhook-id"] = msg_id
            request.headers["webhook-timestamp"] = str(int(now.timestamp()))
            request.headers["webhook-signature"] = self.webhook.sign(msg_id, now, request.content.decode())
        yield request


class RouteSigner(httpx.Auth):
    """The ingest POSTs signed as the target's ``AuthMode`` asks; every other request (reads, docs, OpenAPI)
    with SigV4, which every deployed route but ``GET /health`` needs whatever the mode."""

    requires_request_body = True

    def __init__(self, ingest: httpx.Auth | None, reads: httpx.Auth | None) -> None:
        self.ingest = ingest
        self.reads = reads

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        auth = self.ingest if request.method == "POST" else self.reads
        if auth is None:
            yield request
            return
        yield from auth.auth_flow(request)


@dataclass
class Target:
    """The stack under test: its API URL, its outputs, and how to sign for it."""

    url: str
    outputs: dict[str, str]
    # How the ingest POSTs are signed (per AuthMode), and how everything else is (SigV4).
    auth: httpx.Auth | None = None
    read_auth: httpx.Auth | None = None
    # Why requests cannot be signed for this target, if they cannot (tests needing it are skipped).
    unsigned_reason: str | None = None
    local: LocalStack | None = field(default=None, repr=False)

    @property
    def auth_mode(self) -> str:
        return self.outputs.get("AuthMode", "NONE")

    def client(self) -> httpx.Client:
        """A client for this target; skips the test if the target needs signatures this run cannot make."""
        if self.unsigned_reason:
            pytest.skip(self.unsigned_reason)
        return httpx.Client(base_url=self.url, timeout=30, auth=RouteSigner(self.auth, self.read_auth))


def _first_secret(value: str) -> str:
    return value.replace(",", " ").split()[0]


def _webhook_secret(outputs: dict[str, str], client: Callable[[str], Any]) -> str | None:
    """``PLUTUS_WEBHOOK_SECRET``, else the ``payment_service`` secret from the stack's own store."""
    if os.environ.get("PLUTUS_WEBHOOK_SECRET"):
        return os.environ["PLUTUS_WEBHOOK_SECRET"]
    name = outputs.get("WebhookSecretPrefix", "/plutus/webhooks/") + SOURCE
    try:
        if outputs.get("WebhookSecretStore") == "SSM":
            value = client("ssm").get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
        else:
            value = client("secretsmanager").get_secret_value(SecretId=name)["SecretString"]
    except Exception:  # no credentials, no access, no such secret: the caller says why it skips
        return None
    return _first_secret(str(value))


def signing_for(target: Target, client: Callable[[str], Any]) -> Target:
    """Fill in how to sign requests for ``target``'s AuthMode."""
    if target.auth_mode == "WEBHOOK_SIGNATURE":
        secret = _webhook_secret(target.outputs, client)
        if secret is None:
            target.unsigned_reason = (
                f"AuthMode=WEBHOOK_SIGNATURE and no secret for {SOURCE}: set PLUTUS_WEBHOOK_SECRET"
            )
        else:
            target.auth = WebhookSigner(secret)
    # Reads need SigV4 in every mode where deployed. The embedded stack does not check it, but its requests
    # are signed all the same (with the emulator's credentials), so the signing path runs on every e2e run.
    if target.local is not None:
        target.read_auth = SigV4Signer(Credentials(**_local_credentials()), api_region(target.url))
    else:
        target.read_auth = ambient_signer(target.url)
        if target.read_auth is None:
            target.unsigned_reason = "no AWS credentials to sign reads with (every read needs SigV4)"
    if target.auth_mode == "IAM":
        target.auth = target.read_auth
    return target


def _local_credentials() -> dict[str, str]:
    return {
        "access_key": LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "secret_key": LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    }


def _deployed_outputs() -> dict[str, str]:
    stack_name = os.environ.get("STACK")
    if not stack_name:
        return {"AuthMode": os.environ.get("PLUTUS_AUTH_MODE", "NONE")}
    described = boto3.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}


def start_embedded(name: str, parameters: dict[str, str], concurrency: int = 2) -> Target:
    """An embedded stack on free ports; in WEBHOOK_SIGNATURE mode, with a fresh secret for the e2e source."""
    local = LocalStack(
        StackConfig(
            port=free_port(),
            emulator_port=free_port(),
            api_concurrency=concurrency,
            consumer_pollers=concurrency,
            stack_name=name,
            parameters=parameters,
        )
    ).start()
    assert local.stack is not None
    outputs = {key: local.stack.output(key) for key in local.stack.template["Outputs"] if key != "ApiUrl"}
    if outputs["AuthMode"] == "WEBHOOK_SIGNATURE":
        secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
        local.client("secretsmanager").create_secret(
            Name=outputs["WebhookSecretPrefix"] + SOURCE, SecretString=secret
        )
    return signing_for(Target(local.url, outputs, local=local), local.client)


@pytest.fixture(scope="session")
def target() -> Iterator[Target]:
    """The deployed stack at ``PLUTUS_API_URL``, else the embedded one (AuthMode=NONE, as ``make dev``)."""
    if os.environ.get("PLUTUS_API_URL"):
        url = os.environ["PLUTUS_API_URL"].rstrip("/")
        yield signing_for(Target(url, _deployed_outputs()), boto3.client)
        return
    embedded = start_embedded("e2e", {})
    yield embedded
    assert embedded.local is not None
    embedded.local.stop()


@pytest.fixture(scope="session")
def api_url(target: Target) -> str:
    return target.url


@pytest.fixture
def api(target: Target) -> Iterator[httpx.Client]:
    with target.client() as client:
        yield client
