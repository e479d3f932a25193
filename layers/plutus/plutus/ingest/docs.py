"""``/docs`` (Swagger UI) and ``/redoc`` with their JavaScript and CSS served by the function, not a CDN.

FastAPI's own pages load Swagger UI and ReDoc from a CDN, so they were blank without internet (and on any
network that blocks the CDN). The assets ship in the ``fastapi-offline`` package; only its static files are
used, each served by name from a fixed list (no path from the request ever reaches the filesystem).
"""

# No ``from __future__ import annotations``: FastAPI reads the routes' annotations at registration, and
# ``Request`` is imported inside install_docs (the ingest hot path never imports FastAPI).
from importlib.resources import files
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

ASSETS_PATH = "/static/docs"
# name -> content type: the only files served.
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
    "favicon.png": "image/png",
}
# The assets change only with the package's version: browsers may keep them a day.
CACHE_CONTROL = "public, max-age=86400"


def asset(name: str) -> bytes:
    """The bytes of one packaged asset (``KeyError`` for a name not in :data:`ASSETS`)."""
    if name not in ASSETS:
        raise KeyError(name)
    return files("fastapi_offline").joinpath("static", name).read_bytes()


def install_docs(app: "FastAPI") -> None:
    """Serve ``/docs``, ``/redoc`` and their assets on ``app`` (created with ``docs_url=redoc_url=None``)."""
    from fastapi import Request
    from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
    from fastapi.responses import HTMLResponse, Response

    from plutus.core.errors import ResourceNotFoundError

    def prefix(request: Request) -> str:
        # As FastAPI's own pages do: behind a path prefix (root_path), links carry it.
        return str(request.scope.get("root_path", "")).rstrip("/")

    @app.get("/docs", include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        root = prefix(request)
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        root = prefix(request)
        return get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{ASSETS_PATH}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
            with_google_fonts=False,
        )

    @app.get(ASSETS_PATH + "/{name}", include_in_schema=False)
    def docs_asset(name: str) -> Response:
        if name not in ASSETS:
            raise ResourceNotFoundError(f"no docs asset {name[:64]!r}")
        return Response(asset(name), media_type=ASSETS[name], headers={"Cache-Control": CACHE_CONTROL})
