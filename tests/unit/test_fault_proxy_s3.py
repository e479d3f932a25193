"""The fault proxy names S3's REST calls and fails them as S3 does, so large payloads meet faults too."""

from __future__ import annotations

import pytest

from plutus_dev.faults.proxy import Call, FaultKind, error_response, identify


@pytest.mark.parametrize(("method", "operation"), [("PUT", "PutObject"), ("GET", "GetObject")])
def test_s3_calls_are_named_by_their_method(method: str, operation: str) -> None:
    assert identify({}, b"{}", method) == ("s3", operation)


def test_json_and_query_calls_keep_their_names() -> None:
    assert identify({"X-Amz-Target": "DynamoDB_20120810.PutItem"}, b"{}", "POST") == ("dynamodb", "PutItem")
    assert identify({}, b"Action=SendMessage", "POST") == ("sqs", "SendMessage")


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [
        (FaultKind.THROTTLE, 503, "SlowDown"),
        (FaultKind.UNAVAILABLE, 503, "ServiceUnavailable"),
        (FaultKind.LOST_500, 500, "InternalError"),
    ],
)
def test_s3_faults_are_answered_in_s3_s_xml(kind: FaultKind, status: int, code: str) -> None:
    answered, headers, body = error_response(Call("s3", "PutObject", b""), kind)
    assert answered == status and headers["Content-Type"] == "application/xml"
    assert f"<Code>{code}</Code>".encode() in body
