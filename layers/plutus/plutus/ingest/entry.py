"""The ingest Lambda's entry point.

The ingest function serves four routes, all framework-free, straight from the API Gateway event: the two
ingest POSTs, the provider webhook POST and ``GET /health``. It never imports FastAPI, Starlette or Mangum.
Reads, docs and OpenAPI are the reads function's (``plutus.reads.entry``); API Gateway sends nothing else
here, and anything else that arrives is a 404.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from plutus import bootstrap
from plutus.core.errors import ResourceNotFoundError
from plutus.ingest.endpoints import HealthEndpoint
from plutus.ingest.http import Endpoint, from_apigw, problem_reply, to_apigw
from plutus.observability import api_gateway_handler


def build_lambda_handler(
    wiring: bootstrap.Root | None = None,
) -> Callable[[dict[str, Any], LambdaContext], dict[str, Any]]:
    """The ingest handler on ``wiring`` (default: this environment's root)."""
    root = wiring or bootstrap.root()
    ingest = root.ingest
    endpoints: tuple[Endpoint, ...] = (ingest.single, ingest.batch, ingest.webhooks, HealthEndpoint())
    # Keyed on the API Gateway resource, not the raw path: a base-path mapping cannot change it.
    routes = {(e.method, e.path): e for e in endpoints}

    @api_gateway_handler(root.settings.environment)
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        ingest.config.register_lambda_context(context)
        endpoint = routes.get((event.get("httpMethod", ""), event.get("resource", "")))
        if endpoint is None:
            return to_apigw(problem_reply(ResourceNotFoundError("this function serves no such route"), None))
        return to_apigw(endpoint(from_apigw(event)))

    return handler
