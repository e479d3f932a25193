"""Nothing lost, nothing doubled: a fault-injection run against the embedded stack.

``python -m plutus_dev.faults.run --events 10000`` (``make soak``). Producers send N events plus 10%
duplicates, retrying as real webhook senders do (backoff with jitter, Retry-After honoured); with ``--batch-
size`` they send them through ``POST /api/v1/ingest/batch`` and resend the events answered 409 or 503. The
functions reach the emulator through :mod:`plutus_dev.faults.proxy`, which fails 5% of their DynamoDB and SQS
calls (throttling, 5xx, lost answers, timeouts) while 4 consumers compete on the queue. A few events are
doomed: their commit always fails, so they must end FAILED with their message in the DLQ. Afterwards the
tables and queues are audited: every event that got a 2xx must be PROCESSED (its receipt, a counter on its
item, at exactly 1), or FAILED with its message in the DLQ, and no receipt may have been applied twice. Then
the operator's recovery runs (replay the FAILED events, redrive the DLQ) and the audit is repeated: everything
PROCESSED, still nothing doubled."""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from plutus.adapters.events_store import EventStatus
from plutus.core.envelope import IngestRequest, derive_event_id
from plutus.domains import default
from plutus_dev.cli import dlq, replay
from plutus_dev.emulator.resources import LOCAL_CREDENTIALS, Emulator, free_port, start_emulator
from plutus_dev.emulator.stack import LocalStack, StackConfig
from plutus_dev.faults.proxy import Call, FaultKind, FaultProxy, Rule

SOURCE = "chaos_service"


@dataclass(frozen=True)
class RunConfig:
    """One run's shape."""

    events: int = 300
    duplicate_ratio: float = 0.10
    fault_rate: float = 0.05
    doomed_ratio: float = 0.01
    consumers: int = 4
    api_concurrency: int = 4
    producers: int = 8
    # 1: one event per POST /api/v1/ingest; more: batches of that size to POST /api/v1/ingest/batch.
    batch_size: int = 1
    max_receive_count: int = 3
    # Shorter than the template's 180 s so failed receives come back within the run (liveness, not safety).
    visibility_timeout: int = 5
    seed: int = 20261126
    request_deadline: float = 120.0
    settle_timeout: float = 900.0
    recover: bool = True
    # The share of events whose payload is large_bytes: above the inline threshold, stored in S3 behind a
    # pointer (its puts and gets faulted like every other call).
    large_ratio: float = 0.0
    large_bytes: int = 300_000


@dataclass
class Audit:
    """What the tables and queues say, against what producers were told."""

    accepted: int = 0
    processed: int = 0
    failed: int = 0
    in_dlq: int = 0
    dlq_messages: int = 0
    lost: list[str] = field(default_factory=list)
    doubled: list[str] = field(default_factory=list)
    orphan_effects: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.doubled or self.orphan_effects)


@dataclass
class RunReport:
    """Figures of one run."""

    config: RunConfig
    requests: int = 0
    responses: Counter[int] = field(default_factory=Counter)
    transport_errors: int = 0
    gave_up: list[str] = field(default_factory=list)
    wrong_ids: list[str] = field(default_factory=list)
    doomed_accepted: int = 0
    calls: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    doomed_faults: int = 0
    audit: Audit = field(default_factory=Audit)
    recovery: Audit | None = None
    replayed: int = 0
    redriven: int = 0
    redrive_path: str = ""
    duration: float = 0.0
    ingest_seconds: float = 0.0
    # Events with a large payload, and the payload objects stored for them.
    large: int = 0
    stored_payloads: int = 0

    @property
    def ok(self) -> bool:
        unexpected = {code for code in self.responses if code not in {200, 202, 409, 503}}
        recovered = self.recovery is None or (self.recovery.ok and self.recovery.failed == 0)
        return self.audit.ok and recovered and not (self.gave_up or self.wrong_ids or unexpected)

    def lines(self) -> list[str]:
        """The figures, one per line."""
        a = self.audit
        faults = ", ".join(f"{k} {v}" for k, v in sorted(self.faults.items()))
        codes = ", ".join(f"{k}: {v}" for k, v in sorted(self.responses.items()))
        batches = f", in batches of {self.config.batch_size}" if self.config.batch_size > 1 else ""
        out = [
            f"events {self.config.events} (+{self.requests - self.config.events} duplicate sends{batches}), "
            f"faults {self.config.fault_rate:.0%} of {self.calls} AWS calls, "
            f"{self.config.consumers} consumers, {self.config.producers} producers",
            f"random faults injected: {sum(self.faults.values())} ({faults}); "
            f"doomed commits refused: {self.doomed_faults}",
            f"responses: {codes}; transport errors {self.transport_errors}; gave up {len(self.gave_up)}",
            f"accepted {a.accepted} | processed {a.processed} | failed {a.failed} | in DLQ {a.in_dlq} "
            f"({a.dlq_messages} messages) | lost {len(a.lost)} | doubled {len(a.doubled)}",
            f"doomed (their commit always fails) accepted: {self.doomed_accepted}",
        ]
        if self.large:
            out.append(
                f"large payloads ({self.config.large_bytes} bytes): {self.large} events, "
                f"{self.stored_payloads} stored in S3"
            )
        if self.recovery is not None:
            r = self.recovery
            out.append(
                f"recovery: replayed {self.replayed}, redriven {self.redriven} ({self.redrive_path}) -> "
                f"processed {r.processed} | failed {r.failed} | lost {len(r.lost)} | doubled {len(r.doubled)}"
            )
        out.append(f"duration {self.duration:.1f}s (ingest phase {self.ingest_seconds:.1f}s)")
        for label, ids in (
            ("LOST", a.lost),
            ("DOUBLED", a.doubled),
            ("ORPHAN EFFECTS", a.orphan_effects),
            ("GAVE UP", self.gave_up),
            ("WRONG IDS", self.wrong_ids),
        ):
            if ids:
                out.append(f"{label}: {', '.join(ids[:20])}")
        return out


class ChaosStack:
    """Emulator, fault proxy in front of it for the functions, and the embedded stack."""

    def __init__(self, config: RunConfig, log_dir: Path | None = None) -> None:
        self.config = config
        self._tmp = tempfile.TemporaryDirectory(prefix="plutus-chaos-")
        self.log_dir = log_dir or Path(self._tmp.name)
        self.emulator: Emulator | None = None
        self.proxy: FaultProxy | None = None
        self.stack: LocalStack | None = None

    def __enter__(self) -> ChaosStack:
        import os

        for key, value in LOCAL_CREDENTIALS.items():
            os.environ.setdefault(key, value)
        self.emulator = start_emulator()
        self.proxy = FaultProxy(self.emulator.url, seed=self.config.seed, timeout_hold=2.5).start()
        self.stack = LocalStack(
            StackConfig(
                port=free_port(),
                endpoint_url=self.emulator.url,
                api_concurrency=self.config.api_concurrency,
                consumer_pollers=self.config.consumers,
                stack_name=f"chaos{uuid.uuid4().hex[:6]}",
                parameters={"MaxReceiveCount": str(self.config.max_receive_count)},
                # The functions (not the event source mapping) go through the proxy.
                environment={"AWS_ENDPOINT_URL": self.proxy.url},
                log_dir=self.log_dir,
            )
        ).start()
        self.sqs.set_queue_attributes(
            QueueUrl=self.queue_url, Attributes={"VisibilityTimeout": str(self.config.visibility_timeout)}
        )
        return self

    def __exit__(self, *exc: object) -> None:
        if self.stack:
            self.stack.stop()
        if self.proxy:
            self.proxy.stop()
        if self.emulator:
            self.emulator.stop()
        self._tmp.cleanup()

    @property
    def api_url(self) -> str:
        assert self.stack
        return self.stack.url

    def ref(self, logical_id: str) -> str:
        assert self.stack and self.stack.stack
        return self.stack.stack.refs[logical_id]

    @property
    def queue_url(self) -> str:
        return self.ref("EventsQueue")

    @property
    def dlq_url(self) -> str:
        return self.ref("EventsDeadLetterQueue")

    @property
    def sqs(self) -> Any:
        assert self.stack
        return self.stack.client("sqs")

    @property
    def s3(self) -> Any:
        assert self.stack
        return self.stack.client("s3")

    @property
    def dynamodb(self) -> Any:
        assert self.stack
        return self.stack.client("dynamodb")

    def stored_payloads(self) -> int:
        """Objects under ``payloads/`` in the stack's bucket."""
        listed = self.s3.list_objects_v2(Bucket=self.ref("PayloadBucket"), Prefix="payloads/")
        return int(listed.get("KeyCount", 0))

    def queue_depth(self) -> int:
        """Messages in the source queue: visible, in flight or delayed."""
        attrs = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["All"])["Attributes"]
        keys = ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible")
        return sum(int(attrs.get(k, 0)) for k in (*keys, "ApproximateNumberOfMessagesDelayed"))

    def settle(self, timeout: float) -> None:
        """Wait until the consumers have emptied the source queue (failed records come back and go)."""
        deadline = time.monotonic() + timeout
        quiet = 0
        while quiet < 3:
            if time.monotonic() > deadline:
                raise TimeoutError(f"queue did not drain within {timeout:.0f}s ({self.queue_depth()} left)")
            quiet = quiet + 1 if self.queue_depth() == 0 else 0
            time.sleep(0.5)

    def scan(self, logical_id: str) -> list[dict[str, Any]]:
        """Every item of a table (the audit may scan; the product never does)."""
        from plutus.adapters.state_store import from_item

        kwargs: dict[str, Any] = {"TableName": self.ref(logical_id), "ConsistentRead": True}
        items: list[dict[str, Any]] = []
        while True:
            page = self.dynamodb.scan(**kwargs)
            items += [from_item(i) for i in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def handler_runs(self) -> int:
        """Committed handler runs, from the consumer's EMF metrics."""
        assert self.stack
        return int(sum(sum(d.get("processing_success_total", [])) for d in list(self.stack.output.emf)))


def event_body(index: int, large_bytes: int = 0) -> dict[str, Any]:
    """The index-th event a producer sends (with a ``large_bytes`` blob when given)."""
    payload: dict[str, Any] = {"amount": index, "currency": "KES", "note": "caf\u00e9"}
    if large_bytes:
        payload["blob"] = f"{index:06d}" * (large_bytes // 6)
    return {
        "source": SOURCE,
        "schema_version": "1.0",
        "idempotency_key": f"chaos-{index:06d}",
        "payload": payload,
    }


def expected_event_id(body: dict[str, Any]) -> str:
    """The id Plutus derives for ``body``."""
    request = IngestRequest.model_validate(body)
    return derive_event_id(request.source, request.idempotency_key)


@dataclass
class _Outcome:
    statuses: list[int] = field(default_factory=list)
    event_id: str | None = None
    transport_errors: int = 0


def send_like_a_producer(client: httpx.Client, body: dict[str, Any], deadline: float) -> _Outcome:
    """POST until a final answer: retry 409, 429, 5xx and transport errors with backoff and jitter."""
    outcome = _Outcome()
    attempt = 0
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        attempt += 1
        backoff = random.uniform(0, min(4.0, 0.1 * 2**attempt))
        try:
            response = client.post("/api/v1/ingest", json=body)
        except httpx.TransportError:
            outcome.transport_errors += 1
            time.sleep(backoff)
            continue
        outcome.statuses.append(response.status_code)
        if response.status_code in (200, 202):
            outcome.event_id = response.json()["event_id"]
            return outcome
        if response.status_code in (409, 429) or response.status_code >= 500:
            retry_after = float(response.headers.get("Retry-After", "0") or 0)
            time.sleep(max(retry_after, backoff) + random.uniform(0, 0.2))
            continue
        return outcome  # a 4xx is final
    return outcome


def send_batch_like_a_producer(
    client: httpx.Client, bodies: list[dict[str, Any]], deadline: float
) -> list[_Outcome]:
    """POST a batch until every event has a final answer, resending only the events answered 409 or 503
    (and the whole batch after a 429, a 5xx or a transport error), with backoff and Retry-After."""
    outcomes = [_Outcome() for _ in bodies]
    pending = list(range(len(bodies)))
    attempt = 0
    end = time.monotonic() + deadline
    while pending and time.monotonic() < end:
        attempt += 1
        backoff = random.uniform(0, min(4.0, 0.1 * 2**attempt))
        try:
            response = client.post("/api/v1/ingest/batch", json={"events": [bodies[i] for i in pending]})
        except httpx.TransportError:
            for i in pending:
                outcomes[i].transport_errors += 1
            time.sleep(backoff)
            continue
        retry_after = float(response.headers.get("Retry-After", "0") or 0)
        if response.status_code != 200:
            for i in pending:
                outcomes[i].statuses.append(response.status_code)
            if response.status_code == 429 or response.status_code >= 500:
                time.sleep(max(retry_after, backoff) + random.uniform(0, 0.2))
                continue
            return outcomes  # a 4xx for the whole batch is final
        again = []
        for i, result in zip(pending, response.json()["results"], strict=True):
            outcomes[i].statuses.append(result["status"])
            if result["status"] in (200, 202):
                outcomes[i].event_id = result["event_id"]
            elif result["status"] in (409, 503):
                again.append(i)
        pending = again
        if pending:
            time.sleep(max(retry_after, backoff) + random.uniform(0, 0.2))
    return outcomes


def _doomed_matcher(doomed: set[str]) -> Any:
    def match(call: Call) -> bool:
        # A consumer commit carrying a doomed event's move to PROCESSED, wherever it is in the transaction (a
        # batch commits many events in one), or alone (an event whose effects fold into its marker is one
        # UpdateItem): that write fails, so the event can only fail.
        if call.service != "dynamodb":
            return False
        if call.operation == "UpdateItem":
            updates = [json.loads(call.body)]
        elif call.operation == "TransactWriteItems":
            updates = [item.get("Update", {}) for item in json.loads(call.body).get("TransactItems", [])]
        else:
            return False
        for update in updates:
            moves_to_processed = "#status = :processed" in update.get("UpdateExpression", "")
            if moves_to_processed and update.get("Key", {}).get("event_id", {}).get("S") in doomed:
                return True
        return False

    return match


def audit(chaos: ChaosStack, accepted: set[str]) -> Audit:
    """Check the invariant from the tables and queues."""
    events = {i["event_id"]: i for i in chaos.scan("EventsTable")}
    # The default handler's receipt is a counter on the event's own item (plutus/domains/default.py).
    receipts = {event_id: n for event_id, item in events.items() if (n := default.applied(item)) is not None}
    letters = dlq.peek(chaos.sqs, chaos.dlq_url, limit=1_000_000)
    in_dlq = Counter(d.event_id for d in letters)
    result = Audit(accepted=len(accepted), dlq_messages=len(letters))
    result.in_dlq = len([e for e in in_dlq if e in accepted])
    for event_id in sorted(accepted):
        status = events.get(event_id, {}).get("status")
        if status == EventStatus.PROCESSED and event_id not in receipts:
            # Every event of the run gets the default handler: PROCESSED without its receipt lost its effect.
            result.lost.append(f"{event_id} (PROCESSED without its receipt)")
        elif status == EventStatus.PROCESSED:
            result.processed += 1
        elif status == EventStatus.FAILED and in_dlq[event_id]:
            result.failed += 1
        else:
            result.lost.append(f"{event_id} ({status}, {in_dlq[event_id]} in DLQ)")
    for event_id, applied in receipts.items():
        if applied != 1:
            result.doubled.append(f"{event_id} (applied {applied})")
        if events.get(event_id, {}).get("status") != EventStatus.PROCESSED:
            result.orphan_effects.append(event_id)
    return result


def concurrent_same_key(chaos: ChaosStack, requests: int = 100) -> dict[str, Any]:
    """``requests`` concurrent POSTs of one event: responses, events, SendMessage calls, handler runs."""
    assert chaos.proxy
    body = {**event_body(999_999), "idempotency_key": f"same-{uuid.uuid4().hex}"}
    sends_before = chaos.proxy.stats.calls["sqs.SendMessage"]
    runs_before = chaos.handler_runs()
    barrier = threading.Barrier(requests)

    def post(_: int) -> httpx.Response:
        with httpx.Client(base_url=chaos.api_url, timeout=60) as client:
            barrier.wait()
            return client.post("/api/v1/ingest", json=body)

    with ThreadPoolExecutor(max_workers=requests) as pool:
        responses = list(pool.map(post, range(requests)))
    chaos.settle(120)
    event_id = expected_event_id(body)
    return {
        "codes": Counter(r.status_code for r in responses),
        "event_ids": {r.json()["event_id"] for r in responses if r.status_code in (200, 202)},
        "event_id": event_id,
        "send_message_calls": chaos.proxy.stats.calls["sqs.SendMessage"] - sends_before,
        "handler_runs": chaos.handler_runs() - runs_before,
        "events": [i for i in chaos.scan("EventsTable") if i["event_id"] == event_id],
        "applied": [
            n
            for i in chaos.scan("EventsTable")
            if i["event_id"] == event_id and (n := default.applied(i)) is not None
        ],
    }


def _large_indexes(rng: random.Random, config: RunConfig) -> set[int]:
    # Drawn only when asked for, so a run without large payloads keeps its seed's sequence.
    if not config.large_ratio:
        return set()
    return set(rng.sample(range(config.events), round(config.events * config.large_ratio)))


def run(chaos: ChaosStack, progress: Any = None) -> RunReport:
    """One fault-injection run on a started :class:`ChaosStack`; returns its figures."""
    config = chaos.config
    assert chaos.proxy
    rng = random.Random(config.seed)
    report = RunReport(config)
    started = time.monotonic()
    large = _large_indexes(rng, config)
    report.large = len(large)
    bodies = [event_body(i, config.large_bytes if i in large else 0) for i in range(config.events)]
    ids = [expected_event_id(b) for b in bodies]
    doomed = (
        set(rng.sample(ids, max(1, round(config.events * config.doomed_ratio))))
        if config.doomed_ratio
        else set()
    )
    schedule = list(range(config.events)) + [
        rng.randrange(config.events) for _ in range(round(config.events * config.duplicate_ratio))
    ]
    rng.shuffle(schedule)
    report.requests = len(schedule)

    calls_before = chaos.proxy.stats.total_calls
    chaos.proxy.add_rule(Rule(_doomed_matcher(doomed), FaultKind.UNAVAILABLE))
    chaos.proxy.rate = config.fault_rate
    outcomes: dict[int, list[_Outcome]] = {}
    lock = threading.Lock()
    local = threading.local()

    def produce(indexes: list[int]) -> None:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = httpx.Client(base_url=chaos.api_url, timeout=30)
        if config.batch_size > 1:
            results = send_batch_like_a_producer(
                client, [bodies[i] for i in indexes], config.request_deadline
            )
        else:
            results = [send_like_a_producer(client, bodies[indexes[0]], config.request_deadline)]
        with lock:
            for index, outcome in zip(indexes, results, strict=True):
                outcomes.setdefault(index, []).append(outcome)
        if progress:
            for _ in indexes:
                progress()

    size = max(1, config.batch_size)
    with ThreadPoolExecutor(max_workers=config.producers) as pool:
        list(pool.map(produce, [schedule[i : i + size] for i in range(0, len(schedule), size)]))
    report.ingest_seconds = time.monotonic() - started
    chaos.settle(config.settle_timeout)
    report.calls = chaos.proxy.stats.total_calls - calls_before
    report.faults = chaos.proxy.stats.by_kind()
    report.doomed_faults = sum(chaos.proxy.stats.scripted.values())
    chaos.proxy.clear()

    accepted: set[str] = set()
    for index, results in outcomes.items():
        for outcome in results:
            report.responses.update(outcome.statuses)
            report.transport_errors += outcome.transport_errors
            if outcome.event_id is None:
                report.gave_up.append(bodies[index]["idempotency_key"])
            elif outcome.event_id != ids[index]:
                report.wrong_ids.append(bodies[index]["idempotency_key"])
            else:
                accepted.add(outcome.event_id)
    report.doomed_accepted = len(doomed & accepted)
    report.stored_payloads = chaos.stored_payloads() if large else 0
    report.audit = audit(chaos, accepted)

    if config.recover:
        # The operator's recovery, faults off: replay FAILED events by id, then redrive the DLQ.
        failed = replay.event_ids_by_status(chaos.dynamodb, chaos.ref("EventsTable"), EventStatus.FAILED)
        results = replay.replay_events(
            chaos.dynamodb, chaos.sqs, chaos.ref("EventsTable"), chaos.queue_url, failed, s3=chaos.s3
        )
        report.replayed = sum(r.outcome is replay.Outcome.REPLAYED for r in results)
        chaos.settle(config.settle_timeout)
        redriven = dlq.redrive(chaos.sqs, chaos.dlq_url, chaos.queue_url)
        report.redriven, report.redrive_path = redriven.moved, redriven.path
        chaos.settle(config.settle_timeout)
        report.recovery = audit(chaos, accepted)
    report.duration = time.monotonic() - started
    return report


def main(argv: list[str] | None = None) -> int:
    """Run and print the figures; exit 1 if anything was lost or doubled."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--faults", type=float, default=0.05, help="fraction of AWS calls that fail")
    parser.add_argument("--duplicates", type=float, default=0.10)
    parser.add_argument("--consumers", type=int, default=4)
    parser.add_argument("--producers", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=1, help="events per POST /api/v1/ingest/batch")
    parser.add_argument("--max-receive-count", type=int, default=3)
    parser.add_argument("--seed", type=int, default=RunConfig.seed)
    parser.add_argument("--no-recover", action="store_true", help="skip the replay/redrive phase")
    parser.add_argument("--large-ratio", type=float, default=0.0, help="share of events with a large payload")
    parser.add_argument("--large-bytes", type=int, default=300_000, help="size of a large payload's blob")
    args = parser.parse_args(argv)
    config = RunConfig(
        events=args.events,
        fault_rate=args.faults,
        duplicate_ratio=args.duplicates,
        consumers=args.consumers,
        producers=args.producers,
        batch_size=args.batch_size,
        max_receive_count=args.max_receive_count,
        seed=args.seed,
        recover=not args.no_recover,
        large_ratio=args.large_ratio,
        large_bytes=args.large_bytes,
    )
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    print(f"Starting the embedded stack behind the fault proxy ({config.events} events)...", flush=True)
    with ChaosStack(config) as chaos:
        total = config.events + round(config.events * config.duplicate_ratio)
        with Progress(TextColumn("sending"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()) as bar:
            task = bar.add_task("send", total=total)
            report = run(chaos, progress=lambda: bar.advance(task))
    for line in report.lines():
        print(line)
    print("OK: nothing lost, nothing doubled" if report.ok else "FAILED: see above")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
