"""The functions' cold starts stay lean: serving ingest (its POSTs, /health, a stray route) or consumer
traffic imports no web framework and, with tracing off, not the X-Ray SDK's core (whose import builds an
X-Ray client). Web framework imports are the reads function's alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("fastapi", "starlette", "mangum", "aws_xray_sdk.core")
PROBE = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("app", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
from plutus.domains import build_registry  # both functions build the registry to serve their first request
build_registry()
if sys.argv[2] == "ingest":
    # Every route the ingest function serves, and one it does not: none of them loads a web framework.
    from plutus_dev.emulator.apigw import build_event
    from plutus_dev.emulator.lambda_runtime import FakeContext
    for method, path in (("GET", "/health"), ("GET", "/api/v1/events/x"), ("POST", "/api/v1/ingest")):
        context = FakeContext("f", 512, "a", "r", 1e12)
        reply = module.handler(build_event(method, path, {}, b"", "127.0.0.1"), context)
        assert reply["statusCode"] in {200, 400, 404}, reply
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {"fastapi", "starlette", "mangum"}
                        or m.startswith("aws_xray_sdk.core"))))
"""


@pytest.mark.parametrize("function", ["ingest", "consumer"])
def test_an_entry_point_imports_no_web_framework_and_no_xray_core(function: str) -> None:
    env = {
        **os.environ,
        "PLUTUS_EVENTS_TABLE": "e",
        "PLUTUS_STATE_TABLE": "s",
        "PLUTUS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/q",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "Plutus",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(ROOT / "functions" / function / "app.py"), function],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [], f"{function} imports {HEAVY}"
