"""A handler in its own process, as a Lambda execution environment: the bench sends it events and gets back
the process CPU time they cost, their wall time, and the AWS calls the handler made.

Calls are counted with a botocore ``before-call`` hook registered on every client the process creates; the
request bodies are kept and only turned into billing units after the measured window closes.
"""

from __future__ import annotations

import importlib.util
import io
import json
import math
import os
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from plutus_dev.emulator.lambda_runtime import reset_caches

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "bench" / "reference" / "app.py"
KB = 1024
SQS_CHUNK = 64 * KB

Handler = Callable[[dict[str, Any], Any], Any]


class Sink(io.TextIOBase):
    """The function's stdout: discarded, but its volume counted (CloudWatch Logs bills ingestion)."""

    def __init__(self) -> None:
        self.bytes = 0

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        self.bytes += len(s)
        return len(s)


CALLS: list[tuple[str, str, bytes]] = []


def _record(event_name: str, params: dict[str, Any], **_: Any) -> None:
    _, service, operation = event_name.split(".", 2)
    body = params.get("body") or b""
    CALLS.append((service, operation, body if isinstance(body, bytes) else body.encode()))


def _count_every_client() -> None:
    import botocore.session

    create = botocore.session.Session.create_client

    def create_client(self: Any, *args: Any, **kwargs: Any) -> Any:
        client = create(self, *args, **kwargs)
        client.meta.events.register("before-call", _record, unique_id="bench-count")
        return client

    botocore.session.Session.create_client = create_client  # type: ignore[method-assign]


def _item_bytes(item: dict[str, Any]) -> int:
    # DynamoDB item size: attribute names plus values (close enough for items far below 1 KB).
    return sum(len(name) + len(json.dumps(value)) for name, value in item.items())


def _units(service: str, operation: str, body: bytes) -> dict[str, float]:
    """Billing units of one call: DynamoDB request units (on-demand) and SQS requests (64 KB chunks)."""
    request = json.loads(body) if body else {}
    if service == "sqs":
        if operation == "SendMessageBatch":
            size = sum(len(e["MessageBody"]) for e in request["Entries"])
        else:
            size = len(request.get("MessageBody", ""))
        return {"sqs_requests": max(1, math.ceil(size / SQS_CHUNK))}
    if operation == "PutItem":
        return {"wru": max(1, math.ceil(_item_bytes(request["Item"]) / KB))}
    if operation in {"UpdateItem", "DeleteItem"}:
        return {"wru": 1}  # every item here is far below 1 KB
    if operation == "TransactWriteItems":
        wru = 0
        for entry in request["TransactItems"]:
            kind, op = next(iter(entry.items()))
            size = _item_bytes(op["Item"]) if kind == "Put" else KB
            wru += 2 * max(1, math.ceil(size / KB))
        return {"wru": wru}
    if operation == "BatchWriteItem":
        return {"wru": sum(len(v) for v in request["RequestItems"].values())}
    if operation == "BatchGetItem":
        # Strongly consistent, items below 4 KB: one unit per key, found or not.
        return {"rru": sum(len(v["Keys"]) for v in request["RequestItems"].values())}
    if operation == "GetItem":
        return {"rru": 1 if request.get("ConsistentRead") else 0.5}
    return {}


def summarise_calls(calls: list[tuple[str, str, bytes]]) -> dict[str, Any]:
    """Counts by operation, billing units and request bytes."""
    by_op: Counter[str] = Counter()
    units: Counter[str] = Counter()
    size = 0
    for service, operation, body in calls:
        by_op[operation] += 1
        units.update(_units(service, operation, body))
        size += len(body)
    return {"calls": sum(by_op.values()), "by_operation": dict(by_op), "units": dict(units), "bytes": size}


class FakeContext:
    """The parts of the Lambda context Powertools reads."""

    def __init__(self, name: str, memory: int) -> None:
        self.function_name = name
        self.memory_limit_in_mb = memory
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{name}"
        self.log_stream_name = "bench"
        self.function_version = "$LATEST"
        self._deadline = time.monotonic() + 900

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def load(kind: str) -> Handler:
    """Build the handler of ``kind`` from the current environment, as a new execution environment would."""
    if kind == "ours":
        reset_caches()
        from plutus.ingest.entry import build_lambda_handler

        return build_lambda_handler()
    if kind == "reference":
        spec = importlib.util.spec_from_file_location(f"reference_{uuid.uuid4().hex}", REFERENCE)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.handler  # type: ignore[no-any-return]
    if kind in {"consumer", "consumer-typed"}:
        reset_caches()
        from plutus import bootstrap
        from plutus.consumer.entry import build_lambda_handler

        if kind == "consumer":
            return build_lambda_handler()
        from bench import pack

        registry = bootstrap.root().registry
        if not registry.knows_type(pack.AccountCreditedV1.event_type):
            registry.include_router(pack.router)
        return build_lambda_handler()
    raise ValueError(kind)


def serve(conn: Connection, kind: str, env: dict[str, str]) -> None:
    """Worker loop: ``("load", env)`` rebuilds the handler on new resources; ``("run", events)`` measures."""
    sink = Sink()
    sys.stdout = sink  # before anything binds a log handler to stdout, as Lambda's runtime captures it
    os.environ.update(env)
    _count_every_client()
    handler = load(kind)
    memory = int(env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512"))
    while True:
        message = conn.recv()
        if message is None:
            return
        verb, payload = message
        if verb == "load":
            os.environ.update(payload)
            handler = load(kind)
            conn.send(None)
            continue
        events: list[dict[str, Any]] = payload
        contexts = [FakeContext(env.get("AWS_LAMBDA_FUNCTION_NAME", kind), memory) for _ in events]
        responses: list[Any] = []
        walls: list[float] = []
        CALLS.clear()
        sink.bytes = 0
        cpu = time.process_time()
        for event, context in zip(events, contexts, strict=True):
            start = time.perf_counter()
            responses.append(handler(event, context))
            walls.append(time.perf_counter() - start)
        cpu = time.process_time() - cpu
        calls = summarise_calls(CALLS)
        conn.send(
            {
                "cpu_s": cpu,
                "walls_s": walls,
                "responses": responses,
                "log_bytes": sink.bytes,
                "request_bytes": [len(json.dumps(e)) for e in events],
                **calls,
            }
        )
