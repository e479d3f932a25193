"""The reads Lambda's entry point: API Gateway (REST, payload v1) -> Mangum -> the read API.

``build_reads_handler`` takes its wiring (settings, the events and state repositories, the app) from the
composition root, :mod:`plutus.bootstrap`. The function holds read-only access to the events and state
tables (template.yaml), so nothing served here can write, enqueue or touch the idempotency store.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from plutus import bootstrap
from plutus.observability import api_gateway_handler

Handler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


def build_reads_handler(wiring: bootstrap.Root | None = None) -> Handler:
    """The reads Lambda's entry point, on ``wiring`` (default: this environment's root)."""
    root = wiring or bootstrap.root()
    asgi = root.reads_asgi

    @api_gateway_handler(root.settings.environment)
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        return asgi(event, context)

    return handler
