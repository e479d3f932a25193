"""The embedded local stack: emulator + template resources + API + SQS pollers, no Docker, no AWS account.

``make dev`` runs ``python -m plutus_dev.emulator.stack``. Tests start the same class on free ports.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from plutus_dev.emulator.apigw import make_server
from plutus_dev.emulator.lambda_runtime import LambdaFunction
from plutus_dev.emulator.metrics import CONTENT_TYPE, MetricsRegistry, Sample
from plutus_dev.emulator.poller import Poller
from plutus_dev.emulator.resources import LOCAL_CREDENTIALS, Emulator, start_emulator
from plutus_dev.emulator.routes import RouteTable
from plutus_dev.emulator.template import ROOT, Stack, provision


@dataclass
class StackConfig:
    """How to run the embedded stack."""

    host: str = "127.0.0.1"
    port: int = 3000
    emulator_port: int | None = None
    # An existing endpoint (LocalStack, a shared moto): used as is, no emulator is started.
    endpoint_url: str | None = None
    api_concurrency: int = 4
    # The reads function's own execution environments: as where deployed, reads never queue behind ingest.
    reads_concurrency: int = 2
    consumer_pollers: int = 2
    stack_name: str = "plutus-local"
    parameters: dict[str, str] = field(default_factory=dict)
    environment: dict[str, str] = field(default_factory=dict)
    log_dir: Path = ROOT / ".plutus" / "logs"


class OutputRouter:
    """Where the functions' stdout goes: JSON log lines to one file per function, EMF documents to metrics."""

    def __init__(self, log_dir: Path) -> None:
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir = log_dir
        self.metrics = MetricsRegistry()
        # The latest documents as printed, for inspection; the registry holds the totals.
        self.emf: deque[dict[str, Any]] = deque(maxlen=10_000)
        self._lock = threading.Lock()
        self._files: dict[str, Any] = {}

    def __call__(self, function: str, lines: list[str]) -> None:
        with self._lock:
            fh = self._files.get(function)
            if fh is None:
                fh = self._files[function] = (self.log_dir / f"{function}.jsonl").open("a", encoding="utf-8")
            for line in lines:
                try:
                    doc = json.loads(line)
                except ValueError:
                    doc = None
                if isinstance(doc, dict) and "_aws" in doc:
                    self.emf.append(doc)
                    self.metrics.add(doc)
                else:
                    fh.write(line + "\n")
            fh.flush()

    def close(self) -> None:
        with self._lock:
            for fh in self._files.values():
                fh.close()
            self._files.clear()


class LocalStack:
    """A running embedded stack."""

    def __init__(self, config: StackConfig | None = None) -> None:
        self.config = config or StackConfig()
        self.emulator: Emulator | None = None
        self.stack: Stack | None = None
        self.stop_event = threading.Event()
        self.pollers: list[Poller] = []
        self.functions: dict[str, LambdaFunction] = {}
        self.output = OutputRouter(self.config.log_dir)
        self._server: Any = None
        self._server_thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.config.host}:{self._server.server_address[1]}"

    @property
    def endpoint_url(self) -> str:
        assert self.config.endpoint_url or self.emulator
        return self.config.endpoint_url or self.emulator.url  # type: ignore[union-attr]

    def session(self) -> boto3.session.Session:
        """A boto3 session on this stack's endpoint."""
        return boto3.session.Session(
            aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"]),
            aws_secret_access_key=os.environ.get(
                "AWS_SECRET_ACCESS_KEY", LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]
            ),
            region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        )

    def client(self, service: str) -> Any:
        """A client of ``service`` on this stack's endpoint."""
        return self.session().client(service, endpoint_url=self.endpoint_url)  # type: ignore[call-overload]

    def function_env(self, logical_id: str) -> dict[str, str]:
        """The environment of one function: the template's, pointed at this endpoint."""
        assert self.stack
        env = {**LOCAL_CREDENTIALS, **{k: v for k, v in os.environ.items() if k.startswith("AWS_")}}
        env.update(self.stack.function_environment(logical_id))
        env.update(
            {
                "AWS_ENDPOINT_URL": self.endpoint_url,
                "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon locally
                "AWS_LAMBDA_FUNCTION_NAME": logical_id,
            }
        )
        env.update(self.config.environment)
        return env

    def _function(self, logical_id: str, concurrency: int) -> LambdaFunction:
        assert self.stack
        props = self.stack.template["Resources"][logical_id]["Properties"]
        memory = int(
            props.get("MemorySize") or self.stack.template["Globals"]["Function"].get("MemorySize", 128)
        )
        return LambdaFunction(
            logical_id,
            ROOT / props["CodeUri"],
            self.function_env(logical_id),
            concurrency=concurrency,
            timeout=int(props.get("Timeout", 3)),
            memory=memory,
        )

    def start(self) -> LocalStack:
        """Start everything; returns when the API answers."""
        cfg = self.config
        if not cfg.endpoint_url:
            self.emulator = start_emulator(cfg.emulator_port)
        self.stack = provision(
            _EndpointSession(self.session(), self.endpoint_url), cfg.stack_name, cfg.parameters
        )
        self.functions["IngestFunction"] = self._function("IngestFunction", cfg.api_concurrency)
        self.functions["ReadsFunction"] = self._function("ReadsFunction", cfg.reads_concurrency)
        consumer = self.functions["ConsumerFunction"] = self._function(
            "ConsumerFunction", cfg.consumer_pollers
        )
        env = self.function_env("IngestFunction")
        self.output.metrics.default_labels = {
            "environment": env["PLUTUS_ENVIRONMENT"],
            "service": env["POWERTOOLS_SERVICE_NAME"],
        }
        routes = RouteTable.from_template(self.stack.template)
        self._server = make_server(
            {name: self.functions[name] for name in routes.functions()},
            routes,
            cfg.host,
            cfg.port,
            self.output,
            local_routes={"/metrics": self._metrics_page},
        )
        self._server_thread = threading.Thread(target=self._server.serve_forever, name="api", daemon=True)
        self._server_thread.start()
        queue_url = self.stack.refs["EventsQueue"]
        events = self.stack.template["Resources"]["ConsumerFunction"]["Properties"]["Events"]["Queue"]
        batch_size = int(self.stack.resolve(events["Properties"]["BatchSize"]))
        window = int(self.stack.resolve(events["Properties"].get("MaximumBatchingWindowInSeconds", 0)))
        for i in range(cfg.consumer_pollers):
            poller = Poller(
                self.client("sqs"),
                queue_url,
                self.stack.arns["EventsQueue"],
                consumer,
                batch_size=batch_size,
                wait_seconds=max(window, 1),
                on_output=self.output,
                stop=self.stop_event,
                name=f"poller-{i}",
            )
            poller.start()
            self.pollers.append(poller)
        return self

    def _metrics_page(self) -> tuple[int, dict[str, str], bytes]:
        # GET /metrics: the EMF the functions printed, plus the queues' depths read from the endpoint.
        return 200, {"Content-Type": CONTENT_TYPE}, self.output.metrics.render(self.queue_gauges()).encode()

    def queue_gauges(self) -> list[Sample]:
        """``queue_messages{queue=...}``: visible plus in-flight messages of the queue and its DLQ."""
        assert self.stack
        gauges = []
        sqs = self.client("sqs")
        for label, logical in (("events", "EventsQueue"), ("dead_letter", "EventsDeadLetterQueue")):
            try:
                attrs = sqs.get_queue_attributes(
                    QueueUrl=self.stack.refs[logical],
                    AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
                )["Attributes"]
            except Exception:  # the endpoint is gone (stopping): serve the EMF figures anyway
                continue
            depth = int(attrs["ApproximateNumberOfMessages"]) + int(
                attrs["ApproximateNumberOfMessagesNotVisible"]
            )
            gauges.append(
                Sample("queue_messages", {**self.output.metrics.default_labels, "queue": label}, depth)
            )
        return gauges

    def stop(self) -> None:
        """Stop cleanly: no new work, in-flight batches and requests finish, then the emulator stops."""
        self.stop_event.set()
        if self._server:
            self._server.shutdown()
            self._server.server_close()
        for poller in self.pollers:
            poller.join(timeout=60)
        for function in self.functions.values():
            function.shutdown()
        self.output.close()
        if self.emulator:
            self.emulator.stop()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _EndpointSession:
    """A boto3 session whose clients all use one endpoint (for :func:`provision`)."""

    def __init__(self, session: boto3.session.Session, endpoint_url: str) -> None:
        self._session = session
        self._endpoint_url = endpoint_url
        self.region_name = session.region_name

    def client(self, service: str) -> Any:
        return self._session.client(service, endpoint_url=self._endpoint_url)  # type: ignore[call-overload]


CURL_EXAMPLE = (
    "curl -sS -X POST {url}/api/v1/ingest -H 'Content-Type: application/json' -d "
    """'{{"source": "payment_service", "schema_version": "1.0", "idempotency_key": "evt_123456", """
    """"payload": {{"amount": 100, "currency": "KES"}}}}'"""
)


def main() -> None:
    """Run the embedded stack until Ctrl-C or SIGTERM."""
    started = time.monotonic()
    config = StackConfig(
        port=int(os.environ.get("PLUTUS_PORT", "3000")),
        emulator_port=int(os.environ["PLUTUS_EMULATOR_PORT"])
        if os.environ.get("PLUTUS_EMULATOR_PORT")
        else 4577,
        endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None,
        api_concurrency=int(os.environ.get("PLUTUS_API_CONCURRENCY", "4")),
        consumer_pollers=int(os.environ.get("PLUTUS_CONSUMER_POLLERS", "2")),
        stack_name=os.environ.get("PLUTUS_STACK_NAME", "plutus-local"),
    )
    stack = LocalStack(config).start()
    stopping = threading.Event()

    def request_stop(signum: int, frame: Any) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    print(f"Plutus is ready in {time.monotonic() - started:.1f}s", flush=True)
    print(f"  API:       {stack.url}   (OpenAPI docs at {stack.url}/docs)")
    print(f"  AWS endpoint: {stack.endpoint_url}   (tables and queues from template.yaml)")
    print(f"  Logs:      {config.log_dir}/")
    print(f"  Metrics:   {stack.url}/metrics   (Prometheus text; 'plutus stats' prints them)")
    print("  Try it:\n" + CURL_EXAMPLE.format(url=stack.url))
    print("  Then:      curl -sS " + stack.url + "/api/v1/events/<event_id>")
    print("  (Locally no route checks credentials; where deployed every route but /health needs SigV4.)")
    print("Ctrl-C stops it cleanly.", flush=True)
    stopping.wait()
    print("Stopping: finishing in-flight batches...", flush=True)
    stack.stop()
    print("Stopped.", flush=True)


if __name__ == "__main__":
    main()
