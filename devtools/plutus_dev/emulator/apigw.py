"""API Gateway (REST, payload v1) in front of the local Lambda functions, as ``sam local start-api`` does:
each request goes to the function its route names (``plutus_dev.emulator.routes``)."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from plutus_dev.emulator.routes import Route, RouteTable


class Invocable(Protocol):
    """A function the server can invoke (``LambdaFunction``, ``InProcessFunction``)."""

    name: str

    def invoke_async(self, event: dict[str, Any]) -> Future[tuple[str, Any, list[str]]]: ...


# API Gateway's own hard limit on a request payload.
API_GATEWAY_MAX_BODY = 10 * 1024 * 1024


def build_event(
    method: str,
    raw_path: str,
    headers: dict[str, str],
    body: bytes,
    source_ip: str,
    stage: str = "v1",
    *,
    resource: str | None = None,
    path_parameters: dict[str, str] | None = None,
    base_path: str = "",
) -> dict[str, Any]:
    """A REST API proxy-integration event for one HTTP request.

    ``resource`` is the matched route (``/api/v1/{proxy+}``; the path itself by default) and
    ``base_path`` what the caller's URL had before the path: ``/v1`` on an execute-api URL, nothing locally.
    """
    parts = urlsplit(raw_path)
    query = parse_qs(parts.query, keep_blank_values=True)
    return {
        "resource": resource or parts.path,
        "path": parts.path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": path_parameters or None,
        "stageVariables": None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "httpMethod": method,
            "identity": {"sourceIp": source_ip, "userAgent": headers.get("User-Agent", "")},
            "path": base_path + parts.path,
            "protocol": "HTTP/1.1",
            "requestId": str(uuid.uuid4()),
            "requestTimeEpoch": int(time.time() * 1000),
            "resourcePath": resource or parts.path,
            "stage": stage,
        },
        # Always base64: the body reaches the function byte for byte, invalid UTF-8 included.
        "body": base64.b64encode(body).decode("ascii") if body else None,
        "isBase64Encoded": bool(body),
    }


# A route the stack answers itself (GET only), without invoking the function: () -> (status, headers, body).
LocalRoute = Callable[[], tuple[int, dict[str, str], bytes]]


# API Gateway's answer to a method and path no route serves (whatever the credentials).
NO_ROUTE = (403, {"Content-Type": "application/json"}, b'{"message":"Missing Authentication Token"}')


def make_server(
    functions: Mapping[str, Invocable],
    routes: RouteTable,
    host: str,
    port: int,
    on_output: Callable[[str, list[str]], None],
    local_routes: Mapping[str, LocalRoute] | None = None,
    unrouted: str | None = None,
) -> ThreadingHTTPServer:
    """An HTTP server that turns each request into an invocation of the function its route names (by logical
    id in ``functions``), except ``local_routes``.

    A request no route serves is API Gateway's 403, or, with ``unrouted`` (a logical id), goes to that
    function as ``/{proxy+}``: the embedded stack lets the read API answer it with a 404 naming the route
    the caller probably meant, a local nicety API Gateway does not offer.
    """

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
            path = urlsplit(self.path).path
            found = routes.resolve(self.command, path)
            if found is None and unrouted is not None:
                found = Route(unrouted, self.command, "/{proxy+}"), {"proxy": path.lstrip("/")}
            if found is None:
                self._send(*NO_ROUTE)
                return
            route, params = found
            function = functions[route.function]
            headers = dict(self.headers.items())
            event = build_event(
                self.command,
                self.path,
                headers,
                body,
                self.client_address[0],
                resource=route.resource,
                path_parameters=params,
            )
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
