"""Cost per million events on AWS, from the calls, payload sizes and durations measured in this run.

Public on-demand list prices, us-east-1, x86, without free tiers (checked November 2026):
API Gateway REST $3.50 per million requests (first 333 million a month); Lambda $0.20 per million requests
and $0.0000166667 per GB-second; SQS standard $0.40 per million requests, each 64 KB chunk of a payload
billed as one request; DynamoDB on-demand $0.625 per million write request units and $0.125 per million
read request units (a transactional write costs 2 units per KB, a strongly consistent read 1 unit per 4 KB);
CloudWatch Logs ingestion $0.50 per GB; DynamoDB standard storage $0.25 per GB-month. Since August 2025 the
INIT phase of zip functions is billed as duration. Not included: data transfer, X-Ray traces, the DLQ.

:func:`monthly` is the whole month at a given volume: every write unit (base table, GSI entries and
transactional items at 2 units per KB), every read unit, the items stored for their retention, INIT duration
and logs.
"""

from __future__ import annotations

import math
from typing import Any

from plutus_dev.prices import PRICES

# PRICES lives in plutus_dev.prices: the operator CLI's replay and redrive plans price with the same figures.
# The START/END/REPORT lines Lambda itself logs for every invocation.
LAMBDA_PLATFORM_LOG_BYTES = 300
MILLION = 1_000_000


def per_million(
    *,
    api_requests: float,
    invocations: float,
    billed_ms: float,
    memory_mb: int,
    wru: float,
    rru: float,
    sqs_requests: float,
    log_bytes: float,
) -> dict[str, float]:
    """Dollars per million events; every argument is per event (``billed_ms`` per invocation)."""
    gb_seconds = invocations * math.ceil(billed_ms) / 1000 * memory_mb / 1024
    lines = {
        "api_gateway": api_requests * PRICES["api_gateway_rest_per_million_requests"],
        "lambda_requests": invocations * PRICES["lambda_per_million_requests"],
        "lambda_duration": gb_seconds * MILLION * PRICES["lambda_per_gb_second"],
        "dynamodb": wru * PRICES["dynamodb_per_million_wru"] + rru * PRICES["dynamodb_per_million_rru"],
        "sqs": sqs_requests * PRICES["sqs_per_million_requests"],
        "logs": (log_bytes + invocations * LAMBDA_PLATFORM_LOG_BYTES)
        * MILLION
        / 1024**3
        * PRICES["cloudwatch_logs_per_gb"],
    }
    lines["total"] = sum(lines.values())
    return {k: round(v, 4) for k, v in lines.items()}


def from_measurement(
    m: dict[str, Any],
    *,
    events_per_invocation: int,
    api: bool,
    memory_mb: int,
    extra_sqs_requests: float = 0.0,
    units: dict[str, float] | None = None,
) -> dict[str, float]:
    """Cost per million events of one measured scenario (totals over all its rounds).

    ``units`` (per event: ``wru``, ``rru``) replaces the DynamoDB units estimated from the requests with the
    ones the capacity meter measured (bench/units.py: item sizes, transactions and index writes as billed).
    """
    n = m["events"]
    invocations = 1 / events_per_invocation
    measured = units or {"wru": m["units"].get("wru", 0) / n, "rru": m["units"].get("rru", 0) / n}
    return per_million(
        api_requests=invocations if api else 0.0,
        invocations=invocations,
        billed_ms=m["wall_ms_per_invocation"],
        memory_mb=memory_mb,
        wru=measured["wru"],
        rru=measured["rru"],
        sqs_requests=m["units"].get("sqs_requests", 0) / n + extra_sqs_requests,
        log_bytes=m["log_bytes"] / n,
    )


def monthly(events: float, per_event: dict[str, float]) -> dict[str, float]:
    """Dollars for a month of ``events`` events; ``per_event`` holds the per-event figures.

    Keys: ``api_requests``, ``invocations``, ``gb_seconds`` (run time), ``init_gb_seconds`` (INIT, billed),
    ``wru`` (table writes, transactions at 2 per KB), ``gsi_wru`` (index entries written), ``rru``,
    ``sqs_requests``, ``log_bytes``, ``stored_bytes`` (kept for the month: retention-weighted item bytes).
    """
    millions = events / MILLION
    lines = {
        "api_gateway": per_event["api_requests"] * millions * PRICES["api_gateway_rest_per_million_requests"],
        "lambda_requests": per_event["invocations"] * millions * PRICES["lambda_per_million_requests"],
        "lambda_duration": per_event["gb_seconds"] * events * PRICES["lambda_per_gb_second"],
        "lambda_init": per_event["init_gb_seconds"] * events * PRICES["lambda_per_gb_second"],
        "dynamodb_writes": per_event["wru"] * millions * PRICES["dynamodb_per_million_wru"],
        "dynamodb_gsi_writes": per_event["gsi_wru"] * millions * PRICES["dynamodb_per_million_wru"],
        "dynamodb_reads": per_event["rru"] * millions * PRICES["dynamodb_per_million_rru"],
        "dynamodb_storage": per_event["stored_bytes"]
        * events
        / 1024**3
        * PRICES["dynamodb_storage_per_gb_month"],
        "sqs": per_event["sqs_requests"] * millions * PRICES["sqs_per_million_requests"],
        "logs": (per_event["log_bytes"] + per_event["invocations"] * LAMBDA_PLATFORM_LOG_BYTES)
        * events
        / 1024**3
        * PRICES["cloudwatch_logs_per_gb"],
    }
    lines["total"] = sum(lines.values())
    return {k: round(v, 2) for k, v in lines.items()}
