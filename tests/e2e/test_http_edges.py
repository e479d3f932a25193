"""HTTP rough edges a newcomer meets: a trailing slash, a path without /api/v1, a wrong method."""

from __future__ import annotations

import os

import httpx
import pytest

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("PLUTUS_API_URL")),
    reason="API Gateway answers unknown routes and methods itself on a deployed stack",
)
ENVELOPE = {"source": "s", "schema_version": "1.0", "idempotency_key": "edge", "payload": {}}


def test_a_trailing_slash_is_a_404_problem_naming_the_route_never_a_redirect(api: httpx.Client) -> None:
    response = api.post("/api/v1/ingest/", json=ENVELOPE, follow_redirects=False)

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["route"] == "/api/v1/ingest"
    assert "Location" not in response.headers


def test_a_path_without_the_api_prefix_names_the_right_path(api: httpx.Client) -> None:
    response = api.post("/ingest", json=ENVELOPE)

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["route"] == "/api/v1/ingest"
    assert "/api/v1/ingest" in problem["detail"]


def test_an_unknown_path_points_at_the_api_and_its_docs(api: httpx.Client) -> None:
    problem = api.get("/nowhere").json()

    assert problem["status"] == 404
    assert "/api/v1/" in problem["detail"] and "/docs" in problem["detail"]
    assert "route" not in problem


def test_a_wrong_method_is_405_with_allow(api: httpx.Client) -> None:
    response = api.get("/api/v1/ingest")

    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"
    assert response.headers["content-type"] == "application/problem+json"


def test_openapi_reports_the_package_version(api: httpx.Client) -> None:
    from plutus import __version__

    assert api.get("/openapi.json").json()["info"]["version"] == __version__
