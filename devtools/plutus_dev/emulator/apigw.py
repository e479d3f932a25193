"""API Gateway (REST, payload v1) in front of a local Lambda function, as ``sam local start-api`` does."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from plutus_dev.emulator.lambda_runtime import LambdaFunction

# API Gateway's own hard limit on a request payload.
API_GATEWAY_MAX_BODY = 10 * 1024 * 1024


def build_event(
    method: str, raw_path: str, headers: dict[str, str], body: bytes, source_ip: str, stage: str = "v1"
) -> dict[str, Any]:
    """A REST API proxy-integration event for one HTTP request."""
    parts = urlsplit(raw_path)
    query = parse_qs(parts.query, keep_blank_values=True)
    return {
        "resource": parts.path,
        "path": parts.path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "httpMethod": method,
            "identity": {"sourceIp": source_ip, "userAgent": headers.get("User-Agent", "")},
            "path": f"/{stage}{parts.path}",
            "protocol": "HTTP/1.1",
            "requestId": str(uuid.uuid4()),
            "requestTimeEpoch": int(time.time() * 1000),
            "resourcePath": parts.path,
            "stage": stage,
        },
        # Always base64: the body reaches the function byte for byte, invalid UTF-8 included.
        "body": base64.b64encode(body).decode("ascii") if body else None,
        "isBase64Encoded": bool(body),
    }


# A route the stack answers itself (GET only), without invoking the function: () -> (status, headers, body).
LocalRoute = Callable[[], tuple[int, dict[str, str], bytes]]


def make_server(
    function: LambdaFunction,
    host: str,
    port: int,
    on_output: Callable[[str, list[str]], None],
    local_routes: Mapping[str, LocalRoute] | None = None,
) -> ThreadingHTTPServer:
    """An HTTP server that turns each request into an invocation of ``function``, except ``local_routes``."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            return

        def _handle(self) -> None:
            local = (local_routes or {}).get(urlsplit(self.path).path) if self.command == "GET" else None
            if local is not None:
                self._send(*local())
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > API_GATEWAY_MAX_BODY:
                self._send(413, {"Content-Type": "application/json"}, b'{"message":"Request Too Long"}')
                self.close_connection = True
                return
            body = self.rfile.read(length) if length else b""
            headers = dict(self.headers.items())
            event = build_event(self.command, self.path, headers, body, self.client_address[0])
            status, result, lines = function.invoke_async(event).result()
            on_output(function.name, lines)
            if status != "ok" or not isinstance(result, dict):
                self._send(502, {"Content-Type": "application/json"}, b'{"message":"Internal server error"}')
                return
            out_headers = dict(result.get("headers") or {})
            for key, values in (result.get("multiValueHeaders") or {}).items():
                out_headers[key] = ", ".join(values)
            payload = result.get("body") or ""
            data = base64.b64decode(payload) if result.get("isBase64Encoded") else payload.encode()
            self._send(int(result.get("statusCode", 200)), out_headers, data)

        def _send(self, status: int, headers: dict[str, str], data: bytes) -> None:
            self.send_response(status)
            for key, value in headers.items():
                if key.lower() not in {"content-length", "connection", "transfer-encoding"}:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = _handle

    server = _BurstTolerantServer((host, port), Handler)
    server.daemon_threads = True
    return server


class _BurstTolerantServer(ThreadingHTTPServer):
    # socketserver's listen backlog of 5 resets a burst of connections; API Gateway accepts them.
    request_queue_size = 256
