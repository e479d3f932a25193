"""/docs and /redoc name only their own assets, under whatever path prefix (a stage) serves them."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from plutus.ingest.docs import ASSETS, ASSETS_PATH, asset, install_docs


def docs_app() -> FastAPI:
    app = FastAPI(title="Plutus", docs_url=None, redoc_url=None)
    install_docs(app)
    return app


@pytest.mark.parametrize("name", sorted(ASSETS))
def test_every_listed_asset_ships_in_the_package(name: str) -> None:
    assert len(asset(name)) > 1_000


def test_a_name_off_the_list_is_refused() -> None:
    with pytest.raises(KeyError):
        asset("../core.py")


@pytest.mark.parametrize("prefix", ["", "/v1"])
def test_the_pages_link_their_assets_and_openapi_under_the_prefix(prefix: str) -> None:
    client = TestClient(docs_app(), root_path=prefix)

    swagger, redoc = client.get("/docs").text, client.get("/redoc").text

    assert f"{prefix}{ASSETS_PATH}/swagger-ui-bundle.js" in swagger
    assert f"{prefix}{ASSETS_PATH}/swagger-ui.css" in swagger
    assert f"{prefix}{ASSETS_PATH}/redoc.standalone.js" in redoc
    for html in (swagger, redoc):
        assert f"'{prefix}/openapi.json'" in html or f'"{prefix}/openapi.json"' in html
        assert "cdn" not in html.lower() and "https://" not in html


def test_assets_are_served_with_their_type_and_cached() -> None:
    response = TestClient(docs_app()).get(f"{ASSETS_PATH}/swagger-ui.css")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/css")
    assert response.headers["cache-control"] == "public, max-age=86400"
