"""The requests the bench sends: API Gateway REST proxy events and SQS event-source batches."""

from __future__ import annotations

import json
import uuid
import zlib
from typing import Any

from plutus.core.envelope import utc_now


def body(key: str, n: int | None = None, **extra: Any) -> dict[str, Any]:
    """One ingest body with a payload of about 150 bytes; the same key always gives the same body."""
    n = zlib.crc32(key.encode()) % 1_000_000 if n is None else n
    return {
        "source": "bench",
        "schema_version": "1.0",
        "idempotency_key": key,
        "payload": {
            "amount": 100 + n,
            "currency": "KES",
            "customer": f"cus_{n:08d}",
            "reference": f"inv-{key}",
            "note": "monthly subscription renewal",
        },
        **extra,
    }


def apigw(path: str, document: Any) -> dict[str, Any]:
    """A REST API proxy event with a JSON body, as API Gateway sends it (text, not base64)."""
    return {
        "resource": path,
        "path": path,
        "httpMethod": "POST",
        "headers": {"Content-Type": "application/json", "Host": "api.example.com"},
        "multiValueHeaders": {"Content-Type": ["application/json"], "Host": ["api.example.com"]},
        "queryStringParameters": None,
        "pathParameters": None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "bench",
            "httpMethod": "POST",
            "identity": {"sourceIp": "127.0.0.1"},
            "path": f"/v1{path}",
            "requestId": str(uuid.uuid4()),
            "resourcePath": path,
            "stage": "v1",
        },
        "body": json.dumps(document),
        "isBase64Encoded": False,
    }


def single(key: str, n: int = 0) -> dict[str, Any]:
    """POST /api/v1/ingest."""
    return apigw("/api/v1/ingest", body(key, n))


def batch(keys: list[str]) -> dict[str, Any]:
    """POST /api/v1/ingest/batch."""
    return apigw("/api/v1/ingest/batch", {"events": [body(k) for k in keys]})


def sqs_batch(queue_arn: str, size: int, typed: bool) -> dict[str, Any]:
    """An SQS event-source batch of first deliveries, as Lambda's event source mapping builds it."""
    records = []
    for i in range(size):
        event_id = str(uuid.uuid4())
        message = {
            "event_id": event_id,
            "source": "bench",
            "event_type": "bench.account_credited" if typed else None,
            "schema_version": "1" if typed else "1.0",
            "received_at": utc_now(),
            "payload": {"account": f"acct-{i}", "amount": 5} if typed else body(event_id, i)["payload"],
        }
        records.append(
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": "bench",
                "body": json.dumps(message, separators=(",", ":"), sort_keys=True),
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "0"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1",
            }
        )
    return {"Records": records}
