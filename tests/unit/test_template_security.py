"""The template's security invariants, for every AuthMode and with or without a customer-managed key."""

from __future__ import annotations

from typing import Any

import pytest

from plutus_dev.emulator.template import Stack
from tests.templates import RESOURCES, TEMPLATE, props, stack

KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
STATEFUL = {"AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::Logs::LogGroup", "AWS::S3::Bucket"}


def of_type(kind: str) -> dict[str, Any]:
    return {name: res for name, res in RESOURCES.items() if res["Type"] == kind}


def test_stateful_resources_are_retained_on_delete_and_replacement() -> None:
    stateful = [name for name, res in RESOURCES.items() if res["Type"] in STATEFUL]
    assert len(stateful) >= 6
    for name in stateful:
        assert RESOURCES[name].get("DeletionPolicy") == "Retain", name
        assert RESOURCES[name].get("UpdateReplacePolicy") == "Retain", name


@pytest.mark.parametrize("key", ["", KEY])
def test_tables_have_pitr_and_sse_under_the_chosen_key(key: str) -> None:
    s = stack(KmsKeyArn=key)
    for name in of_type("AWS::DynamoDB::Table"):
        p = props(s, name)
        assert p["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}, name
        expected = {"SSEEnabled": True, **({"SSEType": "KMS", "KMSMasterKeyId": key} if key else {})}
        assert p["SSESpecification"] == expected, name


@pytest.mark.parametrize("key", ["", KEY])
def test_queues_are_encrypted_sqs_managed_or_under_the_key(key: str) -> None:
    s = stack(KmsKeyArn=key)
    for name in of_type("AWS::SQS::Queue"):
        p = props(s, name)
        if key:
            assert p["KmsMasterKeyId"] == key and "SqsManagedSseEnabled" not in p, name
        else:
            assert p["SqsManagedSseEnabled"] is True and "KmsMasterKeyId" not in p, name


@pytest.mark.parametrize("key", ["", KEY])
def test_the_payload_bucket_is_encrypted_private_owner_enforced_and_expires_with_its_events(key: str) -> None:
    # Checkov cannot evaluate the Fn::If of the encryption (CKV_AWS_19 is skipped for it): this proves both.
    p = props(stack(KmsKeyArn=key, FailedRetentionDays="120"), "PayloadBucket")
    [rule] = p["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    if key:
        assert rule == {
            "ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key},
            "BucketKeyEnabled": True,
        }
    else:
        assert rule == {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
    assert p["PublicAccessBlockConfiguration"] == dict.fromkeys(
        ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"), True
    )
    assert p["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    expiry = next(r for r in p["LifecycleConfiguration"]["Rules"] if r.get("Prefix") == "payloads/")
    assert expiry["Status"] == "Enabled" and expiry["ExpirationInDays"] == "120"


def test_the_payload_bucket_refuses_every_request_without_tls() -> None:
    [statement] = props(stack(), "PayloadBucketPolicy")["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny" and statement["Principal"] == "*" and statement["Action"] == "s3:*"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": False}}
    assert set(statement["Resource"]) == {"arn:test:PayloadBucket", "${PayloadBucket.Arn}/*"}


def test_functions_reach_stored_payloads_least_privilege() -> None:
    # Ingest writes, the consumer reads (and writes a FAILED event's copy), reads never touch the bucket.
    def s3_grants(function: str) -> set[tuple[str, str]]:
        return {
            (action, statement["Resource"])
            for statement in _statements(props(stack(KmsKeyArn=KEY), function)["Policies"])
            for action in (
                [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
            )
            if action.startswith("s3:")
        }

    objects = "${PayloadBucket.Arn}/payloads/*"
    assert s3_grants("IngestFunction") == {("s3:PutObject", objects)}
    assert s3_grants("ConsumerFunction") == {("s3:GetObject", objects), ("s3:PutObject", objects)}
    assert s3_grants("ReadsFunction") == set()


def test_the_dlq_keeps_messages_longer_than_the_queue_that_feeds_it() -> None:
    # A dead-lettered message keeps its original enqueue time, so the DLQ's retention must be the longer one.
    s = stack()
    queue = props(s, "EventsQueue")
    dlq_name = queue["RedrivePolicy"]["deadLetterTargetArn"].removeprefix("arn:test:")
    assert RESOURCES[dlq_name]["Type"] == "AWS::SQS::Queue"
    assert int(props(s, dlq_name)["MessageRetentionPeriod"]) > int(queue["MessageRetentionPeriod"])


def _statements(policies: list[Any]) -> list[dict[str, Any]]:
    return [st for policy in policies if isinstance(policy, dict) for st in policy.get("Statement", [])]


@pytest.mark.parametrize("mode", ["NONE", "IAM", "WEBHOOK_SIGNATURE"])
@pytest.mark.parametrize("store", ["SECRETS_MANAGER", "SSM"])
def test_no_wildcard_actions_and_secrets_only_under_the_prefix(mode: str, store: str) -> None:
    s = stack(AuthMode=mode, WebhookSecretStore=store, KmsKeyArn=KEY)
    actions: list[str] = []
    for name in of_type("AWS::Serverless::Function"):
        for statement in _statements(props(s, name).get("Policies", [])):
            assert statement["Effect"] == "Allow"
            action = statement["Action"]
            actions += [action] if isinstance(action, str) else action
            assert statement["Resource"] != "*", name
    assert actions and not [a for a in actions if "*" in a]
    secret_actions = {a for a in actions if a.startswith(("secretsmanager:", "ssm:"))}
    if mode != "WEBHOOK_SIGNATURE":
        assert secret_actions == set()
    else:
        assert secret_actions == {"ssm:GetParameter" if store == "SSM" else "secretsmanager:GetSecretValue"}


@pytest.mark.parametrize("key", ["", KEY])
def test_the_reads_function_may_only_read_the_events_and_state_tables(key: str) -> None:
    # The route x AuthMode matrix itself is proven on the transformed template (test_route_auth.py).
    granted = {
        (action, statement["Resource"])
        for statement in _statements(props(stack(KmsKeyArn=key), "ReadsFunction")["Policies"])
        for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
    }

    assert granted == {
        ("dynamodb:GetItem", "arn:test:EventsTable"),
        ("dynamodb:GetItem", "arn:test:StateTable"),
        ("dynamodb:Query", "arn:test:StateTable"),
        *([("kms:Decrypt", key)] if key else []),
    }


@pytest.mark.parametrize(("reserved", "expected"), [("10", "10"), ("3", "3"), ("0", None)])
def test_reads_have_their_own_concurrency_cap_unless_the_account_cannot_reserve(
    reserved: str, expected: str | None
) -> None:
    reads = props(stack(ReadsReservedConcurrency=reserved), "ReadsFunction")

    assert reads.get("ReservedConcurrentExecutions") == expected
    assert reads["CodeUri"] != props(stack(), "IngestFunction")["CodeUri"]


def test_the_stage_is_throttled_by_parameters_and_the_api_function_fits_its_timeout() -> None:
    s = stack(ApiThrottlingRateLimit="7", ApiThrottlingBurstLimit="9")
    api = props(s, "PlutusApi")
    assert api["MethodSettings"] == [
        {"ResourcePath": "/*", "HttpMethod": "*", "ThrottlingRateLimit": "7", "ThrottlingBurstLimit": "9"}
    ]
    # API Gateway gives up on the integration after 29 s; the function must answer (or fail) before that.
    assert int(props(s, "IngestFunction")["Timeout"]) < 29


@pytest.mark.parametrize(
    ("environment", "mode", "allowed"),
    [
        ("dev", "NONE", True),
        ("prod", "NONE", False),
        ("staging", "NONE", False),
        ("prod", "IAM", True),
        ("prod", "WEBHOOK_SIGNATURE", True),
    ],
)
def test_unauthenticated_ingest_deploys_only_to_dev(environment: str, mode: str, allowed: bool) -> None:
    # The template's Rules, evaluated as CloudFormation does before it creates anything
    s = stack(Environment=environment, AuthMode=mode)
    verdicts = []
    for rule in TEMPLATE["Rules"].values():
        if s._evaluate(rule["RuleCondition"]):
            verdicts += [bool(s._evaluate(a["Assert"])) for a in rule["Assertions"]]
    assert all(verdicts) is allowed


def _put_events_resources(s: Stack) -> list[Any]:
    """Every resource any function may PutEvents on (and any events:* grant, which must not exist)."""
    found = []
    for name in of_type("AWS::Serverless::Function"):
        for policy in props(s, name).get("Policies", []):
            for statement in policy.get("Statement", []) if isinstance(policy, dict) else []:
                actions = (
                    statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                )
                if any(str(a).startswith("events:") for a in actions):
                    assert (name, actions) == ("ConsumerFunction", ["events:PutEvents"])
                    found.append(statement["Resource"])
    return found


@pytest.mark.parametrize(
    ("bus", "resource"),
    [
        ("none", None),
        ("create", "arn:test:FanOutEventBus"),
        ("team-bus", "arn:aws:events:us-east-1:123456789012:event-bus/team-bus"),
        (
            "arn:aws:events:eu-west-1:111122223333:event-bus/team",
            "arn:aws:events:eu-west-1:111122223333:event-bus/team",
        ),
    ],
)
def test_only_the_consumer_may_put_events_and_only_on_the_fan_out_bus(bus: str, resource: str | None) -> None:
    s = stack(FanOutBus=bus)

    assert _put_events_resources(s) == ([resource] if resource else [])
    env = s.function_environment("ConsumerFunction")
    assert env.get("PLUTUS_FANOUT_BUS") == (
        None if bus == "none" else "ref:FanOutEventBus" if bus == "create" else bus
    )
    assert s.condition("CreateFanOutBus") is (bus == "create")
