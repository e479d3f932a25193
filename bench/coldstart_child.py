"""One cold start, run by ``bench.coldstart`` as ``python -S -B coldstart_child.py SPEC``.

``-S`` keeps the interpreter's site-packages off ``sys.path``: only the directories in SPEC are there, as a
Lambda runtime has the layer's ``python/`` and the function's code directory. The clock starts after the
interpreter is up and stops when the first request has been answered (or when ``import boto3`` is done);
the process's CPU time over the same span is reported beside it.
"""

import json
import sys
import time

T0 = time.perf_counter()
CPU0 = time.process_time()
SPEC = json.loads(sys.argv[1])
sys.path[:0] = SPEC["path"]


class Context:
    function_name = SPEC.get("function", "bench")
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    aws_request_id = "00000000-0000-4000-8000-000000000000"
    log_group_name = "/aws/lambda/bench"
    log_stream_name = "bench"
    function_version = "$LATEST"

    def get_remaining_time_in_millis(self):
        return 15_000


if SPEC["kind"] == "boto3":
    import boto3  # noqa: F401

    imported = answered = time.perf_counter()
    status = None
else:
    import app

    imported = time.perf_counter()
    result = app.handler(SPEC["event"], Context())
    answered = time.perf_counter()
    status = result.get("statusCode", "ok" if "batchItemFailures" in result else None)
sys.stderr.write(
    "BENCH "
    + json.dumps(
        {
            "import_ms": (imported - T0) * 1000,
            "total_ms": (answered - T0) * 1000,
            # The process's CPU over the same span: what load from other processes cannot stretch.
            "cpu_ms": (time.process_time() - CPU0) * 1000,
            "status": status,
        }
    )
    + "\n"
)
