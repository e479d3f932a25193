"""Cold starts of the built functions (``.aws-sam/build``, as ``sam build`` packages them) against a fresh
``import boto3``, each in a fresh process, interleaved and repeated."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench import events
from bench.worker import ROOT

BUILD = ROOT / ".aws-sam" / "build"
CHILD = Path(__file__).with_name("coldstart_child.py")
TRACE_HEADER = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"


def _strip_bytecode(source: Path, target: Path) -> None:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


class ColdStarts:
    """The variants to compare, each a (sys.path, environment, first event) recipe."""

    def __init__(
        self,
        base_env: dict[str, str],
        ingest_env: dict[str, str],
        consumer_env: dict[str, str],
        reference_env: dict[str, str],
        queue_arn: str,
    ) -> None:
        self.base_env = base_env
        self.ingest_env = ingest_env
        self.consumer_env = consumer_env
        self.reference_env = reference_env
        self.queue_arn = queue_arn
        self.tmp = Path(tempfile.mkdtemp(prefix="plutus-bench-"))
        _strip_bytecode(BUILD / "PlutusLayer", self.tmp / "PlutusLayer")
        _strip_bytecode(BUILD / "IngestFunction", self.tmp / "IngestFunction")

    def close(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)

    def spec(self, variant: str) -> tuple[dict[str, Any], dict[str, str]]:
        layer = str(BUILD / "PlutusLayer" / "python")
        ingest = {"kind": "app", "function": "IngestFunction", "event": events.single(f"cold-{uuid.uuid4()}")}
        if variant == "import boto3":
            return {"kind": "boto3", "path": [layer]}, self.base_env
        if variant == "ingest":
            return {**ingest, "path": [layer, str(BUILD / "IngestFunction")]}, self.ingest_env
        if variant == "ingest, X-Ray tracing on":
            env = {k: v for k, v in self.ingest_env.items() if k != "POWERTOOLS_TRACE_DISABLED"}
            env.update(
                LAMBDA_TASK_ROOT=str(BUILD / "IngestFunction"),
                _X_AMZN_TRACE_ID=TRACE_HEADER,
                AWS_XRAY_DAEMON_ADDRESS="127.0.0.1:2000",
                AWS_XRAY_CONTEXT_MISSING="IGNORE_ERROR",
            )
            return {**ingest, "path": [layer, str(BUILD / "IngestFunction")]}, env
        if variant == "ingest, no shipped .pyc":
            paths = [str(self.tmp / "PlutusLayer" / "python"), str(self.tmp / "IngestFunction")]
            return {**ingest, "path": paths}, self.ingest_env
        if variant == "consumer":
            return (
                {
                    "kind": "app",
                    "function": "ConsumerFunction",
                    "event": events.sqs_batch(self.queue_arn, 1, typed=False),
                    "path": [layer, str(BUILD / "ConsumerFunction")],
                },
                self.consumer_env,
            )
        if variant == "reference":
            return {**ingest, "path": [layer, str(ROOT / "bench" / "reference")]}, self.reference_env
        raise ValueError(variant)

    def once(self, variant: str) -> dict[str, Any]:
        spec, env = self.spec(variant)
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-S", "-B", str(CHILD), json.dumps(spec)],
            env={**env, "PYTHONDONTWRITEBYTECODE": "1", "PATH": os.environ.get("PATH", "")},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        wall = (time.perf_counter() - started) * 1000
        lines = [line for line in done.stderr.splitlines() if line.startswith("BENCH ")]
        if done.returncode != 0 or not lines:
            raise RuntimeError(f"cold start {variant!r} failed:\n{done.stderr[-3000:]}")
        result = json.loads(lines[-1][6:])
        result["process_ms"] = wall
        return dict(result)


VARIANTS = [
    "import boto3",
    "ingest",
    "consumer",
    "reference",
    "ingest, X-Ray tracing on",
    "ingest, no shipped .pyc",
]


def measure(cold: ColdStarts, repeats: int) -> dict[str, Any]:
    """Median of ``repeats`` fresh processes per variant, the variants interleaved."""
    samples: dict[str, list[dict[str, Any]]] = {v: [] for v in VARIANTS}
    for _ in range(repeats):
        for variant in VARIANTS:
            samples[variant].append(cold.once(variant))
    out: dict[str, Any] = {}
    for variant, runs in samples.items():
        out[variant] = {
            "total_ms": statistics.median(r["total_ms"] for r in runs),
            # The process's own CPU over the same span: robust to load from other processes.
            "cpu_ms": statistics.median(r["cpu_ms"] for r in runs),
            "import_ms": statistics.median(r["import_ms"] for r in runs),
            "process_ms": statistics.median(r["process_ms"] for r in runs),
            "statuses": sorted({str(r["status"]) for r in runs}),
            "samples_total_ms": [round(r["total_ms"], 1) for r in runs],
        }
    boto3 = out["import boto3"]["total_ms"]
    for result in out.values():
        result["vs_import_boto3"] = result["total_ms"] / boto3
    # Interleaved runs: each pair ran back to back, so its ratio compares the two under the same load.
    for unit in ("total_ms", "cpu_ms"):
        out["ingest"][f"vs_reference_{unit}_rounds"] = [
            round(a[unit] / b[unit], 3) for a, b in zip(samples["ingest"], samples["reference"], strict=True)
        ]
    return out
