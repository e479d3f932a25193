"""Framework-free HTTP for the ingest hot path.

API Gateway already routes each method and path to the function, so the two ingest routes need no web
framework: an endpoint takes an :class:`HttpRequest` and returns a :class:`Reply`. The Lambda handler serves
them straight from the API Gateway event (no FastAPI import, no ASGI round trip: a cheaper cold start and
less CPU per request); the FastAPI app mounts the same endpoints for OpenAPI and ASGI servers.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from aws_lambda_powertools.metrics import MetricUnit

from plutus.ingest import problems
from plutus.observability import logger, metrics
from plutus.observability.telemetry import INGEST_CONFLICT, INGEST_REJECTED

if TYPE_CHECKING:
    from starlette.requests import Request as StarletteRequest
    from starlette.responses import Response as StarletteResponse

JSON = "application/json"


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """What an endpoint needs of a request. Header names are lower-case."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes
    # The IAM principal API Gateway verified (requestContext.identity.userArn); None without IAM auth.
    principal: str | None = None
    # The route's path parameters (API Gateway's pathParameters: {"source": ...} on the webhook route).
    path_params: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Reply:
    """An endpoint's answer: a JSON document, its status and headers."""

    status: int
    document: Any
    headers: dict[str, str] = field(default_factory=dict)
    media_type: str = JSON

    def encode(self) -> bytes:
        """The body, rendered as Starlette's ``JSONResponse`` renders it."""
        return json.dumps(
            self.document, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
        ).encode()


class Endpoint(Protocol):
    """A framework-free route."""

    method: str
    path: str

    def __call__(self, request: HttpRequest) -> Reply:
        """Answer one request; never raises."""
        ...


def count_problem(problem: problems.Problem, count: int = 1) -> None:
    """Metrics and one payload-free log line for answered problems: conflicts, and rejections by reason.

    ``count`` is how many events of a batch got this problem.
    """
    extra: dict[str, Any] = {"problem": problem.slug, "status": problem.status}
    if count != 1:
        extra["events"] = count
    if problem.status == 409:
        metrics.add_metric(name=INGEST_CONFLICT, unit=MetricUnit.Count, value=count)
        logger.info("request in flight", extra=extra)
    reason = problems.REJECTION_REASONS.get(problem.slug)
    if reason:
        logger.info("request rejected", extra=extra)
        from aws_lambda_powertools.metrics import single_metric

        with single_metric(
            name=INGEST_REJECTED,
            unit=MetricUnit.Count,
            value=count,
            default_dimensions=metrics.default_dimensions,
        ) as metric:
            metric.add_dimension(name="reason", value=reason)


def problem_reply(exc: BaseException, instance: str | None) -> Reply:
    """``exc`` answered as problem+json, through the one exception table. ``instance`` is the route
    (``/api/v1/ingest``), never the raw path the caller sent."""
    problem, document = problems.describe_problem(exc, instance)
    problems.log_failure(problem)
    count_problem(problem)
    return Reply(problem.status, document, problems.problem_headers(problem), problems.PROBLEM_JSON)


def from_apigw(event: Mapping[str, Any]) -> HttpRequest:
    """The request of an API Gateway REST (payload v1) proxy event, with headers merged as Mangum does."""
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    for key, values in (event.get("multiValueHeaders") or {}).items():
        headers[key.lower()] = ", ".join(values) if isinstance(values, list) else ""
    raw = event.get("body") or ""
    body = base64.b64decode(raw) if event.get("isBase64Encoded") else raw.encode()
    return HttpRequest(
        event.get("httpMethod", ""),
        event.get("path", ""),
        headers,
        body,
        principal_of(event),
        dict(event.get("pathParameters") or {}),
    )


def principal_of(event: Mapping[str, Any]) -> str | None:
    """The caller's IAM principal in an API Gateway event: set by API Gateway, never by the client."""
    context = event.get("requestContext")
    identity = context.get("identity") if isinstance(context, Mapping) else None
    arn = identity.get("userArn") if isinstance(identity, Mapping) else None
    return arn if isinstance(arn, str) and arn else None


def to_apigw(reply: Reply) -> dict[str, Any]:
    """A proxy-integration response."""
    return {
        "statusCode": reply.status,
        "headers": {"content-type": reply.media_type, **reply.headers},
        "body": reply.encode().decode(),
        "isBase64Encoded": False,
    }


async def from_starlette(request: StarletteRequest) -> HttpRequest:
    """The request of an ASGI (FastAPI) route."""
    event = request.scope.get("aws.event")  # set by Mangum on Lambda
    return HttpRequest(
        request.method,
        request.url.path,
        dict(request.headers.items()),
        await request.body(),
        principal_of(event) if isinstance(event, Mapping) else None,
        dict(request.path_params),
    )


def to_starlette(reply: Reply) -> StarletteResponse:
    """A Starlette response (the FastAPI app mounts the endpoints for OpenAPI and ASGI servers)."""
    from starlette.responses import Response

    return Response(reply.encode(), reply.status, reply.headers, reply.media_type)
