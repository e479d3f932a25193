"""Which Plutus stack the operator CLI works on, and its resource names.

Precedence, first match wins (``TargetError`` says what was tried and how to point elsewhere):

1. Flags. ``--stack NAME``: the running embedded stack called NAME (its state file), else the CloudFormation
   stack NAME (AWS, or LocalStack with ``--endpoint-url``). ``--endpoint-url`` alone: the embedded stack's
   resource names (``PLUTUS_STACK_NAME``, default ``plutus-local``) on that endpoint.
2. Environment. ``PLUTUS_EVENTS_TABLE`` and ``PLUTUS_QUEUE_URL`` name the resources directly;
   ``AWS_ENDPOINT_URL`` is an endpoint as with ``--endpoint-url``; ``PLUTUS_STACK_NAME`` picks a running
   embedded stack by name.
3. State files. The one embedded stack ``make dev`` is running (``.plutus/stacks/*.json``); with several
   running, the CLI asks which.
4. Defaults: region ``us-east-1``, the emulator's test credentials.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

import boto3
import typer

from plutus_dev.emulator import statefile

EMBEDDED_STACK = "plutus-local"
HOW_TO_POINT = (
    "Start one with `make dev`, or point elsewhere: --stack NAME (a running embedded stack or a "
    "CloudFormation stack), --endpoint-url URL, or PLUTUS_EVENTS_TABLE and PLUTUS_QUEUE_URL."
)

# CloudFormation output -> Target field (template.yaml's Outputs).
OUTPUTS = {
    "EventsTableName": "events_table",
    "StateTableName": "state_table",
    "EventsQueueUrl": "queue_url",
    "EventsDeadLetterQueueUrl": "dlq_url",
}
# Environment variable -> Target field (the functions' own PLUTUS_* names, plus the DLQ).
ENVIRONMENT = {
    "PLUTUS_EVENTS_TABLE": "events_table",
    "PLUTUS_STATE_TABLE": "state_table",
    "PLUTUS_QUEUE_URL": "queue_url",
    "PLUTUS_DLQ_URL": "dlq_url",
}

StackOption = Annotated[
    str | None,
    typer.Option(
        "--stack",
        help="A running embedded stack (make dev; see .plutus/stacks/), else a CloudFormation stack.",
    ),
]
EndpointOption = Annotated[
    str | None,
    typer.Option(
        "--endpoint-url", help="AWS endpoint (default: AWS_ENDPOINT_URL, else the running embedded stack's)."
    ),
]


class TargetError(Exception):
    """The target's resources could not be resolved."""


@dataclass(frozen=True)
class Target:
    """A stack's resources, and how to reach them."""

    source: str
    endpoint_url: str | None
    region: str
    events_table: str
    state_table: str
    queue_url: str
    dlq_url: str
    # The stack's HTTP API, when known (an embedded stack's state file, or PLUTUS_API_URL).
    api_url: str | None = None
    # Where the stack reads webhook secrets, and its WebhookSources JSON, when known (`plutus webhooks`).
    webhook_secret_prefix: str | None = None
    webhook_secret_store: str | None = None
    webhook_sources: str | None = None

    def client(self, service: str) -> Any:
        """A client for ``service`` on this target's endpoint."""
        return boto3.session.Session(region_name=self.region).client(  # type: ignore[call-overload]
            service, endpoint_url=self.endpoint_url
        )

    def queue_arn(self, url: str) -> str:
        """The ARN of the queue at ``url``."""
        attrs = self.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return str(attrs["Attributes"]["QueueArn"])


def _region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def from_outputs(outputs: Mapping[str, str], source: str, endpoint_url: str | None, region: str) -> Target:
    """A target from a stack's outputs."""
    missing = [key for key in OUTPUTS if key not in outputs]
    if missing:
        raise TargetError(f"{source} has no output {', '.join(missing)}")
    fields = {OUTPUTS[key]: outputs[key] for key in OUTPUTS}
    return Target(
        source=source,
        endpoint_url=endpoint_url,
        region=region,
        webhook_secret_prefix=outputs.get("WebhookSecretPrefix"),
        webhook_secret_store=outputs.get("WebhookSecretStore"),
        webhook_sources=outputs.get("WebhookSources"),
        **fields,
    )


def from_stack(stack: str, endpoint_url: str | None, region: str) -> Target:
    """A target from CloudFormation ``DescribeStacks`` outputs."""
    session = boto3.session.Session(region_name=region)
    cfn = session.client("cloudformation", endpoint_url=endpoint_url)  # type: ignore[call-overload]
    try:
        described = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    except Exception as exc:
        raise TargetError(f"cannot describe stack {stack!r}: {exc}") from exc
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    # WebhookSources is a parameter, not an output: the kind of each source, for `plutus webhooks secret`.
    parameters = {p["ParameterKey"]: p.get("ParameterValue", "") for p in described.get("Parameters", [])}
    if "WebhookSources" in parameters:
        outputs.setdefault("WebhookSources", parameters["WebhookSources"])
    return from_outputs(outputs, f"stack {stack}", endpoint_url, region)


def from_environment(env: Mapping[str, str], endpoint_url: str | None, region: str) -> Target:
    """A target from ``PLUTUS_*`` variables (the DLQ URL is looked up from the queue if not given)."""
    fields = {field: env[var] for var, field in ENVIRONMENT.items() if env.get(var)}
    if "events_table" not in fields or "queue_url" not in fields:
        raise TargetError("PLUTUS_EVENTS_TABLE and PLUTUS_QUEUE_URL must both be set")
    target = Target(
        source="environment",
        endpoint_url=endpoint_url,
        region=region,
        events_table=fields["events_table"],
        state_table=fields.get("state_table", ""),
        queue_url=fields["queue_url"],
        dlq_url=fields.get("dlq_url", ""),
    )
    if not target.dlq_url:
        target = Target(**{**target.__dict__, "dlq_url": dead_letter_queue_url(target)})
    return target


def embedded(stack: str, endpoint_url: str, region: str) -> Target:
    """The embedded stack's resources, named as ``plutus_dev.emulator.template.provision`` names them."""
    sqs = boto3.session.Session(region_name=region).client(  # type: ignore[call-overload]
        "sqs", endpoint_url=endpoint_url
    )
    try:
        queue_url = sqs.get_queue_url(QueueName=f"{stack}-EventsQueue")["QueueUrl"]
        dlq_url = sqs.get_queue_url(QueueName=f"{stack}-EventsDeadLetterQueue")["QueueUrl"]
    except Exception as exc:
        raise TargetError(
            f"no embedded stack {stack!r} at {endpoint_url} (no queue {stack}-EventsQueue there). "
            "Check the endpoint, or set PLUTUS_STACK_NAME to the stack's name."
        ) from exc
    return Target(
        source=f"embedded stack {stack}",
        endpoint_url=endpoint_url,
        region=region,
        events_table=f"{stack}-EventsTable",
        state_table=f"{stack}-StateTable",
        queue_url=str(queue_url),
        dlq_url=str(dlq_url),
    )


def dead_letter_queue_url(target: Target) -> str:
    """The DLQ named in the source queue's RedrivePolicy."""
    import json

    sqs = target.client("sqs")
    attrs = sqs.get_queue_attributes(QueueUrl=target.queue_url, AttributeNames=["RedrivePolicy"])
    policy = attrs.get("Attributes", {}).get("RedrivePolicy")
    if not policy:
        raise TargetError("the queue has no RedrivePolicy; set PLUTUS_DLQ_URL")
    name = json.loads(policy)["deadLetterTargetArn"].rsplit(":", 1)[-1]
    return str(sqs.get_queue_url(QueueName=name)["QueueUrl"])


def from_state(state: statefile.StackState, how: str) -> Target:
    """A running embedded stack, as its state file describes it."""
    _local_credentials()
    return Target(
        source=f"embedded stack {state.name} ({how}, {statefile.path_for(state.name)})",
        endpoint_url=state.endpoint_url,
        region=state.region,
        events_table=state.events_table,
        state_table=state.state_table,
        queue_url=state.queue_url,
        dlq_url=state.dlq_url,
        api_url=state.api_url,
        webhook_secret_prefix=state.webhook_secret_prefix,
        webhook_secret_store=state.webhook_secret_store,
        webhook_sources=state.webhook_sources,
    )


def _local_credentials() -> None:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")  # the emulator accepts any credentials
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")


def running_stack(name: str | None = None) -> tuple[statefile.StackState, str]:
    """The running embedded stack called ``name`` (else ``PLUTUS_STACK_NAME``, else the only one), and how
    it was chosen."""
    how = "--stack" if name else "PLUTUS_STACK_NAME"
    name = name or os.environ.get("PLUTUS_STACK_NAME") or None
    live, stale = statefile.running()
    where = statefile.state_dir()
    gone = "".join(f"; {s.name} is stale (pid {s.pid} is gone)" for s in stale)
    if name:
        found = next((s for s in live if s.name == name), None)
        if found is None:
            others = ", ".join(s.name for s in live) or "none"
            raise TargetError(
                f"no running embedded stack {name!r} in {where} (running: {others}{gone}). {HOW_TO_POINT}"
            )
        return found, how
    if len(live) == 1:
        return live[0], "the only running stack"
    if live:
        listed = ", ".join(f"{s.name} ({s.api_url})" for s in live)
        raise TargetError(
            f"{len(live)} embedded stacks are running: {listed}. Choose one with --stack NAME or "
            "PLUTUS_STACK_NAME=NAME."
        )
    raise TargetError(
        f"no running embedded stack: tried flags (none), environment (PLUTUS_EVENTS_TABLE, AWS_ENDPOINT_URL,"
        f" PLUTUS_STACK_NAME: none set) and state files in {where} (none live{gone}). {HOW_TO_POINT}"
    )


def resolve(stack: str | None = None, endpoint_url: str | None = None) -> Target:
    """The target the flags, environment or state files point at (see the module docstring)."""
    region = _region()
    if stack:
        state = statefile.find(stack)
        if state is not None:
            return from_state(state, "--stack")
        return from_stack(stack, endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None, region)
    if endpoint_url:
        _local_credentials()
        return embedded(os.environ.get("PLUTUS_STACK_NAME", EMBEDDED_STACK), endpoint_url, region)
    if os.environ.get("PLUTUS_EVENTS_TABLE"):
        return from_environment(os.environ, os.environ.get("AWS_ENDPOINT_URL") or None, region)
    if os.environ.get("AWS_ENDPOINT_URL"):
        _local_credentials()
        name = os.environ.get("PLUTUS_STACK_NAME", EMBEDDED_STACK)
        return embedded(name, os.environ["AWS_ENDPOINT_URL"], region)
    state, how = running_stack()
    return from_state(state, how)


def resolve_api_url(stack: str | None = None, url: str | None = None) -> tuple[str, str]:
    """(the HTTP API's base URL, where it came from): ``--url``, ``PLUTUS_API_URL``, else a running
    embedded stack's state file (``--stack`` or the only one)."""
    if url:
        return url.rstrip("/"), "--url"
    if os.environ.get("PLUTUS_API_URL"):
        return os.environ["PLUTUS_API_URL"].rstrip("/"), "PLUTUS_API_URL"
    state, how = running_stack(stack)
    return state.api_url, f"embedded stack {state.name} ({how})"
