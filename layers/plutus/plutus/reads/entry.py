"""The reads Lambda's entry point: API Gateway (REST, payload v1) -> Mangum -> the read API.

``build_reads_handler`` wires everything once per execution environment: settings, the DynamoDB client and
the app. The function holds read-only access to the events and state tables (template.yaml), so nothing
served here can write, enqueue or touch the idempotency store.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, cast

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from starlette.types import ASGIApp, Receive, Scope, Send

from plutus.observability import logger, metrics, tracer

Handler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


def base_path(event: Mapping[str, Any]) -> str:
    """What the caller's URL had before the API's own path: ``/v1`` on the execute-api URL (the stage), a
    base-path mapping on a custom domain, nothing locally.

    API Gateway gives the path twice: ``path`` without the stage, ``requestContext.path`` as the caller sent
    it. Only a proper prefix counts; anything else is no prefix at all.
    """
    path = event.get("path") or ""
    full = (event.get("requestContext") or {}).get("path") or ""
    if path and full != path and full.endswith(path):
        prefix = str(full[: len(full) - len(path)])
        if prefix.startswith("/") and not prefix.endswith("/"):
            return prefix
    return ""


class StageRoot:
    """Sets the ASGI ``root_path`` (and prefixes ``path``, as ASGI asks) to the request's :func:`base_path`,
    so ``/docs`` tells Swagger UI to fetch ``/v1/openapi.json`` and OpenAPI's ``servers`` name the stage."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        prefix = base_path(scope.get("aws.event") or {}) if scope["type"] == "http" else ""
        if prefix:
            scope = {**scope, "root_path": prefix, "path": prefix + scope["path"]}
        await self.app(scope, receive, send)


def build_reads_handler() -> Handler:
    """The reads Lambda's entry point, wired for this execution environment."""
    from mangum import Mangum

    from plutus.adapters.aws import client
    from plutus.ingest.app import ingest_router
    from plutus.reads.app import create_reads_app
    from plutus.settings import get_settings

    settings = get_settings()
    # The ingest routes are documented here, never served: API Gateway sends them to the ingest function.
    app = create_reads_app(settings, client("dynamodb"), documented=ingest_router().routes)
    asgi = cast(Handler, Mangum(StageRoot(app), lifespan="off"))

    @logger.inject_lambda_context(
        correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True, log_event=False
    )
    @tracer.capture_lambda_handler(capture_response=False)
    @metrics.log_metrics
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        metrics.set_default_dimensions(environment=settings.environment)
        return asgi(event, context)

    return cast(Handler, handler)
