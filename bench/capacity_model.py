"""The capacity table (100, 1k, 10k, 50k events/s) and the monthly cost, from measured per-event figures.

Measured (``make capacity``): DynamoDB calls, write and read units per event of the mixed pack workload, the
handlers' CPU per event, the share of events sent in batches. Measured by ``make bench``
(``bench/results.json``): the default-handler pipeline's units, log bytes and INIT durations. Assumed, and
named here so they can be argued with: one AWS call in-region takes ``AWS_CALL_MS``; ``COLD_SHARE`` of
invocations start an execution environment; an event record is ``EVENT_ITEM_BYTES`` stored.

Duration of an invocation = its CPU + its AWS calls x ``AWS_CALL_MS`` (the emulator's latencies say nothing
about AWS's). Concurrency = invocations/s x duration (Little's law).
"""

from __future__ import annotations

import math
from typing import Any

from bench import cost

RATES = (100, 1_000, 10_000, 50_000)
SECONDS_PER_MONTH = 30.4 * 86_400
AWS_CALL_MS = 8.0
COLD_SHARE = 0.01
MEMORY_MB = 512
BATCH_SIZE = 10  # ConsumerBatchSize
BATCH_WINDOW_S = 1  # ConsumerBatchingWindowSeconds
EVENT_ITEM_BYTES = 450  # an event record with its attribute names (PROCESSED: no kept message)
IDEMPOTENCY_ITEM_BYTES = 400
# AWS defaults (us-east-1) a deployment meets first.
LAMBDA_CONCURRENCY_QUOTA = 1_000
LAMBDA_SCALING_PER_10S = 1_000  # new execution environments per function every 10 s
ESM_MAX_CONCURRENCY = 1_000  # ScalingConfig.MaximumConcurrency ceiling (template MaxValue)
API_ACCOUNT_RPS = 10_000
API_ACCOUNT_BURST = 5_000
SQS_INFLIGHT_LIMIT = 120_000
DDB_TABLE_ON_DEMAND_UNITS = 40_000  # per table, per second, reads and writes each


def capacity_rows(measured: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per rate: concurrency, mapping settings, throttles, quotas to raise, template parameters."""
    m = measured
    ingest_ms = m["ingest_cpu_ms_per_request"] + m["ingest_calls_per_request"] * AWS_CALL_MS
    consumer_ms_per_event = m["consumer_cpu_ms_per_event"] + m["consumer_calls_per_event"] * AWS_CALL_MS
    rows = []
    for rate in RATES:
        requests = rate * m["requests_per_event"]
        ingest = math.ceil(requests * ingest_ms / 1000)
        consumer = math.ceil(rate * consumer_ms_per_event / 1000)
        # MaximumConcurrency with 50 % headroom over the steady state, within the mapping's ceiling.
        max_concurrency = min(ESM_MAX_CONCURRENCY, max(2, math.ceil(consumer * 1.5)))
        in_flight = consumer * BATCH_SIZE + rate * BATCH_WINDOW_S
        tables = {t: round(units * rate) for t, units in m["wcu_per_event_by_table"].items()}
        raise_ = []
        if ingest + consumer > LAMBDA_CONCURRENCY_QUOTA * 0.8:
            raise_.append(f"Lambda concurrency to {_round_up((ingest + consumer) * 1.5):,}")
        if requests > API_ACCOUNT_RPS * 0.8:
            raise_.append(f"API Gateway account throttle to {_round_up(requests * 1.5):,} rps")
        for table, wcu in tables.items():
            if wcu > DDB_TABLE_ON_DEMAND_UNITS * 0.8:
                raise_.append(f"{table} on-demand write quota to {_round_up(wcu * 1.5):,}/s")
        if consumer > ESM_MAX_CONCURRENCY:
            raise_.append(
                f"consumer needs {consumer:,} concurrent, over one mapping's 1,000: split the queue, or "
                "process a batch's records in parallel"
            )
        if in_flight > SQS_INFLIGHT_LIMIT * 0.8:
            raise_.append("SQS in-flight messages (120,000)")
        rows.append(
            {
                "events_per_second": rate,
                "api_requests_per_second": round(requests),
                "ingest_concurrency": ingest,
                "consumer_concurrency": consumer,
                "event_source_mapping": {
                    "BatchSize": BATCH_SIZE,
                    "MaximumBatchingWindowInSeconds": BATCH_WINDOW_S,
                    "MaximumConcurrency": max_concurrency,
                },
                "sqs_in_flight": in_flight,
                "dynamodb_wcu_per_second_by_table": tables,
                "seconds_to_scale_from_zero": math.ceil(max(ingest, consumer) / LAMBDA_SCALING_PER_10S) * 10,
                "template_parameters": {
                    "ApiThrottlingRateLimit": _round_up(requests * 1.5),
                    "ApiThrottlingBurstLimit": _round_up(requests * 3),
                    "ConsumerMaxConcurrency": max_concurrency,
                    "ConsumerBatchSize": BATCH_SIZE,
                    "ConsumerBatchingWindowSeconds": BATCH_WINDOW_S,
                },
                "quotas_to_raise": raise_,
                "monthly_cost_usd": cost.monthly(rate * SECONDS_PER_MONTH, per_event_costs(m))["total"],
            }
        )
    return rows


def _round_up(value: float) -> int:
    """Up to two significant figures, so parameters read as settings rather than measurements."""
    if value <= 0:
        return 1
    step = 10 ** max(0, math.floor(math.log10(value)) - 1)
    return int(math.ceil(value / step) * step)


def per_event_costs(m: dict[str, Any]) -> dict[str, float]:
    """The per-event inputs of :func:`bench.cost.monthly` for the measured pack workload."""
    ingest_ms = m["ingest_cpu_ms_per_request"] + m["ingest_calls_per_request"] * AWS_CALL_MS
    consumer_ms = (m["consumer_cpu_ms_per_event"] + m["consumer_calls_per_event"] * AWS_CALL_MS) * BATCH_SIZE
    gb = MEMORY_MB / 1024
    requests = m["requests_per_event"]
    invocations = requests + 1 / BATCH_SIZE
    init_ms = m["init_ms"]
    return {
        "api_requests": requests,
        "invocations": invocations,
        "gb_seconds": (requests * ingest_ms + consumer_ms / BATCH_SIZE) / 1000 * gb,
        "init_gb_seconds": invocations * COLD_SHARE * init_ms / 1000 * gb,
        "wru": m["wcu_per_event"] - m["gsi_wcu_per_event"],
        "gsi_wru": m["gsi_wcu_per_event"],
        "rru": m["rcu_per_event"],
        # SendMessage (or 1/10 of a SendMessageBatch) and the mapping's receive + delete per batch of 10.
        "sqs_requests": m["sqs_requests_per_event"] + 2 / BATCH_SIZE,
        "log_bytes": m["log_bytes_per_event"],
        "stored_bytes": m["stored_bytes_per_event"],
    }


def default_pipeline(results: dict[str, Any], design: str) -> dict[str, float]:
    """Per-event inputs of the default-handler pipeline (one request per event), from ``make bench``.

    ``design``: ``ours`` (ops index, TTL), ``ours_before`` (by-status index projecting ALL, no TTL: 12
    months of records after a year) or ``reference`` (Powertools' canonical pattern: no events table).
    """
    ingest = results["ingest"]["single_new"]["ours" if design != "reference" else "reference"]
    consumer = results["consumer"]["default_handler"]
    cold = results["cold_start"]
    gb = MEMORY_MB / 1024
    ingest_ms = ingest["cpu_ms_per_event"] + ingest["calls_per_event"] * AWS_CALL_MS
    consumer_ms = consumer["cpu_ms_per_event"] + consumer["calls_per_event"] * AWS_CALL_MS
    # Ours: as the capacity meter measured them in make bench (bench/units.py); "before" (the design of the
    # earlier rounds) was 9: the idempotency put (1), the completion + RECEIVED transaction (2 items x 2),
    # the consumer's PROCESSED + receipt transaction (2 x 2). The reference: put and update of its record
    # (2), and the same consumer.
    metered = results.get("units", {}).get("single")
    consumer_wru = metered["consumer_wcu"] if metered else 4.0
    ours_wru = metered["wcu"] if metered else 9.0
    events_wru = {"ours": ours_wru, "ours_before": 9.0, "reference": 2.0 + consumer_wru}[design]
    # by-status: RECEIVED put on accept, moved (delete + put) to PROCESSED: 3 index writes of the item.
    gsi = 3.0 if design == "ours_before" else 0.0
    retention_months = {"ours": 30 / 30.4, "ours_before": 12.0, "reference": 0.0}[design]
    stored = EVENT_ITEM_BYTES * retention_months * (2 if design == "ours_before" else 1)
    if design != "ours":  # ours keeps each key's idempotency record on its event's item
        stored += IDEMPOTENCY_ITEM_BYTES / 30.4
    return {
        "api_requests": 1.0,
        "invocations": 1.0 + 1 / BATCH_SIZE,
        "gb_seconds": (ingest_ms + consumer_ms) / 1000 * gb,
        "init_gb_seconds": (1 + 1 / BATCH_SIZE)
        * COLD_SHARE
        * (cold["ingest" if design != "reference" else "reference"]["total_ms"])
        / 1000
        * gb,
        "wru": events_wru,
        "gsi_wru": gsi,
        "rru": 0.0,
        "sqs_requests": 1 + 2 / BATCH_SIZE,
        "log_bytes": (ingest["log_bytes"] / ingest["events"]) + consumer["log_bytes"] / consumer["events"],
        "stored_bytes": stored,
    }


def monthly_table(results: dict[str, Any], packs: dict[str, Any]) -> dict[str, Any]:
    """Monthly cost at 10M and 100M events: the default pipeline (ours now, ours before, the reference) and
    the pack workload ``make capacity`` measured."""
    out: dict[str, Any] = {}
    for volume in (10_000_000, 100_000_000):
        row = {design: cost.monthly(volume, default_pipeline(results, design)) for design in _DESIGNS}
        row["ours_pack_workload"] = cost.monthly(volume, per_event_costs(packs))
        out[f"{volume // 1_000_000}M"] = row
    return out


_DESIGNS = ("ours", "ours_before", "reference")
