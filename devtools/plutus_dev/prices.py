"""AWS list prices the benchmark's cost model and the operator CLI's plans use: one source of truth.

Public on-demand list prices, us-east-1, x86, without free tiers (checked November 2026); see bench/cost.py
for what each covers and how a run is priced.
"""

from __future__ import annotations

PRICES = {
    "api_gateway_rest_per_million_requests": 3.50,
    "lambda_per_million_requests": 0.20,
    "lambda_per_gb_second": 0.0000166667,
    "sqs_per_million_requests": 0.40,
    "dynamodb_per_million_wru": 0.625,
    "dynamodb_per_million_rru": 0.125,
    "cloudwatch_logs_per_gb": 0.50,
    "dynamodb_storage_per_gb_month": 0.25,
}
