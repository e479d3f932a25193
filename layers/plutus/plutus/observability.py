"""The one place that creates the Logger, Tracer and Metrics every function uses."""

from __future__ import annotations

import logging

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = "plutus"

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(service=SERVICE)

# At DEBUG, botocore logs every request's parameters (a SendMessage body is an event's payload) and urllib3
# its wire traffic. Lambda's log level setting lowers the root logger: these stay at WARNING whatever it says.
for _noisy in ("botocore", "boto3", "urllib3"):
    logging.getLogger(_noisy).setLevel(logging.WARNING)
