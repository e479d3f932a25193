"""SigV4 signing (service ``execute-api``) for httpx: how the CLI and the e2e tests call a deployed API.

Every route of a deployed stack but ``GET /health`` needs it (reads, docs and OpenAPI in every ``AuthMode``,
the ingest POSTs in ``IAM`` mode): API Gateway answers 403 to anything unsigned.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from typing import Any
from urllib.parse import urlsplit

import httpx


class SigV4Signer(httpx.Auth):
    """Signs each request with ``credentials`` (botocore credentials) for ``execute-api`` in ``region``."""

    requires_request_body = True

    def __init__(self, credentials: Any, region: str) -> None:
        self.credentials = credentials
        self.region = region

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        headers = {"host": request.url.netloc.decode()}
        # Plutus refuses an Idempotency-Key header that SigV4 does not cover (a replay could change it).
        for name in ("content-type", "idempotency-key"):
            if name in request.headers:
                headers[name] = request.headers[name]
        aws = AWSRequest(method=request.method, url=str(request.url), data=request.content, headers=headers)
        SigV4Auth(self.credentials.get_frozen_credentials(), "execute-api", self.region).add_auth(aws)
        for name in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token"):
            if name in aws.headers:
                request.headers[name] = aws.headers[name]
        yield request


def api_region(url: str) -> str:
    """The region of an execute-api URL, else ``AWS_REGION`` / ``AWS_DEFAULT_REGION`` / us-east-1."""
    host = urlsplit(url).hostname or ""
    if ".execute-api." in host:
        return host.split(".")[2]
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def ambient_signer(url: str) -> SigV4Signer | None:
    """A signer with the ambient AWS credentials (environment, profile, SSO...), or ``None`` without any."""
    import boto3

    credentials = boto3.session.Session().get_credentials()
    return None if credentials is None else SigV4Signer(credentials, api_region(url))
