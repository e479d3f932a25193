"""``plutus read`` signs what it sends with SigV4 for execute-api, and will not send a deployed read unsigned
(no sockets: an httpx transport answers in-process)."""

from __future__ import annotations

import httpx
import pytest
import typer

from plutus_dev.cli.read_command import signed_get

URL = "https://abc123.execute-api.eu-west-1.amazonaws.com/v1"


def test_a_read_is_signed_for_execute_api_in_the_urls_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"status": "PROCESSED"})

    response = signed_get(URL, "/api/v1/events/e-1?x=1", httpx.MockTransport(answer))

    assert response.json() == {"status": "PROCESSED"}
    (request,) = seen
    assert str(request.url) == URL + "/api/v1/events/e-1?x=1"
    assert (
        request.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
        and "/eu-west-1/execute-api/aws4_request" in request.headers["authorization"]
    )
    assert "x-amz-date" in request.headers


def test_without_credentials_a_deployed_read_is_not_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")

    def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError("nothing may be sent unsigned")

    with pytest.raises(typer.BadParameter):
        signed_get(URL, "/api/v1/events/e-1", httpx.MockTransport(refuse))
