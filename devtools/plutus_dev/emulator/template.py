"""Read ``template.yaml`` and create its tables and queues on an AWS-compatible endpoint.

The template is the only description of the resources: the embedded stack, the integration tests and the
benchmark all provision from it, so they cannot drift from what ``sam deploy`` creates.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = ROOT / "template.yaml"


class _Tag:
    def __init__(self, tag: str, value: Any) -> None:
        self.tag = tag
        self.value = value

    def __repr__(self) -> str:
        return f"!{self.tag} {self.value!r}"


# libyaml's parser where PyYAML has it: ten times faster, and each integration test provisions the template.
class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    pass


def _construct(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> _Tag:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return _Tag(suffix, value)


_Loader.add_multi_constructor("!", _construct)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """The template as data, CloudFormation short-form tags kept as ``_Tag`` objects."""
    with path.open() as fh:
        return yaml.load(fh, Loader=_Loader)  # noqa: S506 - SafeLoader subclass with CFN tags only


class _NoValue:
    """``!Ref AWS::NoValue``: the property it stands for is removed."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()
# moto's default account.
ACCOUNT_ID = "123456789012"


@dataclass
class Stack:
    """Physical names and attributes of the provisioned resources, by logical id."""

    name: str
    region: str
    parameters: dict[str, str]
    refs: dict[str, str] = field(default_factory=dict)
    arns: dict[str, str] = field(default_factory=dict)
    template: dict[str, Any] = field(default_factory=dict)

    def condition(self, name: str) -> bool:
        """Evaluate one of the template's ``Conditions`` with this stack's parameters."""
        return bool(self._evaluate(self.template.get("Conditions", {})[name]))

    def _evaluate(self, value: Any) -> Any:
        if isinstance(value, _Tag):
            args = value.value
            if value.tag == "Equals":
                return self._evaluate(args[0]) == self._evaluate(args[1])
            if value.tag == "Not":
                return not self._evaluate(args[0])
            if value.tag == "And":
                return all(self._evaluate(a) for a in args)
            if value.tag == "Or":
                return any(self._evaluate(a) for a in args)
            if value.tag == "Condition":
                return self.condition(args)
            if value.tag == "Contains":
                return str(self._evaluate(args[1])) in [str(a) for a in self._evaluate(args[0])]
        return self.resolve(value)

    def resolve(self, value: Any) -> Any:
        """Evaluate ``!Ref`` / ``!GetAtt`` / ``!Sub`` / ``!If`` / ``!Select`` / ``!Split`` against what was
        provisioned.

        Properties that resolve to ``AWS::NoValue`` are dropped, as CloudFormation drops them.
        """
        if isinstance(value, _Tag):
            return self._intrinsic(value)
        if isinstance(value, dict):
            resolved = {k: self.resolve(v) for k, v in value.items()}
            return {k: v for k, v in resolved.items() if v is not NO_VALUE}
        if isinstance(value, list):
            return [v for v in (self.resolve(v) for v in value) if v is not NO_VALUE]
        return value

    def _intrinsic(self, value: _Tag) -> Any:
        if value.tag == "If":
            name, then, otherwise = value.value
            return self.resolve(then if self.condition(name) else otherwise)
        if value.tag == "Ref" and value.value == "AWS::NoValue":
            return NO_VALUE
        if value.tag == "Ref":
            return self.refs.get(value.value, self.parameters.get(value.value))
        if value.tag == "GetAtt":
            logical, attr = value.value.split(".", 1) if isinstance(value.value, str) else value.value
            if attr == "Arn":
                return self.arns[logical]
            if attr == "QueueName":
                return self.refs[logical].rsplit("/", 1)[-1]
            raise KeyError(f"unsupported GetAtt {value.value}")
        if value.tag == "Split":
            delimiter, text = value.value
            return str(self.resolve(text)).split(delimiter)
        if value.tag == "Select":
            index, items = value.value
            return self.resolve(items)[int(index)]
        if value.tag == "Sub":
            return self._sub(value.value)
        raise KeyError(f"unsupported intrinsic {value!r}")

    def _sub(self, text: str) -> str:
        pseudo = {
            "AWS::Region": self.region,
            "AWS::Partition": "aws",
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::StackName": self.name,
        }
        for key, val in {**self.parameters, **self.refs, **pseudo}.items():
            text = text.replace("${" + key + "}", str(val))
        return text

    def function_environment(self, logical_id: str) -> dict[str, str]:
        """The environment Lambda would give ``logical_id``: Globals, then the function's own variables."""
        resources = self.template["Resources"]
        merged: dict[str, Any] = {}
        globals_env = self.template.get("Globals", {}).get("Function", {}).get("Environment", {})
        merged.update(globals_env.get("Variables", {}))
        own = resources[logical_id]["Properties"].get("Environment", {}).get("Variables", {})
        merged.update(own)
        resolved = {k: self.resolve(v) for k, v in merged.items()}
        return {k: str(v) for k, v in resolved.items() if v is not NO_VALUE}

    def output(self, key: str) -> str:
        """A resolved stack output (ApiUrl excepted)."""
        return str(self.resolve(self.template["Outputs"][key]["Value"]))


def default_parameters(template: dict[str, Any], overrides: dict[str, str] | None = None) -> dict[str, str]:
    """Template parameter defaults, with ``overrides`` applied."""
    params = {k: str(v.get("Default", "")) for k, v in template.get("Parameters", {}).items()}
    params.update(overrides or {})
    return params


def _table_args(name: str, props: dict[str, Any]) -> dict[str, Any]:
    args: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
    }
    if props.get("GlobalSecondaryIndexes"):
        args["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    return args


def _create_bus(events: Any, stack: Stack, logical: str) -> None:
    # EventBridge (FanOutBus=create): the bus is named after the stack, as CloudFormation's !Sub names it.
    name = f"{stack.name}-fanout"
    try:
        arn = events.create_event_bus(Name=name)["EventBusArn"]
    except events.exceptions.ResourceAlreadyExistsException:
        arn = events.describe_event_bus(Name=name)["Arn"]
    stack.refs[logical] = name
    stack.arns[logical] = arn


def provision(
    session: Any,
    stack_name: str = "plutus-local",
    overrides: dict[str, str] | None = None,
    template_path: Path = TEMPLATE,
) -> Stack:
    """Create (or reuse) every DynamoDB table, SQS queue, S3 bucket and (when its condition holds) event bus
    the template declares."""
    template = load_template(template_path)
    region = session.region_name or "us-east-1"
    stack = Stack(stack_name, region, default_parameters(template, overrides), template=template)
    dynamodb = session.client("dynamodb")
    sqs = session.client("sqs")
    resources = template["Resources"]
    # Dead-letter queues first: a source queue's RedrivePolicy names its DLQ's ARN.
    ordered = sorted(resources.items(), key=lambda kv: "RedrivePolicy" in kv[1].get("Properties", {}))
    for logical, res in ordered:
        if res["Type"] == "AWS::Events::EventBus" and stack.condition(res["Condition"]):
            _create_bus(session.client("events"), stack, logical)
        if res["Type"] == "AWS::S3::Bucket":
            _bucket(session, stack, logical, stack.resolve(res.get("Properties", {})))
        if res["Type"] not in {"AWS::DynamoDB::Table", "AWS::SQS::Queue"}:
            continue
        props = stack.resolve(res.get("Properties", {}))
        if res["Type"] == "AWS::DynamoDB::Table":
            name = f"{stack_name}-{logical}"
            try:
                dynamodb.create_table(**_table_args(name, props))
            except dynamodb.exceptions.ResourceInUseException:
                pass
            ttl = props.get("TimeToLiveSpecification")
            if ttl and ttl.get("Enabled"):
                dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
            stack.refs[logical] = name
            stack.arns[logical] = dynamodb.describe_table(TableName=name)["Table"]["TableArn"]
        elif res["Type"] == "AWS::SQS::Queue":
            name = f"{stack_name}-{logical}" + (".fifo" if props.get("FifoQueue") else "")
            attributes = {
                key: (
                    json.dumps(val)
                    if isinstance(val, dict)
                    else str(val).lower()
                    if isinstance(val, bool)
                    else str(val)
                )
                for key, val in props.items()
                if key
                in {
                    "VisibilityTimeout",
                    "MessageRetentionPeriod",
                    "RedrivePolicy",
                    "DelaySeconds",
                    "MaximumMessageSize",
                    "ReceiveMessageWaitTimeSeconds",
                    "FifoQueue",
                    "ContentBasedDeduplication",
                    "DeduplicationScope",
                    "FifoThroughputLimit",
                    "SqsManagedSseEnabled",
                    "KmsMasterKeyId",
                }
            }
            url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
            sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
            stack.refs[logical] = url
            stack.arns[logical] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
                "Attributes"
            ]["QueueArn"]
    return stack


def _bucket(session: Any, stack: Stack, logical: str, props: dict[str, Any]) -> None:
    """Create (or reuse) a bucket, with the template's default encryption and public access block."""
    s3 = session.client("s3")
    name = f"{stack.name}-{logical}".lower()  # bucket names are lower case
    try:
        s3.create_bucket(Bucket=name)
    except (s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
        pass
    # CloudFormation's spelling of the rules differs from the API's.
    rules = [
        {"ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"]}
        for rule in props.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", [])
    ]
    if rules:
        s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
    if props.get("PublicAccessBlockConfiguration"):
        s3.put_public_access_block(
            Bucket=name, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"]
        )
    stack.refs[logical] = name
    stack.arns[logical] = f"arn:aws:s3:::{name}"
