"""The ingest Lambda's entry point and composition root.

The ingest function serves three routes, all framework-free, straight from the API Gateway event: the two
ingest POSTs and ``GET /health``. It never imports FastAPI, Starlette or Mangum. Reads, docs and OpenAPI are
the reads function's (``plutus.reads.entry``); API Gateway sends nothing else here, and anything else that
arrives is a 404.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Any, cast

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig
from aws_lambda_powertools.utilities.typing import LambdaContext

from plutus.adapters.aws import client
from plutus.core.errors import ResourceNotFoundError
from plutus.core.registry import Registry
from plutus.ingest.accept import build_accept_event
from plutus.ingest.accept_batch import BatchIngest
from plutus.ingest.auth import build_authenticator, with_body_limit
from plutus.ingest.endpoints import BatchIngestEndpoint, HealthEndpoint, IngestEndpoint
from plutus.ingest.http import Endpoint, from_apigw, problem_reply, to_apigw
from plutus.observability import logger, metrics, tracer
from plutus.settings import Settings, get_settings


@dataclass(frozen=True)
class Ingest:
    """Everything the ingest function wires once per execution environment."""

    settings: Settings
    registry: Registry
    dynamodb: Any
    config: IdempotencyConfig
    single: IngestEndpoint
    batch: BatchIngestEndpoint
    health: HealthEndpoint

    def endpoints(self) -> list[Endpoint]:
        """The routes this function serves."""
        return [self.single, self.batch, self.health]


@lru_cache(maxsize=1)
def get_ingest() -> Ingest:
    """The ingest wiring of this execution environment (composition root)."""
    from plutus.domains import get_registry

    settings = get_settings()
    dynamodb = client("dynamodb")
    sqs = client("sqs")
    registry = get_registry()
    accept_event, config = build_accept_event(settings, dynamodb, sqs)
    batch = BatchIngest(settings, dynamodb, sqs, remaining_ms=partial(_remaining_ms, config))
    authenticator = build_authenticator(settings, client)
    return Ingest(
        settings,
        registry,
        dynamodb,
        config,
        IngestEndpoint(settings, registry, accept_event, authenticator),
        BatchIngestEndpoint(
            settings, registry, batch, with_body_limit(authenticator, settings.max_batch_body_bytes)
        ),
        HealthEndpoint(),
    )


def _remaining_ms(config: IdempotencyConfig) -> int | None:
    # Time left in the current invocation: an in-progress claim must not outlive it.
    context = config.lambda_context
    return None if context is None else int(context.get_remaining_time_in_millis())


def build_lambda_handler() -> Callable[[dict[str, Any], LambdaContext], dict[str, Any]]:
    """The ingest Lambda's entry point."""
    ingest = get_ingest()
    # Keyed on the API Gateway resource, not the raw path: a base-path mapping cannot change it.
    routes = {(e.method, e.path): e for e in ingest.endpoints()}

    # log_event=False whatever POWERTOOLS_LOGGER_LOG_EVENT says: the event's body is the payload.
    @logger.inject_lambda_context(
        correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True, log_event=False
    )
    @tracer.capture_lambda_handler(capture_response=False)
    @metrics.log_metrics
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        metrics.set_default_dimensions(environment=ingest.settings.environment)
        ingest.config.register_lambda_context(context)
        endpoint = routes.get((event.get("httpMethod", ""), event.get("resource", "")))
        if endpoint is None:
            return to_apigw(problem_reply(ResourceNotFoundError("this function serves no such route"), None))
        return to_apigw(endpoint(from_apigw(event)))

    return cast(Callable[[dict[str, Any], LambdaContext], dict[str, Any]], handler)
