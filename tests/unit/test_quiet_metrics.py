"""A route that adds no metric flushes silently: no "No application metrics to publish" on every GET."""

from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = """
from plutus.observability import metrics

@metrics.log_metrics
def handler(event, context):
    return {"statusCode": 200}

handler({}, None)
handler({}, None)
print("flushed")
"""


def test_an_empty_flush_warns_nothing() -> None:
    env = {**os.environ, "POWERTOOLS_METRICS_NAMESPACE": "Plutus", "POWERTOOLS_SERVICE_NAME": "plutus"}

    # -W default: show every warning the code does not filter itself (pytest's own filters do not apply)
    done = subprocess.run(
        [sys.executable, "-W", "default", "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "flushed"
    assert "No application metrics" not in done.stderr
