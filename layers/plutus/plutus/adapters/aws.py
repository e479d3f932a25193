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


class _Client:
    """Stands for the current client of one service: what adapters hold, so :meth:`Clients.renew` reaches
    them without rebuilding the use cases that hold it."""

    __slots__ = ("_clients", "_service")

    def __init__(self, clients: Clients, service: str) -> None:
        self._clients = clients
        self._service = service

    def __getattr__(self, name: str) -> Any:
        return getattr(self._clients.client(self._service), name)


class Clients:
    """``clients("dynamodb")``: one low-level client per service, all from one session.

    Clients of one session share its loader: the second client does not list every service's model directory
    and re-read the endpoint data again (about 50 ms of a cold start).
    """

    def __init__(self, settings: Settings, session: botocore.session.Session | None = None) -> None:
        self.config = client_config(settings)
        self._session = session
        self._loader: Any | None = None
        self._clients: dict[str, Any] = {}

    @property
    def session(self) -> botocore.session.Session:
        """The session, created with the first client."""
        if self._session is None:
            self._session = botocore.session.Session()
            if self._loader is not None:
                self._session.register_component("data_loader", self._loader)
        return self._session

    def client(self, service: str) -> Any:
        """The botocore client of ``service`` now, created on first use."""
        found = self._clients.get(service)
        if found is None:
            found = self._clients[service] = self.session.create_client(service, config=self.config)
        return found

    def __call__(self, service: str) -> Any:
        """The client for ``service`` ("dynamodb", "sqs", ...): created once, renewed by :meth:`renew`."""
        self.client(service)
        return _Client(self, service)

    def renew(self) -> None:
        """Drop every client, its connection pool and the session's credentials; the next call builds anew.

        After a SnapStart restore, the snapshot's clients would be shared by every restored environment, with
        connections opened before the snapshot and credentials resolved then. The loaded service models are
        kept: they are the same files, and reloading them is most of a client's cost.
        """
        if self._session is not None:
            self._loader = self._session.get_component("data_loader")
        for client in self._clients.values():
            client.close()
        self._session = None
        self._clients = {}
