"""``plutus webhooks secret`` against the emulator, on a stack provisioned from template.yaml: it writes where
the stack reads (Secrets Manager or SSM under the stack's prefix), checks a secret as the stack will before
writing, rotates (both verify) and removes the old one, and never prints a secret it did not generate."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import stripe
from typer.testing import CliRunner, Result

from plutus import bootstrap
from plutus_dev.cli.app import app
from plutus_dev.emulator.resources import Emulator
from tests.integration.harness import Harness, Response, harness

SOURCES = {"stripe": {"kind": "stripe"}, "github": {"kind": "github"}}


@pytest.fixture(params=["SECRETS_MANAGER", "SSM"])
def stack(emulator: Emulator, request: pytest.FixtureRequest) -> Iterator[Harness]:
    parameters = {
        "WebhookSources": json.dumps(SOURCES),
        "WebhookSecretPrefix": f"/t{uuid.uuid4().hex[:10]}/webhooks/",
        "WebhookSecretStore": request.param,
    }
    # The CLI finds the stack as an operator's shell would: the functions' PLUTUS_* and AWS_ENDPOINT_URL,
    # which the harness puts in the environment.
    with harness(emulator.url, parameters=parameters) as h:
        yield h


def cli(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(app, ["webhooks", "secret", *args], input=input, env={"COLUMNS": "200"})


def stored(stack: Harness, source: str) -> str | None:
    name = stack.stack.parameters["WebhookSecretPrefix"] + source
    if stack.stack.parameters["WebhookSecretStore"] == "SSM":
        return str(stack.client("ssm").get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"])
    return str(stack.client("secretsmanager").get_secret_value(SecretId=name)["SecretString"])


def post_stripe(stack: Harness, secret: str) -> Response:
    body = json.dumps({"id": f"evt_{uuid.uuid4().hex}", "type": "customer.created", "data": {}}).encode()
    header = stripe.WebhookSignature.generate_signature_header(body.decode(), secret)
    # The functions cache what they loaded for WebhookSecretMaxAgeSeconds: each request here comes after it.
    bootstrap.root().secret_store.forget()
    return stack.request("POST", "/api/v1/webhooks/stripe", body, {"Stripe-Signature": header})


def secret_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / f"{uuid.uuid4().hex}.txt"
    path.write_text(text + "\n")
    return str(path)


def test_put_rotate_and_remove_old_keep_the_source_verifying_throughout(
    stack: Harness, tmp_path: Path
) -> None:
    old, new = "whsec_" + os.urandom(16).hex(), "whsec_" + os.urandom(16).hex()

    # Given a Stripe signing secret stored by the CLI
    put = cli("put", "stripe", "--from-file", secret_file(tmp_path, old))
    assert put.exit_code == 0, put.output
    assert stored(stack, "stripe") == old and post_stripe(stack, old).status == 202

    # When the provider rolls it: the new one is put ahead of the current one
    rotated = cli("put", "stripe", "--rotate", "--from-file", secret_file(tmp_path, new))
    assert rotated.exit_code == 0, rotated.output
    assert stored(stack, "stripe") == f"{new}\n{old}"
    assert (post_stripe(stack, old).status, post_stripe(stack, new).status) == (202, 202)

    # Then a third rotation waits for remove-old, which leaves the new one alone
    refused = cli("put", "stripe", "--rotate", "--from-file", secret_file(tmp_path, "whsec_" + "z" * 32))
    assert refused.exit_code == 2 and "remove-old" in refused.output
    removed = cli("remove-old", "stripe")
    assert removed.exit_code == 0, removed.output
    assert stored(stack, "stripe") == new
    assert (post_stripe(stack, old).status, post_stripe(stack, new).status) == (401, 202)
    assert cli("remove-old", "stripe").exit_code == 0  # nothing left to remove
    assert stored(stack, "stripe") == new

    # And no secret was ever printed
    everything = put.output + rotated.output + refused.output + removed.output
    assert old not in everything and new not in everything
    assert "stripe (stripe)" in put.output and stack.stack.parameters["WebhookSecretPrefix"] in put.output


@pytest.mark.parametrize(
    ("args", "text", "why"),
    [
        (["stripe"], "whsec_short", "too_short"),
        (["stripe"], "sk_live_" + "x" * 40, "not_whsec"),
        (["github"], "a" * 15, "too_short"),
        (["stripe"], "whsec_" + "a" * 32 + "\nwhsec_" + "b" * 32, "exactly one secret"),
        (["stripe", "--generate"], None, "issued by the provider"),
        (["nobody"], "x" * 32, "not in the stack's WebhookSources"),
        (["stripe", "--kind", "github"], "x" * 32, "is a stripe source"),
    ],
    ids=["too_short", "api_key", "github_short", "two_at_once", "generate_stripe", "unknown", "wrong_kind"],
)
def test_a_secret_the_stack_could_not_use_is_refused_and_nothing_is_written(
    stack: Harness, tmp_path: Path, args: list[str], text: str | None, why: str
) -> None:
    extra = ["--from-file", secret_file(tmp_path, text)] if text is not None else []
    result = cli("put", *args, *extra)

    assert result.exit_code == 2 and why in result.output, result.output
    if text:
        assert all(line not in result.output for line in text.splitlines())
    if stack.stack.parameters["WebhookSecretStore"] == "SSM":
        listed = stack.client("ssm").describe_parameters()["Parameters"]
    else:
        listed = stack.client("secretsmanager").list_secrets()["SecretList"]
    prefix = stack.stack.parameters["WebhookSecretPrefix"]
    assert [s["Name"] for s in listed if s["Name"].startswith(prefix)] == []


def test_generate_prints_the_new_secret_once_and_the_stack_verifies_with_it(stack: Harness) -> None:
    result = cli("put", "github", "--generate")

    assert result.exit_code == 0, result.output
    secret = stored(stack, "github")
    assert secret is not None and len(secret) == 64 and result.output.count(secret) == 1
    body = b'{"zen": "Keep it logically awesome."}'
    headers = {
        "X-Hub-Signature-256": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-GitHub-Event": "ping",
    }
    bootstrap.root().secret_store.forget()
    assert stack.request("POST", "/api/v1/webhooks/github", body, headers).status == 202


def test_a_producers_secret_is_put_with_its_kind_and_typed_at_a_hidden_prompt(stack: Harness) -> None:
    import base64

    secret = "whsec_" + base64.b64encode(os.urandom(24)).decode()
    result = cli("put", "payment_service", "--kind", "standard_webhooks", input=secret + "\n")

    assert result.exit_code == 0, result.output
    assert stored(stack, "payment_service") == secret and secret not in result.output
    assert "not in the stack's WebhookSources" in result.output
