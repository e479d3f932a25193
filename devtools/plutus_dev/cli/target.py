"""Which Plutus stack the operator CLI works on, and its resource names.

In order: ``--stack NAME`` reads a CloudFormation stack's outputs (AWS, or LocalStack with
``--endpoint-url``); else ``PLUTUS_EVENTS_TABLE`` and friends name the resources directly; else the embedded
stack (``make dev``): stack ``plutus-local``, physical names ``plutus-local-<LogicalId>``, endpoint
``http://127.0.0.1:4577``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

import boto3
import typer

EMBEDDED_STACK = "plutus-local"
EMBEDDED_ENDPOINT = "http://127.0.0.1:4577"

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
    str | None, typer.Option("--stack", help="CloudFormation stack to read resource names from.")
]
EndpointOption = Annotated[
    str | None,
    typer.Option("--endpoint-url", help="AWS endpoint (default: AWS_ENDPOINT_URL, or the embedded stack's)."),
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
    return Target(source=source, endpoint_url=endpoint_url, region=region, **fields)


def from_stack(stack: str, endpoint_url: str | None, region: str) -> Target:
    """A target from CloudFormation ``DescribeStacks`` outputs."""
    session = boto3.session.Session(region_name=region)
    cfn = session.client("cloudformation", endpoint_url=endpoint_url)  # type: ignore[call-overload]
    try:
        described = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    except Exception as exc:
        raise TargetError(f"cannot describe stack {stack!r}: {exc}") from exc
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
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
        raise TargetError(f"no embedded stack {stack!r} at {endpoint_url} (is `make dev` running?)") from exc
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


def resolve(stack: str | None = None, endpoint_url: str | None = None) -> Target:
    """The target the options and environment point at (see the module docstring)."""
    region = _region()
    endpoint = endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None
    if stack:
        return from_stack(stack, endpoint, region)
    if os.environ.get("PLUTUS_EVENTS_TABLE"):
        return from_environment(os.environ, endpoint, region)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")  # the emulator accepts any credentials
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    stack_name = os.environ.get("PLUTUS_STACK_NAME", EMBEDDED_STACK)
    return embedded(stack_name, endpoint or EMBEDDED_ENDPOINT, region)
