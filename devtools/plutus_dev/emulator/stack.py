"""The embedded local stack: emulator + template resources + API + SQS pollers, no Docker, no AWS account.

``make dev`` runs ``python -m plutus_dev.emulator.stack``. Tests start the same class on free ports.

Each stack owns its emulator (a free port unless ``PLUTUS_EMULATOR_PORT`` names one; a taken port is refused)
and, while it runs, says where in ``.plutus/stacks/<name>.json`` (see ``statefile``), which the ``plutus`` CLI
reads. ``make dev`` runs the ``dev`` profile: short retries and a failing event type (see ``PROFILES``).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from plutus_dev.emulator import statefile
from plutus_dev.emulator.apigw import make_server
from plutus_dev.emulator.lambda_runtime import LambdaFunction
from plutus_dev.emulator.metrics import CONTENT_TYPE, MetricsRegistry, Sample
from plutus_dev.emulator.poller import Poller
from plutus_dev.emulator.resources import (
    LOCAL_CREDENTIALS,
    Emulator,
    PortInUseError,
    port_is_free,
    start_emulator,
)
from plutus_dev.emulator.routes import RouteTable
from plutus_dev.emulator.template import NO_VALUE, ROOT, Stack, provision

DEFAULT_API_PORT = 3000


@dataclass(frozen=True)
class Profile:
    """Template parameter overrides, and setup each function environment runs, for one way of working."""

    parameters: dict[str, str]
    setup: tuple[str, ...] = ()
    description: str = ""


PROFILES = {
    # As deployed: the template's defaults (180 s visibility timeout, 5 receives: 15 minutes to the DLQ).
    "template": Profile({}, description="template defaults"),
    # A failure reaches FAILED after 2 receives, 5 s apart, and the DLQ on the next receive: about 10 s.
    # The dev-only event type ``dev_failure_requested`` fails on purpose (plutus_dev.emulator.dev_events).
    "dev": Profile(
        {"QueueVisibilityTimeoutSeconds": "5", "MaxReceiveCount": "2"},
        setup=("plutus_dev.emulator.dev_events:install",),
        description="visibility timeout 5 s, 2 receives, dev_failure_requested fails on purpose",
    ),
}

# Settings bound to the stack's own resources: they come from the template, never from the shell (a
# PLUTUS_EVENTS_TABLE exported for the CLI must not point the functions at another table).
RESOURCE_SETTINGS = frozenset(
    {
        "events_table",
        "state_table",
        "queue_url",
        "max_receive_count",
        "fanout_bus",
        "queue_mode",
    }
)
SHELL_PASSTHROUGH = frozenset({"POWERTOOLS_LOG_LEVEL"})


def shell_settings(environ: dict[str, str]) -> dict[str, str]:
    """The settings given in the shell that the functions should see: the core's ``PLUTUS_*`` and each pack's
    ``PLUTUS_<PACK>_*`` (resource names excepted), and the log level."""
    from plutus.domains import build_registry
    from plutus.settings import Settings

    names = {f"PLUTUS_{n.upper()}" for n in Settings.model_fields if n not in RESOURCE_SETTINGS}
    for model in build_registry().settings_models:
        prefix = str(model.model_config.get("env_prefix", ""))
        names |= {f"{prefix}{n}".upper() for n in model.model_fields}
    return {k: v for k, v in environ.items() if k in names or k in SHELL_PASSTHROUGH}


@dataclass
class StackConfig:
    """How to run the embedded stack."""

    host: str = "127.0.0.1"
    # 0: any free port.
    port: int = DEFAULT_API_PORT
    emulator_port: int | None = None
    # An existing endpoint (LocalStack, a shared moto): used as is, no emulator is started.
    endpoint_url: str | None = None
    api_concurrency: int = 4
    # The reads function's own execution environments: as where deployed, reads never queue behind ingest.
    reads_concurrency: int = 2
    consumer_pollers: int = 2
    stack_name: str = "plutus-local"
    profile: str = "template"
    # Template parameter overrides, applied over the profile's.
    parameters: dict[str, str] = field(default_factory=dict)
    # Function environment, applied over the template's (and the profile's setup).
    environment: dict[str, str] = field(default_factory=dict)
    log_dir: Path = ROOT / ".plutus" / "logs"

    def effective_parameters(self) -> dict[str, str]:
        """The profile's parameter overrides, then this config's own."""
        return {**PROFILES[self.profile].parameters, **self.parameters}


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
            setup=PROFILES[self.config.profile].setup,
        )

    def start(self) -> LocalStack:
        """Start everything; returns when the API answers. On failure, stops what it started and raises."""
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> LocalStack:
        cfg = self.config
        if cfg.port and not port_is_free(cfg.port, cfg.host):
            raise PortInUseError(f"API port {cfg.port} is in use by another process")
        if not cfg.endpoint_url:
            self.emulator = start_emulator(cfg.emulator_port)
        self.stack = provision(
            _EndpointSession(self.session(), self.endpoint_url), cfg.stack_name, cfg.effective_parameters()
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
            unrouted="ReadsFunction",
        )
        self._server_thread = threading.Thread(target=self._server.serve_forever, name="api", daemon=True)
        self._server_thread.start()
        queue_url = self.stack.refs["EventsQueue"]
        events = self.stack.template["Resources"]["ConsumerFunction"]["Properties"]["Events"]["Queue"]
        batch_size = int(self.stack.resolve(events["Properties"]["BatchSize"]))
        window = self.stack.resolve(events["Properties"].get("MaximumBatchingWindowInSeconds", 0))
        window = 0 if window is NO_VALUE else int(window)  # none on a FIFO queue
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

    def state(self) -> statefile.StackState:
        """Where this stack runs, for the state file the CLI reads."""
        assert self.stack
        ingest = self.function_env("IngestFunction")
        return statefile.StackState(
            name=self.config.stack_name,
            pid=os.getpid(),
            api_url=self.url,
            endpoint_url=self.endpoint_url,
            region=self.stack.region,
            events_table=self.stack.refs["EventsTable"],
            state_table=self.stack.refs["StateTable"],
            queue_url=self.stack.refs["EventsQueue"],
            dlq_url=self.stack.refs["EventsDeadLetterQueue"],
            log_dir=str(self.config.log_dir),
            emulator_pid=self.emulator.process.pid if self.emulator and self.emulator.process else None,
            webhook_secret_prefix=ingest.get("PLUTUS_WEBHOOK_SECRET_PREFIX"),
            webhook_secret_store=ingest.get("PLUTUS_WEBHOOK_SECRET_STORE"),
            webhook_sources=ingest.get("PLUTUS_WEBHOOK_SOURCES"),
        )

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
            if self._server_thread and self._server_thread.is_alive():
                self._server.shutdown()
            self._server.server_close()
        for poller in self.pollers:
            if poller.is_alive():
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
    "curl -i -X POST {url}/api/v1/ingest -H 'Content-Type: application/json' -d "
    """'{{"source": "payment_service", "schema_version": "1.0", "idempotency_key": "evt_123456", """
    """"payload": {{"amount": 100, "currency": "KES"}}}}'"""
)


class StackError(Exception):
    """The stack cannot start as configured; the message says why and what to do."""


def config_from_environment(environ: dict[str, str]) -> StackConfig:
    """``make dev``'s configuration: ``PLUTUS_*`` variables, else defaults (see README, Configuration)."""
    name = environ.get("PLUTUS_STACK_NAME") or "plutus-local"
    profile = environ.get("PLUTUS_PROFILE") or "dev"
    if profile not in PROFILES:
        raise StackError(f"PLUTUS_PROFILE={profile!r}: choose one of {', '.join(PROFILES)}")
    if environ.get("PLUTUS_PORT"):
        port = int(environ["PLUTUS_PORT"])
    else:
        # 3000 when free (the README's curls use it), else any free port: the banner says which.
        port = DEFAULT_API_PORT if port_is_free(DEFAULT_API_PORT) else 0
    parameters = dict(
        pair.split("=", 1) for pair in (environ.get("PLUTUS_PARAMETERS") or "").split() if "=" in pair
    )
    # PLUTUS_QUEUE_MODE=fifo: the template's QueueMode, so the queues are created FIFO (the functions' own
    # PLUTUS_QUEUE_MODE then follows from the template).
    if environ.get("PLUTUS_QUEUE_MODE"):
        parameters.setdefault("QueueMode", environ["PLUTUS_QUEUE_MODE"])
    return StackConfig(
        port=port,
        emulator_port=int(environ["PLUTUS_EMULATOR_PORT"]) if environ.get("PLUTUS_EMULATOR_PORT") else None,
        endpoint_url=environ.get("AWS_ENDPOINT_URL") or None,
        api_concurrency=int(environ.get("PLUTUS_API_CONCURRENCY", "4")),
        consumer_pollers=int(environ.get("PLUTUS_CONSUMER_POLLERS", "2")),
        stack_name=name,
        profile=profile,
        parameters=parameters,
        environment=shell_settings(environ),
        log_dir=ROOT / ".plutus" / "logs" / name,
    )


def _refuse_if_running(name: str) -> None:
    running = statefile.find(name)
    if running is not None:
        raise StackError(
            f"a stack named {name!r} is already running (pid {running.pid}, API {running.api_url}).\n"
            f"Stop it (Ctrl-C in its terminal), or start another one next to it: "
            f"PLUTUS_STACK_NAME=second make dev"
        )


def _banner(stack: LocalStack, started: float, state_path: Path) -> None:
    cfg = stack.config
    print(f"Plutus is ready in {time.monotonic() - started:.1f}s: stack {cfg.stack_name!r}", flush=True)
    print(f"  API:        {stack.url}   (OpenAPI docs at {stack.url}/docs)")
    print(f"  Emulator:   {stack.endpoint_url}   (tables and queues from template.yaml, its own)")
    print(f"  Profile:    {cfg.profile}: {PROFILES[cfg.profile].description}")
    if stack.stack and stack.stack.parameters.get("QueueMode") == "fifo":
        print("  Queue:      FIFO, one message group per ordering key (docs: Ordering per key)")
    if cfg.environment:
        print("  From shell: " + " ".join(f"{k}={v}" for k, v in sorted(cfg.environment.items())))
    print(f"  State:      {state_path}   (the plutus CLI finds this stack from it)")
    print(f"  Logs:       {cfg.log_dir}/")
    print(f"  Metrics:    {stack.url}/metrics   ('make plutus ARGS=stats' prints them)")
    if stack.stack and stack.stack.condition("FanOutOn"):
        print(f"  Fan-out:    EventBridge bus {stack.stack.output('FanOutBusName')} (docs/fanout.md)")
    if not cfg.environment.get("PLUTUS_PRODUCER_POLICY"):
        print("  Producers:  no ProducerPolicy: in AuthMode NONE any source may send any type (dev only)")
    print("  Try it:\n" + CURL_EXAMPLE.format(url=stack.url))
    print("  Then:       make plutus ARGS='events watch <event_id>'")
    print("Ctrl-C stops it cleanly.", flush=True)


def main() -> None:
    """Run the embedded stack until Ctrl-C or SIGTERM; exit 2, saying why, if it cannot start."""
    started = time.monotonic()
    try:
        config = config_from_environment(dict(os.environ))
        _refuse_if_running(config.stack_name)
        stack = LocalStack(config).start()
    except (StackError, PortInUseError, OSError) as exc:
        print(f"Plutus cannot start: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    stopping = threading.Event()

    def request_stop(signum: int, frame: Any) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    state = stack.state()
    state_path = statefile.write(state)
    try:
        _banner(stack, started, state_path)
        stopping.wait()
        print("Stopping: finishing in-flight batches...", flush=True)
    finally:
        statefile.remove(state.name, state.pid)
        stack.stop()
    print("Stopped.", flush=True)


if __name__ == "__main__":
    main()
