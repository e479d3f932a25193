"""Benchmark: latency of the adtech decision read, against its 100 ms budget.

Starts a moto server in its own process, provisions a stack from template.yaml, seeds a campaign through the
REAL ingest handler and consumer (a week of impressions, clicks and viewability verdicts, so the read's one
query returns every day shard of the lookback), then times GET /api/v1/adtech/campaigns/{id}/decision
through the real reads handler (API Gateway event -> Mangum -> FastAPI -> DynamoDB query over HTTP -> JSON)
and prints p50/p95/p99. Run with ``make bench-reads`` (or ``python -m bench.decision_read --reads 500``).

Handlers log and flush metrics as deployed; that output goes to /dev/null so only the figures are printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

CAMPAIGN = "cmp_bench"
BUDGET_MS = 100.0


def _body(key: str, event_type: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "source": "ad_server",
        "schema_version": "1.0",
        "idempotency_key": key,
        "event_type": event_type,
        "payload": payload,
    }


def _seed_events(impressions: int, now: datetime) -> list[dict[str, Any]]:
    """A week of delivery: impressions spread over 7 days, 1 in 10 clicked, half measured for viewability."""
    events = []
    for n in range(impressions):
        at = now - timedelta(hours=(n * 168 / impressions))
        stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
        events.append(
            _body(
                f"imp-{n}",
                "ad_impression",
                {
                    "impression_id": f"imp_b{n}",
                    "campaign_id": CAMPAIGN,
                    "advertiser_id": "adv_bench",
                    "creative_id": "cr_1",
                    "placement_id": "pl_1",
                    "user_id": f"u_{n % 97}",
                    "cost_micros": 1_500,
                    "daily_budget_micros": 50_000_000,
                    "occurred_at": stamp,
                },
            )
        )
        if n % 10 == 0:
            events.append(
                _body(
                    f"clk-{n}",
                    "click",
                    {
                        "click_id": f"clk_b{n}",
                        "impression_id": f"imp_b{n}",
                        "campaign_id": CAMPAIGN,
                        "advertiser_id": "adv_bench",
                        "user_id": f"u_{n % 97}",
                        "cost_micros": 0,
                        "occurred_at": stamp,
                    },
                )
            )
        if n % 2 == 0:
            events.append(
                _body(
                    f"view-{n}",
                    "viewability_measured",
                    {
                        "impression_id": f"imp_b{n}",
                        "campaign_id": CAMPAIGN,
                        "measurable": True,
                        "viewable": n % 3 != 0,
                        "in_view_ms": 1_200,
                        "occurred_at": stamp,
                    },
                )
            )
    return events


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _figures(samples: list[float]) -> str:
    p50, p95, p99 = (_percentile(samples, q) for q in (0.50, 0.95, 0.99))
    return (
        f"p50 {p50:6.2f} ms   p95 {p95:6.2f} ms   p99 {p99:6.2f} ms   "
        f"mean {statistics.fmean(samples):6.2f} ms   max {max(samples):6.2f} ms"
    )


def _bare_query(h: Any) -> Callable[[], None]:
    """The read's Query with a bare boto3 client: the emulator's share of each read."""
    from plutus.domains.adtech.handlers import campaign_pk

    ddb = h.client("dynamodb")
    table = h.stack.refs["StateTable"]

    def query() -> None:
        ddb.query(
            TableName=table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :p)",
            ExpressionAttributeValues={":pk": {"S": campaign_pk(CAMPAIGN)}, ":p": {"S": "DAY#"}},
            ScanIndexForward=False,
            Limit=28,
            ConsistentRead=True,
        )

    return query


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def run(reads: int, impressions: int, out: TextIO) -> None:
    """Seed, warm up, time ``reads`` decision reads (and the bare query) and print the figures to ``out``."""
    from plutus_dev.emulator.resources import start_emulator
    from tests.integration.harness import harness

    emulator = start_emulator()
    try:
        with harness(emulator.url) as h:
            events = _seed_events(impressions, datetime.now(UTC))
            for event in events:
                status = h.post_event(event).status
                if status != 202:
                    raise RuntimeError(f"seeding failed: HTTP {status}")
            h.drain(max_batches=len(events))
            url = f"/api/v1/adtech/campaigns/{CAMPAIGN}/decision"
            first = h.request("GET", url)
            if first.status != 200:
                raise RuntimeError(f"decision read failed: HTTP {first.status}")
            decision = first.json()
            for _ in range(20):
                h.request("GET", url)
            # Interleaved, so both series see the same load on the machine.
            bare = _bare_query(h)
            samples, baseline = [], []
            for _ in range(reads):
                samples.append(_timed(lambda: h.request("GET", url)))
                baseline.append(_timed(bare))
    finally:
        emulator.stop()

    print("adtech decision read: GET /api/v1/adtech/campaigns/{id}/decision", file=out)
    print(
        "  path: API Gateway event -> real reads handler (Mangum, FastAPI) -> one DynamoDB Query -> moto "
        "server (separate process, HTTP on loopback)",
        file=out,
    )
    print(
        f"  seeded: {len(events)} events through ingest + consumer ({impressions} impressions over 7 days); "
        f"decision saw {decision['impressions']} impressions, {decision['clicks']} clicks, "
        f"bid_factor {decision['bid_factor']}",
        file=out,
    )
    print(f"  reads: {reads} timed after 20 warm-up reads", file=out)
    print(f"  decision read  {_figures(samples)}", file=out)
    print(f"  bare Query     {_figures(baseline)}", file=out)
    print(f"  difference     {_figures([a - b for a, b in zip(samples, baseline, strict=True)])}", file=out)
    print("  bare Query: the same Query through a plain boto3 client (the emulator's share);", file=out)
    print("  difference: what the handler adds on top of it, per interleaved pair", file=out)
    verdict = "within" if _percentile(samples, 0.99) <= BUDGET_MS else "OVER"
    print(f"  budget {BUDGET_MS:.0f} ms: decision read p99 {verdict} budget", file=out)


def main() -> None:
    """Parse arguments, send the handlers' stdout to /dev/null, run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--reads", type=int, default=500)
    parser.add_argument("--impressions", type=int, default=140)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    out = sys.stdout
    # Before plutus is imported: Powertools binds its log handler to the stdout of that moment.
    sys.stdout = open(os.devnull, "w")
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "plutus")
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Plutus")
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    from plutus_dev.emulator.resources import LOCAL_CREDENTIALS

    for key, value in LOCAL_CREDENTIALS.items():
        os.environ.setdefault(key, value)
    run(args.reads, args.impressions, out)


if __name__ == "__main__":
    main()
