"""``make bench``: Plutus against the canonical Powertools pattern, in one run, on one moto server.

Prints a table, writes ``bench/results.json`` and ``bench/plot.png``. The method is in ``bench/README.md``.
``python -m bench.run --quick`` runs every phase with small counts (for trying changes, not for figures).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Callable
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from bench import coldstart, cost, e2e, events, plot, units
from bench.worker import ROOT, serve
from plutus_dev.emulator.resources import LOCAL_CREDENTIALS, Emulator, start_emulator
from plutus_dev.emulator.template import Stack, provision

OUT = ROOT / "bench"
MEMORY_MB = 512


def machine() -> dict[str, Any]:
    """Where the figures come from."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    versions = {
        name: importlib.metadata.version(name)
        for name in ("boto3", "botocore", "moto", "aws-lambda-powertools", "pydantic", "fastapi")
    }
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kb / 1024**2),
        "python": platform.python_version(),
        "load_average_at_start": os.getloadavg(),
        "versions": versions,
    }


class Worker:
    """A handler in its own spawned process (``bench.worker``)."""

    def __init__(self, kind: str, env: dict[str, str]) -> None:
        context = get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=serve, args=(child, kind, env), daemon=True, name=kind)
        self.process.start()

    def load(self, env: dict[str, str]) -> None:
        self.conn.send(("load", env))
        self.conn.recv()

    def run(self, batch: list[dict[str, Any]]) -> dict[str, Any]:
        self.conn.send(("run", batch))
        result: dict[str, Any] = self.conn.recv()
        return result

    def close(self) -> None:
        self.conn.send(None)
        self.process.join(timeout=30)


class Bench:
    """One run: one emulator, fresh resources from template.yaml for every measurement that needs them."""

    def __init__(self, emulator: Emulator, quick: bool) -> None:
        self.emulator = emulator
        self.quick = quick
        self.rounds = 2 if quick else 5
        self.base = {
            **LOCAL_CREDENTIALS,
            "AWS_ENDPOINT_URL": emulator.url,
            "POWERTOOLS_TRACE_DISABLED": "true",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(MEMORY_MB),
        }
        import boto3

        self.session = boto3.session.Session(region_name="us-east-1")

    def stack(self, label: str) -> Stack:
        endpoint, session = self.emulator.url, self.session

        class _Session:
            region_name = "us-east-1"

            def client(self, service: str) -> Any:
                return session.client(service, endpoint_url=endpoint)  # type: ignore[call-overload]

        return provision(_Session(), f"bench-{label}-{uuid.uuid4().hex[:6]}")

    def reference_table(self, stack: Stack) -> str:
        """The reference's own table, as the Powertools documentation creates it (``id`` as the key, TTL on
        ``expiration``): Plutus keeps its idempotency records on the events' items and has no such table."""
        name = f"{stack.name}-reference-idempotency"
        client = self.session.client("dynamodb", endpoint_url=self.emulator.url)
        try:
            client.create_table(
                TableName=name,
                AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                BillingMode="PAY_PER_REQUEST",
            )
        except client.exceptions.ResourceInUseException:
            pass
        return name

    def ingest_env(self, stack: Stack) -> dict[str, str]:
        return {
            **self.base,
            **stack.function_environment("IngestFunction"),
            "AWS_LAMBDA_FUNCTION_NAME": "IngestFunction",
        }

    def consumer_env(self, stack: Stack) -> dict[str, str]:
        return {
            **self.base,
            **stack.function_environment("ConsumerFunction"),
            "AWS_LAMBDA_FUNCTION_NAME": "ConsumerFunction",
        }

    def reference_env(self, stack: Stack) -> dict[str, str]:
        return {
            **self.base,
            "IDEMPOTENCY_TABLE": self.reference_table(stack),
            "QUEUE_URL": stack.refs["EventsQueue"],
            "AWS_LAMBDA_FUNCTION_NAME": "ReferenceFunction",
        }

    # --- ingest ----------------------------------------------------------------------------------------

    def ingest(self) -> dict[str, Any]:
        per_round = 10 if self.quick else 40
        batches = 1 if self.quick else 2
        single = {
            "ours": Worker("ours", self.ingest_env(self.stack("ours"))),
            "reference": Worker("reference", self.reference_env(self.stack("ref"))),
        }
        batch_worker = Worker("ours", self.ingest_env(self.stack("warm")))
        samples: dict[tuple[str, str], list[dict[str, Any]]] = {}
        try:
            seen: dict[str, list[str]] = {}
            for kind, worker in single.items():
                worker.run([events.single(f"warm-{uuid.uuid4()}") for _ in range(5)])
                seen[kind] = [f"dup-{kind}-{i}-{uuid.uuid4().hex[:8]}" for i in range(per_round)]
                worker.run([events.single(k, i) for i, k in enumerate(seen[kind])])
            for _ in range(self.rounds):
                fresh = {kind: [f"new-{uuid.uuid4()}" for _ in range(per_round)] for kind in single}
                new = self._alternate(single, _singles(fresh))
                dup = self._alternate(single, _singles(seen))
                for kind in single:
                    self._expect(new[kind], 202, f"{kind} single new")
                    self._expect(dup[kind], 200 if kind == "ours" else 202, f"{kind} single duplicate")
                    samples.setdefault(("single_new", kind), []).append(new[kind])
                    samples.setdefault(("single_dup", kind), []).append(dup[kind])
                samples.setdefault(("batch_new", "ours"), []).append(
                    self._batch_round(batch_worker, batches, 0)
                )
                samples.setdefault(("batch_dup10", "ours"), []).append(
                    self._batch_round(batch_worker, batches, 10)
                )
        finally:
            for worker in (*single.values(), batch_worker):
                worker.close()
        out: dict[str, Any] = {}
        for (scenario, kind), rounds in samples.items():
            per_invocation = 100 if scenario.startswith("batch") else 1
            out.setdefault(scenario, {})[kind] = self._summary(rounds, per_invocation)
        for scenario in ("single_new", "single_dup"):
            # Rounds are interleaved, so each round's ratio compares the two under the same machine load.
            pairs = zip(
                out[scenario]["ours"]["cpu_ms_per_event_rounds"],
                out[scenario]["reference"]["cpu_ms_per_event_rounds"],
                strict=True,
            )
            out[scenario]["cpu_ratio_rounds"] = [round(a / b, 3) for a, b in pairs]
        return with_reference_batches(out)

    @staticmethod
    def _alternate(
        workers: dict[str, Worker], requests: Callable[[str], list[dict[str, Any]]], slice_size: int = 10
    ) -> dict[str, dict[str, Any]]:
        """Send each worker its requests in slices, the workers taking turns: load from the rest of the
        machine then falls on both alike, which a round per worker could not promise."""
        plans = {kind: requests(kind) for kind in workers}
        parts: dict[str, list[dict[str, Any]]] = {kind: [] for kind in workers}
        for start in range(0, max(len(p) for p in plans.values()), slice_size):
            for kind, worker in workers.items():
                if plans[kind][start : start + slice_size]:
                    parts[kind].append(worker.run(plans[kind][start : start + slice_size]))
        return {kind: _merge(measured) for kind, measured in parts.items()}

    def _batch_round(self, worker: Worker, batches: int, duplicates: int) -> dict[str, Any]:
        # Fresh tables each round: the emulator's transactions copy every table they touch, per item.
        worker.load(self.ingest_env(self.stack("batch")))
        worker.run([events.batch([f"warm-{uuid.uuid4()}" for _ in range(5)])])
        seen = [f"seen-{uuid.uuid4()}" for _ in range(duplicates * batches)]
        if seen:
            worker.run([events.batch(seen)])
        requests = [
            events.batch(
                seen[b * duplicates : (b + 1) * duplicates]
                + [f"new-{uuid.uuid4()}" for _ in range(100 - duplicates)]
            )
            for b in range(batches)
        ]
        m = worker.run(requests)
        expected = Counter({200: duplicates * batches, 202: (100 - duplicates) * batches})
        got = Counter(r["status"] for resp in m["responses"] for r in json.loads(resp["body"])["results"])
        if got != expected:
            raise RuntimeError(f"batch round answered {dict(got)}, expected {dict(expected)}")
        return m

    @staticmethod
    def _expect(m: dict[str, Any], status: int, what: str) -> None:
        got = Counter(r["statusCode"] for r in m["responses"])
        if set(got) != {status}:
            raise RuntimeError(f"{what}: answered {dict(got)}, expected only {status}")

    @staticmethod
    def _summary(rounds: list[dict[str, Any]], events_per_invocation: int) -> dict[str, Any]:
        invocations = sum(len(m["walls_s"]) for m in rounds)
        n = invocations * events_per_invocation
        calls = sum(m["calls"] for m in rounds)
        by_op: Counter[str] = Counter()
        units: Counter[str] = Counter()
        for m in rounds:
            by_op.update(m["by_operation"])
            units.update(m["units"])
        cpu = [m["cpu_s"] * 1000 / (len(m["walls_s"]) * events_per_invocation) for m in rounds]
        walls = [w * 1000 for m in rounds for w in m["walls_s"]]
        return {
            "events": n,
            "invocations": invocations,
            "calls_per_event": calls / n,
            "calls_by_operation_per_event": {k: v / n for k, v in sorted(by_op.items())},
            "cpu_ms_per_event": statistics.median(cpu),
            "cpu_ms_per_event_rounds": [round(c, 3) for c in cpu],
            "wall_ms_per_invocation": statistics.mean(walls),
            "units": dict(units),
            "log_bytes": sum(m["log_bytes"] for m in rounds),
            "request_bytes_per_invocation": statistics.mean(b for m in rounds for b in m["request_bytes"]),
        }

    # --- consumer --------------------------------------------------------------------------------------

    def consumer(self) -> dict[str, Any]:
        invocations = 3 if self.quick else 10
        workers = {
            kind: Worker(kind, self.consumer_env(self.stack("warm")))
            for kind in ("consumer", "consumer-typed")
        }
        samples: dict[str, list[dict[str, Any]]] = {kind: [] for kind in workers}
        try:
            for _ in range(self.rounds):
                for kind, worker in workers.items():
                    stack = self.stack("consumer")
                    worker.load(self.consumer_env(stack))
                    arn, typed = stack.arns["EventsQueue"], kind == "consumer-typed"
                    worker.run([events.sqs_batch(arn, 10, typed)])
                    m = worker.run([events.sqs_batch(arn, 10, typed) for _ in range(invocations)])
                    if any(r.get("batchItemFailures") for r in m["responses"]):
                        raise RuntimeError(f"{kind}: records failed: {m['responses']}")
                    samples[kind].append(m)
        finally:
            for worker in workers.values():
                worker.close()
        names = {"consumer": "default_handler", "consumer-typed": "one_exactly_once_effect"}
        return {names[kind]: self._summary(rounds, 10) for kind, rounds in samples.items()}

    # --- cold start ------------------------------------------------------------------------------------

    def cold_start(self) -> dict[str, Any]:
        stack = self.stack("cold")
        cold = coldstart.ColdStarts(
            base_env=self.base,
            ingest_env=self.ingest_env(stack),
            consumer_env=self.consumer_env(stack),
            reference_env=self.reference_env(stack),
            queue_arn=stack.arns["EventsQueue"],
        )
        try:
            return coldstart.measure(cold, 3 if self.quick else 10)
        finally:
            cold.close()

    # --- write units (the capacity meter) ----------------------------------------------------------------

    def units(self) -> dict[str, Any]:
        return units.run(self.emulator.url, 20 if self.quick else 100)

    # --- end to end ------------------------------------------------------------------------------------

    def end_to_end(self) -> dict[str, Any]:
        url = self.emulator.url
        single_n, batch_n = (40, 200) if self.quick else (250, 500)
        return {
            "single": {
                "pipeline": e2e.pipeline(url, "single", single_n),
                "floor": e2e.floor(url, "single", single_n),
                "floor_with_plutus_calls": e2e.floor(url, "single", single_n, calls="plutus"),
            },
            "batch": {
                "pipeline": e2e.pipeline(url, "batch", batch_n),
                "floor": e2e.floor(url, "batch", batch_n),
                "floor_with_plutus_calls": e2e.floor(url, "batch", batch_n, calls="plutus"),
            },
        }


def _singles(keys: dict[str, list[str]]) -> Callable[[str], list[dict[str, Any]]]:
    return lambda kind: [events.single(k, i) for i, k in enumerate(keys[kind])]


def _merge(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One measurement out of several slices of the same worker's requests."""
    by_op: Counter[str] = Counter()
    units: Counter[str] = Counter()
    for part in parts:
        by_op.update(part["by_operation"])
        units.update(part["units"])
    return {
        "cpu_s": sum(p["cpu_s"] for p in parts),
        "walls_s": [w for p in parts for w in p["walls_s"]],
        "responses": [r for p in parts for r in p["responses"]],
        "log_bytes": sum(p["log_bytes"] for p in parts),
        "request_bytes": [b for p in parts for b in p["request_bytes"]],
        "calls": sum(p["calls"] for p in parts),
        "by_operation": dict(by_op),
        "units": dict(units),
        "bytes": sum(p["bytes"] for p in parts),
    }


def with_reference_batches(ingest: dict[str, Any]) -> dict[str, Any]:
    """The reference has no batch API: a producer with a backlog sends it one request per event, so its batch
    figures are its single ones, mixed as the batch is (10% duplicates: 0.9 x new + 0.1 x duplicate)."""
    new, dup = ingest["single_new"]["reference"], ingest["single_dup"]["reference"]
    for scenario, share in (("batch_new", 0.0), ("batch_dup10", 0.1)):
        ingest[scenario]["reference"] = {
            key: (1 - share) * new[key] + share * dup[key] for key in ("calls_per_event", "cpu_ms_per_event")
        } | {"derived": f"{1 - share:g} x single new + {share:g} x single duplicate, one request per event"}
    return ingest


def costs(ingest: dict[str, Any], consumer: dict[str, Any], metered: dict[str, Any]) -> dict[str, Any]:
    """Dollars per million events: ingest alone, and with the default consumer (the whole pipeline).

    Plutus' DynamoDB units are the capacity meter's (``metered``, bench/units.py: item sizes, transactions
    and index writes as DynamoDB bills them); the reference's are the worker's estimate from its requests.
    """
    # The event source mapping's own SQS requests: one ReceiveMessage and one DeleteMessageBatch per 10.
    consume = cost.from_measurement(
        consumer["default_handler"],
        events_per_invocation=10,
        api=False,
        memory_mb=MEMORY_MB,
        extra_sqs_requests=0.2,
        units={"wru": metered["single"]["consumer_wcu"], "rru": 0.0},
    )
    out: dict[str, Any] = {"prices_usd": cost.PRICES, "consumer_default_handler": consume}
    for label, m, per, units_ in (
        ("ours_single", ingest["single_new"]["ours"], 1, metered["single"]),
        ("ours_batch_of_100", ingest["batch_new"]["ours"], 100, metered["batch_of_100"]),
        ("reference_single", ingest["single_new"]["reference"], 1, None),
    ):
        ingest_units = None if units_ is None else {"wru": units_["ingest_wcu"], "rru": units_["rcu"]}
        ingest_cost = cost.from_measurement(
            m, events_per_invocation=per, api=True, memory_mb=MEMORY_MB, units=ingest_units
        )
        out[label] = {
            "ingest": ingest_cost,
            "ingest_and_consumer_total": round(ingest_cost["total"] + consume["total"], 4),
        }
    return out


def reference_usd_with_consumer(r: dict[str, Any]) -> float:
    """The reference's $ per million events with the same consumer (the issue's 8.87 on its run)."""
    return float(r["cost"]["reference_single"]["ingest_and_consumer_total"])


def targets(r: dict[str, Any]) -> list[dict[str, Any]]:
    """Every figure next to its target."""
    ing, con, cold, e2e_ = r["ingest"], r["consumer"], r["cold_start"], r["end_to_end"]

    def cpu_ratio(scenario: str) -> float:
        return float(
            ing[scenario]["ours"]["cpu_ms_per_event"] / ing[scenario]["reference"]["cpu_ms_per_event"]
        )

    rows = [
        (
            "calls per event, single new",
            ing["single_new"]["ours"]["calls_per_event"],
            "<= 3",
            lambda v: v <= 3,
        ),
        ("calls per event, single duplicate", ing["single_dup"]["ours"]["calls_per_event"], "(report)", None),
        (
            "calls per event, batch of 100 new",
            ing["batch_new"]["ours"]["calls_per_event"],
            "<= 0.15",
            lambda v: v <= 0.15,
        ),
        (
            "calls per event, batch with 10% duplicates",
            ing["batch_dup10"]["ours"]["calls_per_event"],
            "<= 0.15",
            lambda v: v <= 0.15,
        ),
        ("CPU per event, single new, x reference", cpu_ratio("single_new"), "<= 1.0", lambda v: v <= 1.0),
        (
            "  same, median of the 5 paired rounds",
            statistics.median(ing["single_new"]["cpu_ratio_rounds"]),
            "(report)",
            None,
        ),
        ("CPU per event, single duplicate, x reference", cpu_ratio("single_dup"), "(report)", None),
        (
            "CPU per event, batch of 100 new, x reference",
            cpu_ratio("batch_new"),
            "<= 0.25",
            lambda v: v <= 0.25,
        ),
        (
            "CPU per event, batch 10% dup, x reference",
            cpu_ratio("batch_dup10"),
            "<= 0.25",
            lambda v: v <= 0.25,
        ),
        (
            "cold start to first answer, ingest, x reference",
            cold["ingest"]["total_ms"] / cold["reference"]["total_ms"],
            "<= 1.0",
            lambda v: v <= 1.0,
        ),
        (
            "  same, median of the paired runs",
            statistics.median(cold["ingest"]["vs_reference_total_ms_rounds"]),
            "(report)",
            None,
        ),
        (
            "  same in process CPU, median of the paired runs",
            statistics.median(cold["ingest"]["vs_reference_cpu_ms_rounds"]),
            "(report)",
            None,
        ),
        ("cold start ingest, x import boto3", cold["ingest"]["vs_import_boto3"], "(report)", None),
        (
            "cold start ingest with X-Ray on, x import boto3",
            cold["ingest, X-Ray tracing on"]["vs_import_boto3"],
            "(report)",
            None,
        ),
        ("cold start consumer, x import boto3", cold["consumer"]["vs_import_boto3"], "(report)", None),
        ("cold start reference, x import boto3", cold["reference"]["vs_import_boto3"], "(report)", None),
        (
            "consumer calls per event, default handler",
            con["default_handler"]["calls_per_event"],
            "<= 0.2",
            lambda v: v <= 0.2,
        ),
        (
            "DynamoDB write units per event, ingest + consumer, default handler, indexes included",
            r["units"]["single"]["wcu"],
            "<= 4",
            lambda v: v <= 4,
        ),
        (
            "  same, batch ingest of 100",
            r["units"]["batch_of_100"]["wcu"],
            "(report)",
            None,
        ),
        (
            "consumer calls per event, one exactly-once effect",
            con["one_exactly_once_effect"]["calls_per_event"],
            "(report)",
            None,
        ),
        (
            "e2e throughput single / floor making Plutus' calls",
            e2e_["single"]["pipeline"]["events_per_s"]
            / e2e_["single"]["floor_with_plutus_calls"]["events_per_s"],
            ">= 0.9",
            lambda v: v >= 0.9,
        ),
        (
            "e2e throughput batch / floor making Plutus' calls",
            e2e_["batch"]["pipeline"]["events_per_s"]
            / e2e_["batch"]["floor_with_plutus_calls"]["events_per_s"],
            ">= 0.9",
            lambda v: v >= 0.9,
        ),
        (
            "e2e throughput single / floor",
            e2e_["single"]["pipeline"]["events_per_s"] / e2e_["single"]["floor"]["events_per_s"],
            "(report)",
            None,
        ),
        (
            "e2e throughput batch / floor",
            e2e_["batch"]["pipeline"]["events_per_s"] / e2e_["batch"]["floor"]["events_per_s"],
            "(report)",
            None,
        ),
        (
            "$ per million events with the consumer, single, x reference",
            r["cost"]["ours_single"]["ingest_and_consumer_total"] / reference_usd_with_consumer(r),
            "<= 1.0",
            lambda v: v <= 1.0,
        ),
        (
            "$ per million events with the consumer, batch, x reference",
            r["cost"]["ours_batch_of_100"]["ingest_and_consumer_total"] / reference_usd_with_consumer(r),
            "<= 0.6",
            lambda v: v <= 0.6,
        ),
    ]
    return [
        {
            "figure": name,
            "value": round(value, 3),
            "target": target,
            "met": None if check is None else check(value),
        }
        for name, value, target, check in rows
    ]


def render(r: dict[str, Any]) -> str:
    """The printed table."""
    m, ing, cold, e2e_, c = r["machine"], r["ingest"], r["cold_start"], r["end_to_end"], r["cost"]
    lines = [
        f"make bench on {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Python {m['python']}",
        "",
        f"{'ingest (per event)':44} {'calls':>7} {'CPU ms':>8} {'ref calls':>10} {'ref CPU ms':>11}",
    ]
    for scenario, label in (
        ("single_new", "single, new"),
        ("single_dup", "single, duplicate"),
        ("batch_new", "batch of 100, new"),
        ("batch_dup10", "batch of 100, 10% duplicates"),
    ):
        ours, ref = ing[scenario]["ours"], ing[scenario]["reference"]
        lines.append(
            f"  {label:42} {ours['calls_per_event']:7.3f} {ours['cpu_ms_per_event']:8.3f} "
            f"{ref['calls_per_event']:10.3f} {ref['cpu_ms_per_event']:11.3f}"
        )
    lines += ["", f"{'consumer (per event)':44} {'calls':>7} {'CPU ms':>8}"]
    for name, con in r["consumer"].items():
        lines.append(f"  {name:42} {con['calls_per_event']:7.3f} {con['cpu_ms_per_event']:8.3f}")
    lines += ["", f"{'DynamoDB units per event (meter)':44} {'WCU':>7} {'ingest':>8} {'consumer':>9}"]
    for name, u in r["units"].items():
        lines.append(f"  {name:42} {u['wcu']:7.2f} {u['ingest_wcu']:8.2f} {u['consumer_wcu']:9.2f}")
    lines += ["", f"{'cold start (median of fresh processes)':44} {'ms':>7} {'x boto3':>8}"]
    for name, cs in cold.items():
        lines.append(f"  {name:42} {cs['total_ms']:7.0f} {cs['vs_import_boto3']:8.2f}")
    lines += ["", f"{'end to end':44} {'ev/s':>7} {'p50 ms':>8} {'p99 ms':>9}"]
    for mode, runs in e2e_.items():
        for name, run in runs.items():
            lines.append(
                f"  {mode + ', ' + name:42} {run['events_per_s']:7.1f} {run['lag_p50_ms']:8.0f} "
                f"{run['lag_p99_ms']:9.0f}"
            )
    lines += ["", f"{'USD per million events (ingest / with consumer)':44}"]
    for name in ("ours_single", "ours_batch_of_100", "reference_single"):
        lines.append(
            f"  {name:42} {c[name]['ingest']['total']:7.2f} {c[name]['ingest_and_consumer_total']:8.2f}"
        )
    lines += ["", f"{'figure':56} {'value':>9} {'target':>9}  met"]
    for t in r["targets"]:
        met = "" if t["met"] is None else ("yes" if t["met"] else "NO")
        lines.append(f"  {t['figure']:54} {t['value']:9.3f} {t['target']:>9}  {met}")
    return "\n".join(lines)


def main() -> None:
    """Run every phase and report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small counts, to try the bench itself")
    parser.add_argument("--only", default="", help="comma-separated phases to run (implies no report files)")
    args = parser.parse_args()
    only = {p for p in args.only.split(",") if p}
    if not (ROOT / ".aws-sam" / "build" / "IngestFunction").is_dir():
        raise SystemExit("run 'make build' first (the cold start is measured on the built functions)")
    started = time.time()
    for key, value in LOCAL_CREDENTIALS.items():
        os.environ.setdefault(key, value)  # the emulator's, never real ones
    emulator = start_emulator()
    results: dict[str, Any] = {"machine": machine()}
    try:
        bench = Bench(emulator, args.quick)
        phases = (
            ("ingest", bench.ingest),
            ("consumer", bench.consumer),
            ("cold_start", bench.cold_start),
            ("units", bench.units),
            ("end_to_end", bench.end_to_end),
        )
        for name, phase in phases:
            if only and name not in only:
                continue
            t = time.time()
            print(f"[bench] {name}...", flush=True)
            results[name] = phase()
            print(f"[bench] {name} done in {time.time() - t:.0f}s", flush=True)
    finally:
        emulator.stop()
    if only:
        print(json.dumps({k: v for k, v in results.items() if k != "machine"}, indent=1, default=str)[:20000])
        return
    results["cost"] = costs(results["ingest"], results["consumer"], results["units"])
    results["targets"] = targets(results)
    results["machine"]["load_average_at_end"] = os.getloadavg()
    results["run"] = {
        "quick": args.quick,
        "seconds": round(time.time() - started),
        "date": time.strftime("%Y-%m-%d"),
    }
    print(render(results))
    if args.quick:
        return
    (OUT / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    plot.draw(results, OUT / "plot.png")
    print(f"\nwrote {OUT / 'results.json'} and {OUT / 'plot.png'}")


if __name__ == "__main__":
    main()
