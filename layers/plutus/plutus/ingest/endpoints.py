"""The ingest function's endpoints, framework-free: the two ingest routes and ``GET /health``. The Lambda
handler serves them from API Gateway events and the FastAPI app mounts them (see ``plutus.ingest.http``).
Every exception becomes problem+json here."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from plutus.core.envelope import IngestRequest, IngestResult
from plutus.core.errors import BodyTooLargeError, InvalidEventError, PlutusError, UnauthenticatedError
from plutus.core.ordering import message_group
from plutus.core.registry import Registry
from plutus.ingest import problems
from plutus.ingest.accept import IngestCommand, command_for
from plutus.ingest.accept_batch import BatchIngest, Outcome
from plutus.ingest.auth import Authenticator, Caller
from plutus.ingest.http import HttpRequest, Reply, count_problem, problem_reply
from plutus.ingest.parsing import decode_json_body, parse_ingest_body, validate_event
from plutus.ingest.producers import ProducerAuthorizer
from plutus.ingest.replies import BatchIngestResponse, BatchItemResult, EventAccepted, body
from plutus.observability import logger, metrics, tracer
from plutus.observability.telemetry import (
    INGEST_BATCH_LATENCY,
    INGEST_BATCH_REQUESTS,
    INGEST_LATENCY,
    INGEST_REQUESTS,
    RAW_EVENTS_CREATED,
    RAW_EVENTS_DUPLICATE,
)
from plutus.settings import Settings

INGEST_PATH = "/api/v1/ingest"
BATCH_PATH = "/api/v1/ingest/batch"
HEALTH_PATH = "/health"


def _check_declared_length(request: HttpRequest, limit: int) -> None:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise BodyTooLargeError.of(declared, limit)


def _measured(
    handle: Callable[[HttpRequest], Reply], request: HttpRequest, route: str, requests: str, latency: str
) -> Reply:
    # Around the whole request, so requests refused early (authentication, size) count too.
    metrics.add_metric(name=requests, unit=MetricUnit.Count, value=1)
    started = time.perf_counter()
    try:
        return handle(request)
    except Exception as exc:  # mapped by type in problems.PROBLEMS; unmapped ones are a logged 500
        # The route, never the raw path: a problem document echoes nothing the caller sent.
        return problem_reply(exc, route)
    finally:
        elapsed_ms = (time.perf_counter() - started) * 1000
        metrics.add_metric(name=latency, unit=MetricUnit.Milliseconds, value=elapsed_ms)


def _command(request: IngestRequest, settings: Settings, registry: Registry) -> IngestCommand:
    # The message group is derived before anything is stored: on FIFO an event without its ordering field
    # is a 422 (plutus.core.ordering).
    group = message_group(
        request.source,
        request.event_type,
        request.schema_version,
        request.payload,
        registry,
        settings.queue_mode,
    )
    return command_for(request, group)


def _authenticate(authenticator: Authenticator, request: HttpRequest) -> Caller:
    # Before anything else: an unauthenticated request is not parsed, counted or stored.
    try:
        caller = authenticator.authenticate(request.headers, request.body)
    except UnauthenticatedError as exc:
        # The bounded reason class only: never a header value or the body.
        logger.warning("request not authenticated", extra={"reason": exc.reason})
        raise
    return replace(caller, principal=request.principal)


class IngestEndpoint:
    """``POST /api/v1/ingest``: 202 when new, 200 (``Idempotent-Replayed: true``) for a duplicate."""

    method = "POST"
    path = INGEST_PATH

    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        accept_event: Callable[..., IngestResult],
        authenticator: Authenticator,
        authorizer: ProducerAuthorizer,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.accept_event = accept_event
        self.authenticator = authenticator
        self.authorizer = authorizer

    def __call__(self, request: HttpRequest) -> Reply:
        """Answer one request; never raises."""
        return _measured(self._handle, request, self.path, INGEST_REQUESTS, INGEST_LATENCY)

    def _handle(self, request: HttpRequest) -> Reply:
        caller = _authenticate(self.authenticator, request)
        _check_declared_length(request, self.settings.max_body_bytes)
        parsed = parse_ingest_body(
            request.body,
            request.headers.get("content-type"),
            request.headers.get("idempotency-key"),
            self.settings,
            self.registry,
            signed_key=caller.webhook_id,
            key_header_signed=caller.key_header_signed,
            # Before the payload is validated, and so before anything is stored or queued.
            authorize=partial(self.authorizer.authorize_request, caller),
        )
        logger.debug(
            "request parsed",
            extra={
                "event_type": parsed.event_type,
                "schema_version": parsed.schema_version,
                "bytes": len(request.body),
            },
        )
        return accept_and_reply(self.accept_event, _command(parsed, self.settings, self.registry))


def accept_and_reply(accept_event: Callable[..., IngestResult], command: IngestCommand) -> Reply:
    """The idempotent path of one validated event (``/api/v1/ingest`` and the provider webhook route alike):
    202 when new, 200 (``Idempotent-Replayed: true``) for a duplicate, with the same metrics and logs."""
    # Sync on purpose: Powertools idempotency does not support coroutines.
    result = accept_event(command=command)
    tracer.put_annotation("event_id", result.event_id)
    tracer.put_annotation("source", result.source)
    tracer.put_annotation("event_type", result.event_type or "default")
    logger.append_keys(event_id=result.event_id)
    if result.replayed:
        metrics.add_metric(name=RAW_EVENTS_DUPLICATE, unit=MetricUnit.Count, value=1)
        logger.info("duplicate event replayed")
        return Reply(200, body(EventAccepted(event_id=result.event_id)), {"Idempotent-Replayed": "true"})
    metrics.add_metric(name=RAW_EVENTS_CREATED, unit=MetricUnit.Count, value=1)
    logger.info("event accepted")
    return Reply(202, body(EventAccepted(event_id=result.event_id)))


class BatchIngestEndpoint:
    """``POST /api/v1/ingest/batch``: ``{"events": [...]}`` in, one result per event out, in order.

    Each result is ``{index, status, event_id}`` (202 new, 200 duplicate) or ``{index, status, error}``
    (403 refused by the producer policy, 409 in progress, 422 invalid or key reused with other content, 503
    not queued: retry it), where ``error`` is the problem document the single endpoint would answer.
    Malformed batches are answered as a whole.
    """

    method = "POST"
    path = BATCH_PATH

    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        ingest: BatchIngest,
        authenticator: Authenticator,
        authorizer: ProducerAuthorizer,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.ingest = ingest
        self.authenticator = authenticator
        self.authorizer = authorizer

    def __call__(self, request: HttpRequest) -> Reply:
        """Answer one request; never raises."""
        return _measured(self._handle, request, self.path, INGEST_BATCH_REQUESTS, INGEST_BATCH_LATENCY)

    def _handle(self, request: HttpRequest) -> Reply:
        # A signed batch carries events of the one source that signed it (auth.claimed_source); each event
        # brings its own idempotency_key (the webhook-id cannot key a hundred events).
        caller = _authenticate(self.authenticator, request)
        limit = self.settings.max_batch_body_bytes
        _check_declared_length(request, limit)
        if request.headers.get("idempotency-key") is not None:
            raise InvalidEventError(
                "a batch takes no Idempotency-Key header",
                [{"field": "Idempotency-Key", "message": "give each event its own idempotency_key"}],
            )
        events = self._events(decode_json_body(request.body, request.headers.get("content-type"), limit))
        items: list[IngestCommand | Exception] = []
        # Per event: in IAM mode one principal may write several sources, each held to its own types.
        authorize = partial(self.authorizer.authorize_request, caller)
        for raw in events:
            try:
                parsed = validate_event(raw, self.settings, self.registry, "<event>", authorize)
                items.append(_command(parsed, self.settings, self.registry))
            except PlutusError as exc:
                items.append(exc)
        tracer.put_annotation("batch_size", str(len(items)))
        outcomes = self.ingest(items)
        results = [self._result(index, outcome) for index, outcome in enumerate(outcomes)]
        statuses = Counter(r.status for r in results)
        self._count(outcomes, statuses)
        headers = {"Retry-After": problems.RETRY_AFTER_SECONDS} if statuses[409] or statuses[503] else {}
        return Reply(200, body(BatchIngestResponse(results=results)), headers)

    def _events(self, data: Any) -> list[Any]:
        if not isinstance(data, dict) or set(data) != {"events"} or not isinstance(data["events"], list):
            raise InvalidEventError(
                "the body must be an object with one member, events: a list of events",
                [{"field": "events", "pointer": "/events", "message": 'expected {"events": [...]}'}],
            )
        events: list[Any] = data["events"]
        maximum = self.settings.max_batch_events
        if not 1 <= len(events) <= maximum:
            raise InvalidEventError(
                f"a batch holds 1 to {maximum} events; this one has {len(events)}",
                [{"field": "events", "pointer": "/events", "message": f"expected 1 to {maximum} events"}],
            )
        return events

    @staticmethod
    def _result(index: int, outcome: Outcome) -> BatchItemResult:
        if outcome.error is None:
            return BatchItemResult(
                index=index, status=200 if outcome.replayed else 202, event_id=outcome.event_id
            )
        problem, document = problems.describe_problem(outcome.error)
        return BatchItemResult(index=index, status=problem.status, error=document)

    @staticmethod
    def _count(outcomes: list[Outcome], statuses: Counter[int]) -> None:
        metrics.add_metric(name=RAW_EVENTS_CREATED, unit=MetricUnit.Count, value=statuses[202])
        metrics.add_metric(name=RAW_EVENTS_DUPLICATE, unit=MetricUnit.Count, value=statuses[200])
        failures = Counter(problems.problem_for(o.error) for o in outcomes if o.error is not None)
        for problem, count in failures.items():
            count_problem(problem, count)
        logger.info(
            "batch ingested",
            extra={
                "events": len(outcomes),
                **{f"status_{status}": n for status, n in sorted(statuses.items())},
            },
        )


class HealthEndpoint:
    """``GET /health``: liveness, and the one route API Gateway lets through unauthenticated.

    It reads nothing and names nothing (no environment, version or configuration): a stranger learns only that
    the function answers.
    """

    method = "GET"
    path = HEALTH_PATH

    def __call__(self, request: HttpRequest) -> Reply:
        """Answer one request; never raises."""
        return Reply(200, {"status": "ok"}, {"Cache-Control": "no-store"})
