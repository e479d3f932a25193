"""Each API Gateway invocation binds its log context as Powertools' ``inject_lambda_context`` did (the Lambda
context's keys, ``cold_start``, the request id as ``correlation_id``, per-invocation sampling) and flushes
its metrics; the level is set only when the sampling draw changes it."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from plutus import observability
from plutus.observability import api_gateway_handler, logger, metrics
from plutus_dev.emulator.lambda_runtime import FakeContext
from tests.logcapture import captured_logs


@api_gateway_handler("test")
def _handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    metrics.add_metric(name="test_requests_total", unit="Count", value=1)
    logger.info("handled")
    return {"statusCode": 200}


def _event(request_id: str) -> dict[str, Any]:
    return {"requestContext": {"requestId": request_id}, "body": '{"secret": "payload"}'}


def _context(request_id: str) -> FakeContext:
    return FakeContext("IngestFunction", 512, "arn:aws:lambda:us-east-1:1:function:f", request_id, 1e12)


@pytest.fixture(autouse=True)
def _fresh_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(observability, "_cold_start", True)
    monkeypatch.setattr(logger, "sampling_rate", "0")


def test_the_log_line_carries_the_invocation_and_never_the_event() -> None:
    with captured_logs() as lines:
        _handler(_event("apigw-1"), _context("lambda-1"))
        _handler(_event("apigw-2"), _context("lambda-2"))

    first, second = (json.loads(line) for line in lines if '"handled"' in line)
    assert (first["correlation_id"], first["function_request_id"], first["cold_start"]) == (
        "apigw-1",
        "lambda-1",
        True,
    )
    assert (second["correlation_id"], second["function_request_id"], second["cold_start"]) == (
        "apigw-2",
        "lambda-2",
        False,
    )
    assert first["function_name"] == "IngestFunction" and first["function_memory_size"] == 512
    assert not any("secret" in line for line in lines)


def test_an_event_without_a_request_context_has_no_correlation_id() -> None:
    with captured_logs() as lines:
        _handler({}, _context("lambda-1"))
    [line] = [json.loads(line) for line in lines if '"handled"' in line]
    assert line.get("correlation_id") is None


def test_metrics_are_flushed_every_invocation(capsys: pytest.CaptureFixture[str]) -> None:
    _handler(_event("a"), _context("l"))
    _handler(_event("b"), _context("l"))

    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    flushed = [(doc["environment"], doc["test_requests_total"]) for doc in emf]
    assert flushed == [("test", [1.0]), ("test", [1.0])]


def test_no_sampling_sets_no_level(monkeypatch: pytest.MonkeyPatch) -> None:
    levels: list[int | str | None] = []
    monkeypatch.setattr(logger, "setLevel", levels.append)
    for n in range(3):
        _handler(_event(str(n)), _context("l"))
    assert levels == []


def test_a_sampled_invocation_logs_at_debug_and_the_next_one_returns_to_the_level(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a sample rate of one half, and draws of 0.1 (sampled), 0.2 (sampled), then 0.9 (not)
    monkeypatch.setattr(logger, "sampling_rate", "0.5")
    draws = iter([0.1, 0.2, 0.9])
    monkeypatch.setattr(observability.random, "random", lambda: next(draws))
    seen: list[int] = []

    @api_gateway_handler("test")
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        seen.append(logger.log_level)
        return {"statusCode": 200}

    initial = logger.log_level
    handler(_event("cold"), _context("l"))  # the cold start keeps the level sampled at init
    for n in range(3):
        handler(_event(str(n)), _context("l"))
    assert seen == [initial, logging.DEBUG, logging.DEBUG, initial]
