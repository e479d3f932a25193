"""AWS clients of one botocore session, created on first use, with bounded standard-mode retries.

botocore, not boto3: boto3 adds nothing to a low-level client of these services, and importing it (with
s3transfer) cost about 40 ms of every cold start. ``AWS_ENDPOINT_URL`` (read by botocore itself) points every
client at moto, LocalStack or real AWS. The composition root (:mod:`plutus.bootstrap`) owns the one
:class:`Clients` of an execution environment.
"""

from __future__ import annotations

from typing import Any

import botocore.session
from botocore.config import Config

from plutus.settings import Settings


def client_config(settings: Settings) -> Config:
    """Retry and timeout policy shared by every client.

    Client-side parameter validation is off: it walks every request against the service model (a third of
    botocore's CPU for a 100-item transaction), and the services validate every request anyway; a bad
    parameter is still an error, raised by the service instead of by botocore.
    """
    return Config(
        retries={"mode": "standard", "max_attempts": settings.aws_max_attempts},
        connect_timeout=settings.aws_connect_timeout,
        read_timeout=settings.aws_read_timeout,
        tcp_keepalive=True,
        parameter_validation=False,
    )


class Clients:
    """``clients("dynamodb")``: one low-level client per service, all from one session.

    Clients of one session share its loader: the second client does not list every service's model directory
    and re-read the endpoint data again (about 50 ms of a cold start).
    """

    def __init__(self, settings: Settings, session: botocore.session.Session | None = None) -> None:
        self.config = client_config(settings)
        self._session = session
        self._clients: dict[str, Any] = {}

    @property
    def session(self) -> botocore.session.Session:
        """The session, created with the first client."""
        if self._session is None:
            self._session = botocore.session.Session()
        return self._session

    def __call__(self, service: str) -> Any:
        """The client for ``service`` ("dynamodb", "sqs", ...), created once."""
        found = self._clients.get(service)
        if found is None:
            found = self._clients[service] = self.session.create_client(service, config=self.config)
        return found
