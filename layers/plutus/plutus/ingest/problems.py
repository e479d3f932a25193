"""RFC 9457 problem details: one table maps exception types to responses."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from plutus.core.errors import (
    BodyTooLargeError,
    EventNotFoundError,
    EventNotQueuedError,
    ForbiddenEventTypeError,
    ForbiddenSourceError,
    IdempotencyKeyReusedError,
    InvalidEventError,
    MalformedBodyError,
    PlutusError,
    RequestInProgressError,
    ResourceNotFoundError,
    UnauthenticatedError,
    UnknownEventTypeError,
    UnsupportedMediaTypeError,
)
from plutus.observability import logger

# FastAPI is imported only where it is used: the ingest hot path answers problems without it.
if TYPE_CHECKING:
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse

PROBLEM_JSON = "application/problem+json"
API_PREFIX = "/api/v1"
PROBLEM_BASE = "https://plutus.dev/problems/"
RETRY_AFTER_SECONDS = "1"


@dataclass(frozen=True, slots=True)
class Problem:
    """How one exception type is answered."""

    status: int
    slug: str
    title: str
    retry_after: bool = False
    challenge: str | None = None


# --8<-- [start:problems]
PROBLEMS: dict[type[BaseException], Problem] = {
    MalformedBodyError: Problem(400, "malformed-body", "The body is not valid JSON"),
    # RFC 9110: a 401 names the scheme that would succeed.
    UnauthenticatedError: Problem(
        401, "unauthenticated", "The request is not signed by its source", challenge="Standard-Webhooks"
    ),
    # Authenticated, but the producer policy does not allow it (plutus.core.policy): retrying cannot help.
    ForbiddenEventTypeError: Problem(403, "forbidden-event-type", "The source may not send this event type"),
    ForbiddenSourceError: Problem(403, "forbidden-source", "The caller may not send events of this source"),
    InvalidEventError: Problem(422, "invalid-event", "The event failed validation"),
    UnknownEventTypeError: Problem(422, "unknown-event-type", "The event type is not registered"),
    IdempotencyKeyReusedError: Problem(
        422, "idempotency-key-reused", "The idempotency key was already used with a different request"
    ),
    RequestInProgressError: Problem(
        409,
        "request-in-progress",
        "A request with this idempotency key is still in progress",
        retry_after=True,
    ),
    BodyTooLargeError: Problem(413, "body-too-large", "The body is larger than the configured limit"),
    UnsupportedMediaTypeError: Problem(415, "unsupported-media-type", "The body must be application/json"),
    EventNotFoundError: Problem(404, "event-not-found", "No event has this id"),
    ResourceNotFoundError: Problem(404, "resource-not-found", "No such resource"),
    # Not stored, not queued, or the idempotency record could not be completed (or kept changing under us):
    # the event may already be queued, and the client's retry converges on the same event id.
    EventNotQueuedError: Problem(
        503, "dependency-unavailable", "A backing service is unavailable", retry_after=True
    ),
    ClientError: Problem(503, "dependency-unavailable", "A backing service is unavailable", retry_after=True),
    BotoCoreError: Problem(
        503, "dependency-unavailable", "A backing service is unavailable", retry_after=True
    ),
}
INTERNAL = Problem(500, "internal-error", "Internal error")
# --8<-- [end:problems]

# Reason classes for metrics: bounded, so they are safe as a dimension.
REJECTION_REASONS: dict[str, str] = {
    "malformed-body": "malformed",
    "invalid-event": "validation",
    "unknown-event-type": "unknown_type",
    "idempotency-key-reused": "payload_mismatch",
    "body-too-large": "too_large",
    "unsupported-media-type": "media_type",
    "unauthenticated": "unauthenticated",
    "forbidden-event-type": "forbidden_type",
    "forbidden-source": "forbidden_source",
}


def problem_for(exc: BaseException) -> Problem:
    """The problem of the nearest mapped class in ``exc``'s MRO."""
    for cls in type(exc).__mro__:
        if cls in PROBLEMS:
            return PROBLEMS[cls]
    return INTERNAL


def problem_document(
    problem: Problem, detail: str, extra: dict[str, Any] | None = None, instance: str | None = None
) -> dict[str, Any]:
    """The problem+json body."""
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + problem.slug,
        "title": problem.title,
        "status": problem.status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    body.update(extra or {})
    return body


def problem_headers(problem: Problem) -> dict[str, str]:
    """Headers a problem is answered with: ``Retry-After`` when retrying later can succeed, and (RFC 9110)
    the scheme a 401 would succeed with."""
    headers = {"Retry-After": RETRY_AFTER_SECONDS} if problem.retry_after else {}
    if problem.challenge:
        headers["WWW-Authenticate"] = problem.challenge
    return headers


def describe_problem(exc: BaseException, instance: str | None = None) -> tuple[Problem, dict[str, Any]]:
    """The problem of ``exc`` and its document."""
    problem = problem_for(exc)
    detail, extra = _detail(exc, problem)
    return problem, problem_document(problem, detail, extra, instance)


def log_failure(problem: Problem) -> None:
    """Log a 5xx with the traceback of the exception being handled."""
    if problem.status >= 500:
        logger.exception("request failed", extra={"problem": problem.slug})


def problem_response(
    problem: Problem, detail: str, extra: dict[str, Any] | None = None, instance: str | None = None
) -> JSONResponse:
    """A problem+json response."""
    from fastapi.responses import JSONResponse

    return JSONResponse(
        problem_document(problem, detail, extra, instance),
        status_code=problem.status,
        headers=problem_headers(problem) or None,
        media_type=PROBLEM_JSON,
    )


def not_found_detail(path: str, app: FastAPI) -> tuple[str, dict[str, Any] | None]:
    """A 404's detail: the route the caller probably meant (a trailing slash, ``/api/v1`` left out)."""
    trimmed = path.rstrip("/") or "/"
    candidates = [trimmed] if trimmed != path else []
    if not trimmed.startswith("/api/"):
        candidates.append(API_PREFIX + trimmed)
    routes = [route for route in app.routes if hasattr(route, "path_regex")]
    routes += getattr(app.state, "documented_routes", [])
    for candidate in candidates:
        for route in routes:
            if route.path_regex.match(candidate):
                # The route's own template, never the caller's path: a 404 reflects nothing it was sent.
                template = str(getattr(route, "path", ""))
                return f"no such route: the route is {template!r}", {"route": template}
    return f"no such route: the API is under {API_PREFIX}/ (see /docs)", None


def _detail(exc: BaseException, problem: Problem) -> tuple[str, dict[str, Any]]:
    if isinstance(exc, InvalidEventError):
        return exc.detail, {"errors": exc.errors}
    if isinstance(exc, UnknownEventTypeError):
        return str(exc), {
            "errors": [{"field": "event_type", "pointer": "/event_type", "message": "unknown event type"}],
            "known_event_types": exc.known,
        }
    if isinstance(exc, ForbiddenEventTypeError):
        return str(exc), {"errors": [{"field": "event_type", "message": "not granted to this source"}]}
    if isinstance(exc, ForbiddenSourceError):
        return str(exc), {"errors": [{"field": "source", "message": "not granted to this caller"}]}
    if isinstance(exc, IdempotencyKeyReusedError):
        return (
            "this idempotency_key was already used by this source with a different event_type, "
            "schema_version or payload"
        ), {"errors": [{"field": "idempotency_key", "pointer": "/idempotency_key", "message": "reused"}]}
    if problem.status >= 500 or problem.status == 409:
        # Never echo internal or AWS error text to callers.
        return problem.title, {}
    return str(exc), {}


def _documented_methods(request: Request, app: FastAPI) -> set[str]:
    path = request.scope.get("path", "")
    root = request.scope.get("root_path", "")
    path = path[len(root) :] if root and path.startswith(root) else path
    methods: set[str] = set()
    for route in getattr(app.state, "documented_routes", []):
        if route.path_regex.fullmatch(path):
            methods |= set(getattr(route, "methods", ()))
    return methods - {request.method}


def _route(request: Request) -> str | None:
    # The matched route's template (``/api/v1/events/{event_id}``), never the raw path: a problem document
    # must not reflect what the caller sent. No route matched: no instance.
    route = request.scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else None


def install(app: FastAPI, on_problem: Callable[[Problem], None]) -> None:
    """Register the handlers that turn every exception into problem+json."""
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException as StarletteHTTPException

    async def handle(request: Request, exc: Exception) -> JSONResponse:
        problem, body = describe_problem(exc, instance=_route(request))
        log_failure(problem)
        on_problem(problem)
        return JSONResponse(
            body,
            status_code=problem.status,
            headers=problem_headers(problem) or None,
            media_type=PROBLEM_JSON,
        )

    async def handle_request_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()]
        problem = PROBLEMS[InvalidEventError]
        on_problem(problem)
        return problem_response(
            problem, "request validation failed", {"errors": errors}, instance=_route(request)
        )

    async def handle_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        problem = Problem(exc.status_code, "http-" + str(exc.status_code), str(exc.detail))
        detail, extra = str(exc.detail), None
        allowed = _documented_methods(request, app) if exc.status_code == 404 else set()
        if allowed:
            # A route this app documents but another function serves (the ingest POSTs on the read API).
            problem = Problem(405, "http-405", "Method Not Allowed")
            detail, exc.headers = "Method Not Allowed", {"Allow": ", ".join(sorted(allowed))}
        elif exc.status_code == 404:
            detail, extra = not_found_detail(request.url.path, app)
        response = problem_response(problem, detail, extra, instance=_route(request))
        # Starlette's 405 names the allowed methods in Allow (RFC 9110 requires it): keep its headers.
        response.headers.update(exc.headers or {})
        return response

    app.add_exception_handler(RequestValidationError, handle_request_validation)
    app.add_exception_handler(StarletteHTTPException, handle_http)
    # Mapped types go through Starlette's ExceptionMiddleware (answered, not re-raised); Exception is last.
    for exc_type in (*PROBLEMS, PlutusError):
        app.add_exception_handler(exc_type, handle)
    app.add_exception_handler(Exception, handle)
