"""A fault-injecting HTTP proxy in front of an AWS-compatible endpoint. Dev tooling; never deployed.

Point a function's ``AWS_ENDPOINT_URL`` at the proxy and it fails a chosen fraction of DynamoDB and SQS calls
the way AWS does, with the error shapes botocore parses and retries:

- before the call (the backend never sees it): ``ThrottlingException`` (400), ``ServiceUnavailable`` (503);
- after the call (the backend applied it, the answer is lost, the hardest case for idempotency): an
  ``InternalServerError`` (500), a connection closed without an answer, or no answer until the client's
  read timeout.

Scripted rules fail chosen calls deterministically (for tests); ``rate`` fails random ones (for runs).
"""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from plutus_dev.emulator.resources import free_port

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection"}


class FaultKind(StrEnum):
    """How a call fails."""

    THROTTLE = "throttle"  # before: 400 ThrottlingException
    UNAVAILABLE = "unavailable"  # before: 503 ServiceUnavailable
    LOST_500 = "lost-500"  # after: applied, answered 500 InternalServerError
    LOST_RESET = "lost-reset"  # after: applied, connection closed without an answer
    LOST_TIMEOUT = "lost-timeout"  # after: applied, no answer until the client gives up

    @property
    def reaches_backend(self) -> bool:
        """Whether the backend applied the call."""
        return self.name.startswith("LOST_")


# Throttling and lost answers are what a busy AWS account sees most.
DEFAULT_MIX: dict[FaultKind, float] = {
    FaultKind.THROTTLE: 0.35,
    FaultKind.UNAVAILABLE: 0.15,
    FaultKind.LOST_500: 0.2,
    FaultKind.LOST_RESET: 0.2,
    FaultKind.LOST_TIMEOUT: 0.1,
}

# (status, DynamoDB __type, SQS error code) per kind, as the services answer them.
_SHAPES: dict[FaultKind, tuple[int, str, str]] = {
    FaultKind.THROTTLE: (400, "ThrottlingException", "ThrottlingException"),
    FaultKind.UNAVAILABLE: (503, "ServiceUnavailable", "ServiceUnavailable"),
    FaultKind.LOST_500: (500, "InternalServerError", "InternalError"),
}


@dataclass(frozen=True, slots=True)
class Call:
    """One intercepted AWS call."""

    service: str  # "dynamodb", "sqs" or "s3"
    operation: str  # "PutItem", "SendMessage", ...
    body: bytes

    def mentions(self, text: str) -> bool:
        """Whether the request body contains ``text`` (an event id, a table name...)."""
        return text.encode() in self.body


@dataclass
class Rule:
    """Fail the calls ``match`` selects with ``kind``, ``times`` times (``None``: every time)."""

    match: Callable[[Call], bool]
    kind: FaultKind
    times: int | None = None

    def take(self, call: Call) -> bool:
        if self.times == 0 or not self.match(call):
            return False
        if self.times is not None:
            self.times -= 1
        return True


def operation_is(service: str, *operations: str) -> Callable[[Call], bool]:
    """A rule matcher for some operations of one service."""
    return lambda call: call.service == service and call.operation in operations


# S3's REST protocol names the operation by method (the functions only put and get objects).
_S3_OPERATIONS = {"PUT": "PutObject", "GET": "GetObject", "HEAD": "HeadObject", "DELETE": "DeleteObject"}


def identify(headers: Any, body: bytes, method: str = "POST") -> tuple[str, str]:
    """(service, operation) of a request, for the JSON protocol (X-Amz-Target), the query protocol and
    S3's REST protocol."""
    target = headers.get("X-Amz-Target") or ""
    if "." in target:
        prefix, operation = target.rsplit(".", 1)
        service = "dynamodb" if prefix.startswith("DynamoDB") else "sqs" if "SQS" in prefix else prefix
        # EventBridge (fan-out) answers errors in the same JSON shape as DynamoDB.
        return ("events" if prefix == "AWSEvents" else service), operation
    if method in _S3_OPERATIONS:
        return "s3", _S3_OPERATIONS[method]
    action = parse_qs(body.decode("utf-8", "replace")).get("Action", [""])[0]
    return ("sqs" if action else "unknown"), action


def error_response(call: Call, kind: FaultKind) -> tuple[int, dict[str, str], bytes]:
    """The status, headers and body AWS answers a failed call of ``call``'s service with."""
    status, ddb_type, sqs_code = _SHAPES[kind]
    if call.service == "s3":
        # S3 throttles with 503 SlowDown, in XML.
        code = {FaultKind.THROTTLE: "SlowDown", FaultKind.UNAVAILABLE: "ServiceUnavailable"}.get(
            kind, "InternalError"
        )
        xml = f"<Error><Code>{code}</Code><Message>Injected by plutus_dev.faults.proxy</Message></Error>"
        return (
            (503 if kind is FaultKind.THROTTLE else status),
            {"Content-Type": "application/xml"},
            xml.encode(),
        )
    if call.service == "sqs":
        # SQS speaks JSON with awsQueryCompatible: botocore reads the code from x-amzn-query-error.
        fault = "Receiver" if status >= 500 else "Sender"
        body = {"__type": f"com.amazonaws.sqs#{sqs_code}", "message": "Injected by plutus_dev.faults.proxy"}
        headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-query-error": f"{sqs_code};{fault}"}
    else:
        body = {"__type": f"com.amazonaws.dynamodb.v20120810#{ddb_type}", "message": "Injected"}
        headers = {"Content-Type": "application/x-amz-json-1.0"}
    return status, headers, json.dumps(body).encode()


@dataclass
class FaultStats:
    """What the proxy saw and did."""

    calls: Counter[str] = field(default_factory=Counter)
    injected: Counter[str] = field(default_factory=Counter)  # random faults, "service.Operation kind"
    scripted: Counter[str] = field(default_factory=Counter)  # faults from rules

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    @property
    def total_injected(self) -> int:
        return sum(self.injected.values())

    def by_kind(self) -> Counter[str]:
        """Random faults per kind."""
        out: Counter[str] = Counter()
        for key, count in self.injected.items():
            out[key.rsplit(" ", 1)[-1]] += count
        return out


class FaultProxy:
    """A running proxy: ``url`` is the endpoint to give the clients under test."""

    def __init__(
        self,
        upstream: str,
        *,
        rate: float = 0.0,
        services: tuple[str, ...] = ("dynamodb", "sqs", "s3"),
        mix: dict[FaultKind, float] | None = None,
        timeout_hold: float = 2.5,
        seed: int | None = None,
        port: int | None = None,
    ) -> None:
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self.rate = rate
        self.services = services
        self.mix = mix or DEFAULT_MIX
        self.timeout_hold = timeout_hold
        self.rules: list[Rule] = []
        self.stats = FaultStats()
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._local = threading.local()
        self._server = _Server(("127.0.0.1", port or free_port()), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fault-proxy", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FaultProxy:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def add_rule(self, rule: Rule) -> Rule:
        """Add a scripted fault; returns it (its ``times`` counts down)."""
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        """No more faults: rules removed and rate set to 0."""
        with self._lock:
            self.rules.clear()
            self.rate = 0.0

    def decide(self, call: Call) -> FaultKind | None:
        """The fault to inject into ``call``, if any, and count it."""
        with self._lock:
            self.stats.calls[f"{call.service}.{call.operation}"] += 1
            kind = next((r.kind for r in self.rules if r.take(call)), None)
            if kind is not None:
                self.stats.scripted[f"{call.service}.{call.operation} {kind}"] += 1
            elif call.service in self.services and self._random.random() < self.rate:
                kinds, weights = zip(*self.mix.items(), strict=True)
                kind = self._random.choices(kinds, weights)[0]
                self.stats.injected[f"{call.service}.{call.operation} {kind}"] += 1
            return kind

    def _forward(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
        for attempt in (1, 2):
            conn = getattr(self._local, "conn", None)
            if conn is None:
                conn = self._local.conn = http.client.HTTPConnection(
                    self.upstream_host, self.upstream_port, timeout=120
                )
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                return response.status, response.getheaders(), response.read()
            except (OSError, http.client.HTTPException):
                conn.close()
                self._local.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
                return

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                service, operation = identify(self.headers, body, self.command)
                call = Call(service, operation, body)
                kind = proxy.decide(call)
                if kind in (FaultKind.THROTTLE, FaultKind.UNAVAILABLE):
                    self._send(*error_response(call, kind))
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                try:
                    status, out_headers, data = proxy._forward(self.command, self.path, headers, body)
                except (OSError, http.client.HTTPException):
                    self._send(502, {"Content-Type": "text/plain"}, b"upstream unreachable")
                    return
                if kind is FaultKind.LOST_500:
                    self._send(*error_response(call, kind))
                elif kind is FaultKind.LOST_RESET:
                    self.close_connection = True
                elif kind is FaultKind.LOST_TIMEOUT:
                    time.sleep(proxy.timeout_hold)
                    self.close_connection = True
                else:
                    kept = {k: v for k, v in out_headers if k.lower() not in HOP_BY_HOP}
                    self._send(status, kept, data)

            def _send(self, status: int, headers: dict[str, str], data: bytes) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

        return Handler


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # socketserver's default backlog of 5 resets bursts of connections
