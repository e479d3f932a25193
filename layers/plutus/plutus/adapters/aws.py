"""boto3 clients, built once per execution environment with bounded, standard-mode retries.

``AWS_ENDPOINT_URL`` (read by boto3 itself) points every client at moto, LocalStack or real AWS.
"""

from __future__ import annotations

from functools import cache, lru_cache
from typing import Any

import boto3
from botocore.config import Config

from plutus.settings import get_settings


@lru_cache(maxsize=1)
def client_config() -> Config:
    """Retry and timeout policy shared by every client.

    Client-side parameter validation is off: it walks every request against the service model (a third of
    botocore's CPU for a 100-item transaction), and the services validate every request anyway; a bad
    parameter is still an error, raised by the service instead of by botocore.
    """
    settings = get_settings()
    return Config(
        retries={"mode": "standard", "max_attempts": settings.aws_max_attempts},
        connect_timeout=settings.aws_connect_timeout,
        read_timeout=settings.aws_read_timeout,
        tcp_keepalive=True,
        parameter_validation=False,
    )


@lru_cache(maxsize=1)
def session() -> boto3.session.Session:
    """The one boto3 session of this execution environment.

    Clients of one session share its loader: the second client does not list every service's model directory
    and re-read the endpoint data again (about 50 ms of a cold start).
    """
    return boto3.session.Session()


@cache
def client(service: str) -> Any:
    """A cached low-level client for ``service`` ("dynamodb", "sqs", ...)."""
    return session().client(service, config=client_config())  # type: ignore[call-overload]
