"""In-process handlers against a template-provisioned stack on the emulator, over HTTP."""

from __future__ import annotations

import base64
import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import boto3

from plutus.core.registry import Registry, Router
from plutus_dev.emulator.apigw import NO_ROUTE, build_event
from plutus_dev.emulator.lambda_runtime import InProcessFunction, reset_caches
from plutus_dev.emulator.poller import Poller
from plutus_dev.emulator.routes import RouteTable
from plutus_dev.emulator.template import Stack, provision
from tests import tables


@dataclass
class Response:
    """An API Gateway proxy response, decoded."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Harness:
    """A fresh stack (tables and queues from template.yaml) and the two real handlers wired to it."""

    endpoint: str
    stack: Stack
    ingest: InProcessFunction
    consumer: InProcessFunction
    reads: InProcessFunction
    env: dict[str, str] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.endpoint)  # type: ignore[call-overload]

    @property
    def queue_url(self) -> str:
        return self.stack.refs["EventsQueue"]

    @property
    def dlq_url(self) -> str:
        return self.stack.refs["EventsDeadLetterQueue"]

    def request(
        self,
        method: str,
        path: str,
        body: bytes | str | dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        principal: str | None = None,
    ) -> Response:
        """Send one HTTP request through the API Gateway event shape to the real handler its route names
        (routed from template.yaml as API Gateway routes it: reads to the reads function).

        ``principal``: the IAM caller API Gateway would name after verifying SigV4 (AuthMode IAM).
        """
        if isinstance(body, dict):
            body = json.dumps(body)
        raw = body.encode() if isinstance(body, str) else (body or b"")
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        found = RouteTable.from_template(self.stack.template).resolve(method, urlsplit(path).path)
        if found is None:
            status_code, no_route_headers, no_route_body = NO_ROUTE
            return Response(status_code, {k.lower(): v for k, v in no_route_headers.items()}, no_route_body)
        route, params = found
        function = {"IngestFunction": self.ingest, "ReadsFunction": self.reads}[route.function]
        event = build_event(
            method, path, hdrs, raw, "127.0.0.1", resource=route.resource, path_parameters=params
        )
        if principal is not None:
            event["requestContext"]["identity"].update({"userArn": principal, "caller": principal})
        status, result, _ = function.invoke(event)
        assert status == "ok", result
        data = result.get("body") or ""
        payload = base64.b64decode(data) if result.get("isBase64Encoded") else data.encode()
        merged = {k.lower(): v for k, v in (result.get("headers") or {}).items()}
        for k, values in (result.get("multiValueHeaders") or {}).items():
            merged[k.lower()] = ", ".join(values)
        return Response(result["statusCode"], merged, payload)

    def post_event(self, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
        return self.request("POST", "/api/v1/ingest", body, headers)

    def post_batch(self, events: list[Any], headers: dict[str, str] | None = None) -> Response:
        return self.request("POST", "/api/v1/ingest/batch", {"events": events}, headers)

    def get_event(self, event_id: str) -> Response:
        return self.request("GET", f"/api/v1/events/{event_id}")

    def poller(self) -> Poller:
        import threading

        return Poller(
            self.client("sqs"),
            self.queue_url,
            self.stack.arns["EventsQueue"],
            self.consumer,
            batch_size=10,
            wait_seconds=0,
            on_output=lambda *_: None,
            stop=threading.Event(),
            name="test-poller",
        )

    def drain(self, *, expire_failures: bool = True, max_batches: int = 100) -> int:
        """Run the event source mapping until the queue is empty; returns the records delivered.

        With ``expire_failures`` a failed record's visibility timeout is made to elapse at once, so SQS
        redelivers it (and counts the receive) without the test waiting out the real timeout.
        """
        sqs = self.client("sqs")
        poller = self.poller()
        delivered = 0
        for _ in range(max_batches):
            records, failed = poller.poll_once()
            if not records:
                return delivered
            delivered += len(records)
            if failed and expire_failures:
                sqs.change_message_visibility_batch(
                    QueueUrl=self.queue_url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": r["receiptHandle"], "VisibilityTimeout": 0}
                        for i, r in enumerate(records)
                        if r["messageId"] in failed
                    ],
                )
        raise AssertionError("queue did not drain")

    def queue_depth(self, url: str | None = None) -> int:
        return tables.queue_depth(self.client("sqs"), url or self.queue_url)

    def scan(self, logical_table: str) -> list[dict[str, Any]]:
        """Every item of one of the stack's tables (by its logical id in template.yaml)."""
        return tables.scan(self.client("dynamodb"), self.stack.refs[logical_table])


@contextmanager
def harness(
    endpoint: str,
    parameters: dict[str, str] | None = None,
    environment: dict[str, str] | None = None,
    registry: Registry | None = None,
    routers: list[Router] | None = None,
) -> Iterator[Harness]:
    """Provision a uniquely named stack from template.yaml and build both handlers against it."""
    consumer_registry = None
    if routers is not None:
        # The consumer sees only these routers (plus the default handler); ingest lets their types through.
        consumer_registry = registry_of(*routers)
        environment = {"PLUTUS_ALLOW_UNREGISTERED_TYPES": "true", **(environment or {})}
    session = boto3.session.Session(region_name="us-east-1")

    class _Session:
        region_name = "us-east-1"

        def client(self, service: str) -> Any:
            return session.client(service, endpoint_url=endpoint)  # type: ignore[call-overload]

    stack = provision(_Session(), f"t{uuid.uuid4().hex[:10]}", parameters)
    env = stack.function_environment("IngestFunction")
    env.update(stack.function_environment("ConsumerFunction"))
    env.update(stack.function_environment("ReadsFunction"))
    env.update(environment or {})
    env["AWS_ENDPOINT_URL"] = endpoint
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    reset_caches()
    try:
        from plutus import bootstrap
        from plutus.consumer.entry import build_lambda_handler as build_consumer
        from plutus.ingest.entry import build_lambda_handler as build_ingest
        from plutus.reads.entry import build_reads_handler

        # One root per environment, as in Lambda: ``registry`` replaces both functions' registry; ``routers``
        # the consumer's only (ingest still validates the real packs' types). Both share the clients tests
        # hook into.
        if registry is not None:
            bootstrap.reset(bootstrap.Root(registry=registry))
        root = bootstrap.root()
        consumer_root = root
        if consumer_registry is not None:
            consumer_root = bootstrap.Root(root.settings, clients=root.clients, registry=consumer_registry)
        yield Harness(
            endpoint,
            stack,
            InProcessFunction("IngestFunction", build_ingest(root)),
            InProcessFunction("ConsumerFunction", build_consumer(consumer_root)),
            InProcessFunction("ReadsFunction", build_reads_handler(root)),
            env,
        )
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        reset_caches()


def app_client(service: str) -> Any:
    """The client the functions of this process use (tests hook botocore events onto it)."""
    from plutus import bootstrap

    return bootstrap.root().clients(service)


def registry_of(*routers: Router) -> Registry:
    """A registry of ``routers`` with the default handler."""
    from plutus.domains import default

    registry = Registry(default_handler=default.handle_record_receipt)
    for router in routers:
        registry.include_router(router)
    return registry
