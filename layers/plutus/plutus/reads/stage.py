"""The stage prefix of an API Gateway request, handed to the ASGI app as its ``root_path``.

On the execute-api URL every path starts with the stage (``/v1/docs``) while the function sees ``/docs``:
pages that link back into the API (Swagger UI fetching the OpenAPI document) must put the prefix back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send


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
