"""The ingest HTTP API (FastAPI), served from Lambda through Mangum."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Awaitable, Callable
from functools import lru_cache
from typing import Annotated, Any, cast

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ValidationError

from plutus import events_store
from plutus.aws import client
from plutus.envelope import IngestRequest, IngestResult, payload_depth
from plutus.errors import (
    BodyTooLargeError,
    EventNotFoundError,
    InvalidEventError,
    MalformedBodyError,
    UnknownEventTypeError,
    UnsupportedMediaTypeError,
)
from plutus.ingest import problems
from plutus.ingest.auth import Authenticator, Caller, Unauthenticated, authenticate, build_authenticator
from plutus.ingest.service import build_accept_event, command_for
from plutus.observability import logger, metrics, tracer
from plutus.registry import Registry
from plutus.settings import Settings, get_settings
from plutus.telemetry import (
    INGEST_CONFLICT,
    INGEST_LATENCY,
    INGEST_REJECTED,
    INGEST_REQUESTS,
    RAW_EVENTS_CREATED,
    RAW_EVENTS_DUPLICATE,
)

INGEST_PATH = "/api/v1/ingest"


class EventAccepted(BaseModel):
    """Answer to an accepted (202) or replayed (200) event."""

    event_id: str


class EventView(BaseModel):
    """An event's status."""

    event_id: str
    source: str | None
    event_type: str | None
    schema_version: str | None
    status: str | None
    attempts: int
    last_error: str | None
    received_at: str | None
    processed_at: str | None


_PROBLEM: dict[str, Any] = {"content": {problems.PROBLEM_JSON: {}}}


def _validation_errors(exc: ValidationError, prefix: str = "") -> list[dict[str, Any]]:
    # The field and the rule, never the offending input (it may be a card number).
    return [
        {"field": prefix + ".".join(str(p) for p in e["loc"]) or "<body>", "message": e["msg"]}
        for e in exc.errors(include_input=False, include_url=False)
    ]


def _header_key(raw: str | None) -> str | None:
    # draft-ietf-httpapi-idempotency-key-header: an sf-string ("..."); bare tokens are accepted too.
    if raw is None:
        return None
    raw = raw.strip()
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        raw = raw[1:-1]
    return raw


def _reject_constant(name: str) -> Any:
    # NaN and Infinity are not JSON (RFC 8259), and a payload holding one could not be canonicalised.
    raise ValueError(f"{name} is not a JSON number")


def parse_ingest_body(
    body: bytes,
    content_type: str | None,
    header_key: str | None,
    settings: Settings,
    registry: Registry,
    default_key: str | None = None,
) -> IngestRequest:
    """Validate a raw request body into an ``IngestRequest``, or raise a mapped ``PlutusError``.

    The key is the body's, else the ``Idempotency-Key`` header's, else ``default_key`` (a verified
    ``webhook-id``).
    """
    if len(body) > settings.max_body_bytes:
        raise BodyTooLargeError(f"body is {len(body)} bytes; the limit is {settings.max_body_bytes}")
    media = (content_type or "application/json").split(";")[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise UnsupportedMediaTypeError(f"content type {media!r} is not JSON")
    try:
        data = json.loads(body, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise MalformedBodyError("the body is not valid UTF-8 JSON") from exc
    if not isinstance(data, dict):
        raise InvalidEventError(
            "the body must be a JSON object", [{"field": "<body>", "message": "expected an object"}]
        )
    key = _header_key(header_key)
    if key is not None:
        if "idempotency_key" in data and data["idempotency_key"] != key:
            raise InvalidEventError(
                "Idempotency-Key header and body idempotency_key differ",
                [{"field": "idempotency_key", "message": "differs from the header"}],
            )
        data["idempotency_key"] = key
    elif default_key is not None and "idempotency_key" not in data:
        data["idempotency_key"] = default_key
    try:
        request = IngestRequest.model_validate(data)
    except ValidationError as exc:
        raise InvalidEventError("the event failed validation", _validation_errors(exc)) from exc
    if payload_depth(request.payload, settings.max_payload_depth) > settings.max_payload_depth:
        raise InvalidEventError(
            "the payload is nested too deeply",
            [{"field": "payload", "message": f"nesting deeper than {settings.max_payload_depth}"}],
        )
    _validate_typed_payload(request, settings, registry)
    return request


def _validate_typed_payload(request: IngestRequest, settings: Settings, registry: Registry) -> None:
    if request.event_type is None:
        return
    if not registry.knows_type(request.event_type):
        if settings.allow_unregistered_types:
            return
        raise UnknownEventTypeError(request.event_type, registry.event_types)
    if registry.lookup(request.event_type, request.schema_version) is None:
        raise InvalidEventError(
            f"schema_version {request.schema_version!r} is not registered for {request.event_type!r}",
            [
                {
                    "field": "schema_version",
                    "message": f"known versions: {', '.join(registry.versions(request.event_type))}",
                }
            ],
        )
    try:
        registry.resolve(request.event_type, request.schema_version, request.payload)
    except ValidationError as exc:
        raise InvalidEventError("the payload failed validation", _validation_errors(exc, "payload.")) from exc


def _count_problem(problem: problems.Problem) -> None:
    if problem.status == 409:
        metrics.add_metric(name=INGEST_CONFLICT, unit=MetricUnit.Count, value=1)
        logger.info("request in flight", extra={"problem": problem.slug, "status": problem.status})
    reason = problems.REJECTION_REASONS.get(problem.slug)
    if reason:
        logger.info("request rejected", extra={"problem": problem.slug, "status": problem.status})
        from aws_lambda_powertools.metrics import single_metric

        with single_metric(
            name=INGEST_REJECTED,
            unit=MetricUnit.Count,
            value=1,
            default_dimensions=metrics.default_dimensions,
        ) as metric:
            metric.add_dimension(name="reason", value=reason)


def create_app(
    settings: Settings,
    registry: Registry,
    accept_event: Callable[..., IngestResult],
    dynamodb: Any,
    authenticator: Authenticator | None = None,
) -> FastAPI:
    """The FastAPI application, wired to its dependencies."""
    app = FastAPI(
        title="Plutus",
        version="1.0.0",
        description="Idempotent, asynchronous event ingestion. Events are validated, deduplicated on "
        "(source, idempotency_key) and queued; processing happens asynchronously.",
    )
    problems.install(app, _count_problem)

    @app.middleware("http")
    async def measure_ingest(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        # Around the whole route, so requests refused before it runs (authentication) count too.
        if request.method != "POST" or request.url.path != INGEST_PATH:
            return await call_next(request)
        metrics.add_metric(name=INGEST_REQUESTS, unit=MetricUnit.Count, value=1)
        started = time.perf_counter()
        try:
            return await call_next(request)
        finally:
            elapsed_ms = (time.perf_counter() - started) * 1000
            metrics.add_metric(name=INGEST_LATENCY, unit=MetricUnit.Milliseconds, value=elapsed_ms)

    app.state.authenticator = authenticator or Unauthenticated()
    ingest_schema = IngestRequest.model_json_schema()

    @app.post(
        INGEST_PATH,
        status_code=202,
        response_model=EventAccepted,
        responses={
            200: {"model": EventAccepted, "description": "Replay of an already accepted event"},
            400: _PROBLEM,
            401: _PROBLEM,
            409: _PROBLEM,
            413: _PROBLEM,
            415: _PROBLEM,
            422: _PROBLEM,
            503: _PROBLEM,
        },
        openapi_extra={
            "requestBody": {"required": True, "content": {"application/json": {"schema": ingest_schema}}}
        },
    )
    async def ingest(request: Request, caller: Annotated[Caller, Depends(authenticate)]) -> JSONResponse:
        """Accept one event: 202 when new, 200 (``Idempotent-Replayed: true``) for a duplicate."""
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > settings.max_body_bytes:
            raise BodyTooLargeError(f"body is {declared} bytes; the limit is {settings.max_body_bytes}")
        body = await request.body()
        parsed = parse_ingest_body(
            body,
            request.headers.get("content-type"),
            request.headers.get("idempotency-key"),
            settings,
            registry,
            default_key=caller.webhook_id,
        )
        logger.debug(
            "request parsed",
            extra={
                "event_type": parsed.event_type,
                "schema_version": parsed.schema_version,
                "bytes": len(body),
            },
        )
        # Sync on purpose: Powertools idempotency does not support coroutines.
        result = accept_event(command=command_for(parsed))
        tracer.put_annotation("event_id", result.event_id)
        tracer.put_annotation("source", result.source)
        tracer.put_annotation("event_type", result.event_type or "default")
        logger.append_keys(event_id=result.event_id)
        if result.replayed:
            metrics.add_metric(name=RAW_EVENTS_DUPLICATE, unit=MetricUnit.Count, value=1)
            logger.info("duplicate event replayed")
            return JSONResponse(
                {"event_id": result.event_id}, status_code=200, headers={"Idempotent-Replayed": "true"}
            )
        metrics.add_metric(name=RAW_EVENTS_CREATED, unit=MetricUnit.Count, value=1)
        logger.info("event accepted")
        return JSONResponse({"event_id": result.event_id}, status_code=202)

    @app.get("/api/v1/events/{event_id}", response_model=EventView, responses={404: _PROBLEM})
    def get_event(event_id: str) -> dict[str, Any]:
        """An event's status: RECEIVED, PROCESSING (an attempt failed; SQS retries), PROCESSED or FAILED."""
        try:
            uuid.UUID(event_id)
        except ValueError:
            if not event_id.startswith("message:") or len(event_id) > 200:
                raise EventNotFoundError(f"no event {event_id[:64]!r}") from None
        item = events_store.get_event(dynamodb, settings.events_table, event_id)
        if item is None:
            raise EventNotFoundError(f"no event {event_id!r}")
        return events_store.public_view(item)

    from plutus.domains import read_routers

    for router in read_routers():
        app.include_router(router)

    @app.get("/health")
    def health() -> dict[str, str]:
        """Liveness: the function is up and configured."""
        return {"status": "ok", "environment": settings.environment}

    return app


@lru_cache(maxsize=1)
def get_app() -> tuple[FastAPI, Any]:
    """The app and idempotency config of this execution environment (composition root)."""
    from plutus.domains import get_registry

    settings = get_settings()
    dynamodb = client("dynamodb")
    accept_event, config = build_accept_event(settings, dynamodb, client("sqs"))
    app = create_app(settings, get_registry(), accept_event, dynamodb, build_authenticator(settings, client))
    return app, config


def build_lambda_handler() -> Callable[[dict[str, Any], LambdaContext], dict[str, Any]]:
    """The ingest Lambda's entry point."""
    from mangum import Mangum

    app, config = get_app()
    mangum = Mangum(app, lifespan="off")

    # log_event=False whatever POWERTOOLS_LOGGER_LOG_EVENT says: the event's body is the payload.
    @logger.inject_lambda_context(
        correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True, log_event=False
    )
    @tracer.capture_lambda_handler(capture_response=False)
    @metrics.log_metrics
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        metrics.set_default_dimensions(environment=get_settings().environment)
        config.register_lambda_context(context)
        return mangum(event, context)  # type: ignore[arg-type]

    return cast(Callable[[dict[str, Any], LambdaContext], dict[str, Any]], handler)
