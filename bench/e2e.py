"""End-to-end through the embedded stack (HTTP -> ingest workers -> SQS -> 2 pollers -> consumer workers ->
PROCESSED), and the emulator's own floor for the same flow measured on the same emulator."""

from __future__ import annotations

import json
import statistics
import tempfile
import threading
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

from bench import events
from plutus.core.envelope import parse_timestamp
from plutus_dev.emulator.resources import free_port
from plutus_dev.emulator.stack import LocalStack, StackConfig

PRODUCERS = 4
API_CONCURRENCY = 4
POLLERS = 2


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _post(url: str, document: Any) -> tuple[int, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(document).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310 - loopback only
        return response.status, json.loads(response.read())


def _in_queue(sqs: Any, queue: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def _count_processed(ddb: Any, table: str) -> int:
    kwargs: dict[str, Any] = {
        "TableName": table,
        "Select": "COUNT",
        "FilterExpression": "#s = :p",
        "ExpressionAttributeNames": {"#s": "status"},
        "ExpressionAttributeValues": {":p": {"S": "PROCESSED"}},
    }
    total = 0
    while True:
        page = ddb.scan(**kwargs)
        total += page["Count"]
        if "LastEvaluatedKey" not in page:
            return total
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _scan(ddb: Any, table: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": table}
    while True:
        page = ddb.scan(**kwargs)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def pipeline(endpoint: str, mode: str, n: int, timeout: float = 900) -> dict[str, Any]:
    """Send ``n`` events through the embedded stack (one a request, or 100 a batch) until all PROCESSED."""
    config = StackConfig(
        port=free_port(),
        endpoint_url=endpoint,
        api_concurrency=API_CONCURRENCY,
        consumer_pollers=POLLERS,
        stack_name=f"bench-e2e-{mode}-{uuid.uuid4().hex[:6]}",
        log_dir=Path(tempfile.mkdtemp(prefix="plutus-bench-logs-")),
        # The emulator's transactions copy whole tables, so they take seconds, not milliseconds: a 3 s read
        # timeout would turn them into retries and 503s that AWS would not give.
        environment={"PLUTUS_AWS_READ_TIMEOUT": "60"},
    )
    stack = LocalStack(config).start()
    try:
        assert stack.stack is not None
        table = stack.stack.refs["EventsTable"]
        ddb = stack.client("dynamodb")
        keys = [f"e2e-{mode}-{i}-{uuid.uuid4().hex[:8]}" for i in range(n)]
        if mode == "single":
            requests = [(f"{stack.url}/api/v1/ingest", events.body(k, i)) for i, k in enumerate(keys)]
        else:
            requests = [
                (
                    f"{stack.url}/api/v1/ingest/batch",
                    {"events": [events.body(k, i) for i, k in enumerate(chunk)]},
                )
                for chunk in (keys[j : j + 100] for j in range(0, n, 100))
            ]
        started = time.time()
        with ThreadPoolExecutor(PRODUCERS) as pool:
            answers = list(pool.map(lambda r: _post(*r), requests))
        sent = time.time()
        accepted = sum(
            1 if mode == "single" else sum(1 for r in doc["results"] if r["status"] == 202)
            for status, doc in answers
            if status in (200, 202)
        )
        if accepted != n:
            raise RuntimeError(f"{mode}: only {accepted} of {n} events accepted")
        sqs = stack.client("sqs")
        queue = stack.stack.refs["EventsQueue"]
        deadline = time.time() + timeout
        # Watch the queue (cheap), not the table: the emulator serves DynamoDB one request at a time, so
        # polling the table would slow down the pipeline it measures. The table is read once it drained.
        while _in_queue(sqs, queue) or _count_processed(ddb, table) < n:
            if time.time() > deadline:
                raise TimeoutError(f"{mode}: not all {n} events PROCESSED within {timeout:.0f}s")
            time.sleep(0.5)
        items = _scan(ddb, table)
    finally:
        stack.stop()
    processed = [parse_timestamp(i["processed_at"]["S"]) for i in items]
    lags = [
        (parse_timestamp(i["processed_at"]["S"]) - parse_timestamp(i["received_at"]["S"])).total_seconds()
        * 1000
        for i in items
    ]
    elapsed = max(p.timestamp() for p in processed) - started
    return {
        "mode": mode,
        "events": n,
        "requests": len(requests),
        "ingest_s": sent - started,
        "elapsed_s": elapsed,
        "events_per_s": n / elapsed,
        "lag_p50_ms": _percentile(lags, 0.50),
        "lag_p99_ms": _percentile(lags, 0.99),
    }


class _Floor:
    """The emulator's floor for the same flow, with no Plutus code: producer threads write and enqueue, two
    consumer threads receive, write and delete (receive and delete by 10, as the event source mapping does).

    ``calls="minimal"`` is the floor the target names: put + send per event (BatchWriteItem by 25 and
    SendMessageBatch by 10 in batch mode), receive + delete. ``calls="plutus"`` makes exactly Plutus' calls,
    on the event's own item as Plutus does: single, a conditional UpdateItem (the claim), SendMessage and an
    UpdateItem (the completion) per event; batch, per 100 events a BatchGetItem, a 100-item conditional
    transaction, SendMessageBatch by 10 and one 100-item transaction; and in the consumer one transaction per
    received batch, one conditional update per event (its marker, with the default handler's receipt).
    """

    def __init__(self, endpoint: str, mode: str, n: int, calls: str) -> None:
        import boto3

        self.mode, self.n, self.calls = mode, n, calls
        session = boto3.session.Session(region_name="us-east-1")
        ddb = session.client("dynamodb", endpoint_url=endpoint)
        name = f"bench-floor-{uuid.uuid4().hex[:8]}"
        self.events = f"{name}-events"
        for table in (self.events,):
            ddb.create_table(
                TableName=table,
                AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                BillingMode="PAY_PER_REQUEST",
            )
        sqs = session.client("sqs", endpoint_url=endpoint)
        self.queue = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "180"})["QueueUrl"]
        # Clients are thread-safe; sessions are not, so every thread's clients are made here.
        self.clients = [
            (session.client("dynamodb", endpoint_url=endpoint), session.client("sqs", endpoint_url=endpoint))
            for _ in range(PRODUCERS + POLLERS)
        ]
        self.deleted: list[float] = []
        self.lags: list[float] = []
        self.lock = threading.Lock()
        self.started = 0.0

    @staticmethod
    def item(key: str, i: int) -> dict[str, Any]:
        return {
            "id": {"S": key},
            "status": {"S": "RECEIVED"},
            "source": {"S": "bench"},
            "schema_version": {"S": "1.0"},
            "received_at": {"S": datetime.now().isoformat()},
            "attempts": {"N": "0"},
            "n": {"N": str(i)},
        }

    @staticmethod
    def message(key: str, i: int) -> str:
        return json.dumps({"sent": time.time(), "key": key, **events.body(key, i)})

    def claim(self, key: str) -> dict[str, Any]:
        return {
            "TableName": self.events,
            "Key": {"id": {"S": key}},
            "UpdateExpression": "SET #c = :c",
            "ConditionExpression": "attribute_not_exists(#c)",
            "ExpressionAttributeNames": {"#c": "claim"},
            "ExpressionAttributeValues": {":c": {"S": "INPROGRESS"}},
        }

    def update(self, key: str, status: str, i: int = 0) -> dict[str, Any]:
        return {
            "TableName": self.events,
            "Key": {"id": {"S": key}},
            "UpdateExpression": "SET #s = :s, #c = :c, n = :n ADD applied :one",
            "ExpressionAttributeNames": {"#s": "status", "#c": "claim"},
            "ExpressionAttributeValues": {
                ":s": {"S": status},
                ":c": {"S": "COMPLETED"},
                ":n": {"N": str(i)},
                ":one": {"N": "1"},
            },
        }

    def marker(self, key: str) -> dict[str, Any]:
        update = self.update(key, "PROCESSED")
        return update | {
            "ConditionExpression": "attribute_not_exists(#s) OR #s <> :s",
        }

    def produce(self, worker: int) -> None:
        ddb, sqs = self.clients[worker]
        mine = [(f"{worker}-{i}-{uuid.uuid4().hex[:8]}", i) for i in range(worker, self.n, PRODUCERS)]
        if self.mode == "single":
            for key, i in mine:
                if self.calls == "minimal":
                    ddb.put_item(TableName=self.events, Item=self.item(key, i))
                    sqs.send_message(QueueUrl=self.queue, MessageBody=self.message(key, i))
                    continue
                ddb.update_item(**self.claim(key))
                sqs.send_message(QueueUrl=self.queue, MessageBody=self.message(key, i))
                ddb.update_item(**self.update(key, "RECEIVED", i))
            return
        for j in range(0, len(mine), 100):
            self.produce_batch(ddb, sqs, mine[j : j + 100])

    def produce_batch(self, ddb: Any, sqs: Any, chunk: list[tuple[str, int]]) -> None:
        if self.calls == "minimal":
            for k in range(0, len(chunk), 25):
                puts = [{"PutRequest": {"Item": self.item(key, i)}} for key, i in chunk[k : k + 25]]
                ddb.batch_write_item(RequestItems={self.events: puts})
        else:
            ddb.batch_get_item(RequestItems={self.events: {"Keys": [{"id": {"S": key}} for key, _ in chunk]}})
            ddb.transact_write_items(TransactItems=[{"Update": self.claim(key)} for key, _ in chunk])
        for k in range(0, len(chunk), 10):
            entries = [{"Id": str(i), "MessageBody": self.message(key, i)} for key, i in chunk[k : k + 10]]
            sqs.send_message_batch(QueueUrl=self.queue, Entries=entries)
        if self.calls != "minimal":
            ddb.transact_write_items(
                TransactItems=[{"Update": self.update(key, "RECEIVED", i)} for key, i in chunk]
            )

    def consume(self, worker: int) -> None:
        ddb, sqs = self.clients[PRODUCERS + worker]
        while time.time() < self.started + 900:
            with self.lock:
                if len(self.deleted) >= self.n:
                    return
            got = sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            messages = got.get("Messages", [])
            if not messages:
                continue
            if self.calls != "minimal":
                keys = [json.loads(m["Body"])["key"] for m in messages]
                ddb.transact_write_items(TransactItems=[{"Update": self.marker(key)} for key in keys])
            sqs.delete_message_batch(
                QueueUrl=self.queue,
                Entries=[{"Id": str(k), "ReceiptHandle": m["ReceiptHandle"]} for k, m in enumerate(messages)],
            )
            now = time.time()
            with self.lock:
                self.deleted += [now] * len(messages)
                self.lags += [(now - json.loads(m["Body"])["sent"]) * 1000 for m in messages]

    def run(self) -> dict[str, Any]:
        self.started = time.time()
        threads = [threading.Thread(target=self.produce, args=(w,)) for w in range(PRODUCERS)]
        threads += [threading.Thread(target=self.consume, args=(w,)) for w in range(POLLERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=900)
        elapsed = max(self.deleted) - self.started
        return {
            "mode": self.mode,
            "calls": self.calls,
            "events": self.n,
            "elapsed_s": elapsed,
            "events_per_s": self.n / elapsed,
            "lag_p50_ms": statistics.median(self.lags),
            "lag_p99_ms": _percentile(self.lags, 0.99),
        }


def floor(endpoint: str, mode: str, n: int, calls: str = "minimal") -> dict[str, Any]:
    """The emulator's floor for ``n`` events (see :class:`_Floor`)."""
    return _Floor(endpoint, mode, n, calls).run()
