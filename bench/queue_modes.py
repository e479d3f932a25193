"""What ordering costs in throughput: the embedded stack drained on a standard queue and on a FIFO one.

For each queue mode (template parameter QueueMode) it starts the embedded stack (moto, the real ingest and
consumer functions, two SQS pollers as the event source mapping), ingests ``--events`` ``feature_used``
events through ``POST /api/v1/ingest/batch`` spread over ``--keys`` accounts (the type's ordering key), and
prints how long the queue took to drain and the events per second: standard, FIFO with many keys, FIFO with
one key (every event in one message group, so one batch at a time).

The figures are the embedded stack's, on this machine: they show the shape (one group is processed one batch
at a time; many groups in parallel), not AWS's numbers (docs: Ordering per key). Run with
``python -m bench.queue_modes`` (``--events 400 --keys 40``).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BATCH = 50


def _events(count: int, keys: int, run: str) -> list[dict[str, Any]]:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return [
        {
            "source": "feature_service",
            "schema_version": "1.0",
            "event_type": "feature_used",
            "idempotency_key": f"{run}-{n}",
            "payload": {
                "account_id": f"acct_{n % keys}",
                "user_id": f"usr_{n}",
                "feature": "ai_summary",
                "units": 1,
                "occurred_at": now,
            },
        }
        for n in range(count)
    ]


def _post(url: str, events: list[dict[str, Any]]) -> None:
    request = urllib.request.Request(
        url + "/api/v1/ingest/batch",
        data=json.dumps({"events": events}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        results = json.loads(response.read())["results"]
    refused = [r for r in results if r["status"] != 202]
    if refused:
        raise SystemExit(f"ingest refused {len(refused)} events: {refused[0]}")


def _queued(stack: Any) -> int:
    sqs = stack.client("sqs")
    attrs = sqs.get_queue_attributes(
        QueueUrl=stack.stack.refs["EventsQueue"],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


def measure(mode: str, count: int, keys: int, log_dir: Path) -> tuple[float, float]:
    """(seconds to ingest, seconds from the first POST until the queue is empty) for one stack."""
    from plutus_dev.emulator.stack import LocalStack, StackConfig

    config = StackConfig(
        port=0,
        profile="template",
        parameters={"QueueMode": mode},
        stack_name=f"bench-{mode}-{keys}",
        log_dir=log_dir / f"{mode}-{keys}",
    )
    with LocalStack(config) as stack:
        events = _events(count, keys, f"{mode}-{keys}-{time.time_ns()}")
        started = time.perf_counter()
        for i in range(0, count, BATCH):
            _post(stack.url, events[i : i + BATCH])
        ingested = time.perf_counter() - started
        while _queued(stack):
            time.sleep(0.05)
        return ingested, time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    """Print the drain time and rate of each queue mode."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=400)
    parser.add_argument("--keys", type=int, default=40)
    args = parser.parse_args(argv)
    runs = [("standard", args.keys), ("fifo", args.keys), ("fifo", 1)]
    print(f"{args.events} feature_used events, batch ingest by {BATCH}, 2 pollers, embedded stack (moto)")
    print(f"{'queue':<10}{'keys':>6}{'ingest s':>10}{'drained s':>11}{'events/s':>10}")
    with tempfile.TemporaryDirectory() as logs:
        for mode, keys in runs:
            ingested, drained = measure(mode, args.events, keys, Path(logs))
            rate = args.events / drained
            print(f"{mode:<10}{keys:>6}{ingested:>10.1f}{drained:>11.1f}{rate:>10.0f}", flush=True)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
