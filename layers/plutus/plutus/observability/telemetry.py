"""Metric names, and the consumer's metrics broken down by a bounded event type (CloudWatch EMF).

Every metric has the dimensions ``service`` and ``environment``. Only two dimensions are ever added: the
rejection ``reason`` class (a fixed set) and ``event_type``, which is a registered type or one of three fixed
labels. A source or an id is never a dimension: each distinct value would be another billed metric. The one
exception is ``webhook_secret_invalid_total``'s ``source``: only a source whose secret the operator stored
can have one, so its values are bounded by the secret store, not by requests.
"""

from __future__ import annotations

import json

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

from plutus.core.registry import Registry
from plutus.observability import SERVICE, metrics

# Ingest (one EMF document per request, through the shared ``metrics``).
INGEST_REQUESTS = "ingest_requests_total"
RAW_EVENTS_CREATED = "raw_events_created_total"
RAW_EVENTS_DUPLICATE = "raw_events_duplicate_total"
INGEST_REJECTED = "ingest_rejected_total"
INGEST_CONFLICT = "ingest_conflict_total"
INGEST_LATENCY = "ingest_latency_ms"
# Batch ingest: requests and their latency apart (a batch is not one event); its events count above.
INGEST_BATCH_REQUESTS = "ingest_batch_requests_total"
INGEST_BATCH_LATENCY = "ingest_batch_latency_ms"
# Consumer (one EMF document per event type per batch, through ``TypedMetrics``).
PROCESSING_SUCCESS = "processing_success_total"
PROCESSING_FAILURE = "processing_failure_total"
PROCESSING_RETRY = "processing_retry_total"
PROCESSING_DUPLICATE = "processing_duplicate_total"
DLQ_MESSAGES = "dlq_messages"
BUSINESS_ID_CONFLICT = "business_id_conflict_total"
PROCESSING_LAG = "event_processing_lag_ms"
# Fan-out (plutus/consumer/fanout.py): announcements published on the bus, and ones left for redelivery.
FANOUT_PUBLISHED = "fanout_published_total"
FANOUT_FAILURE = "fanout_failure_total"
# Stored webhook secrets that are not usable keys, counted at each load (plutus.ingest.auth); by source too.
WEBHOOK_SECRET_INVALID = "webhook_secret_invalid_total"

# The event_type labels that are not registered types.
DEFAULT_TYPE = "default"  # no event_type: the default handler's events
OTHER_TYPE = "other"  # a type nobody registered (only when unregistered types are allowed)
UNKNOWN_TYPE = "unknown"  # a message that could not be parsed


def event_type_label(event_type: str | None, registry: Registry) -> str:
    """The ``event_type`` dimension of an event: bounded by the registry, whatever producers send."""
    if event_type is None:
        return DEFAULT_TYPE
    return event_type if registry.knows_type(event_type) else OTHER_TYPE


class TypedMetrics:
    """One invocation's per-record metrics, flushed as one EMF document per event type seen in the batch.

    Counts are summed before they are written, so a batch of ten successes is one value, not ten. Each
    document declares two dimension sets, ``{service, environment}`` and ``{service, environment,
    event_type}``: alarms read the totals and the dashboard breaks them down, from the same line.
    """

    def __init__(self) -> None:
        self._counts: dict[str, dict[str, float]] = {}
        self._samples: dict[str, dict[str, tuple[MetricUnit, list[float]]]] = {}

    def count(self, event_type: str, name: str, value: float = 1) -> None:
        """Add ``value`` to the count ``name`` of ``event_type``."""
        counts = self._counts.setdefault(event_type, {})
        counts[name] = counts.get(name, 0) + value

    def observe(self, event_type: str, name: str, unit: MetricUnit, value: float) -> None:
        """Record one sample of a distribution (a latency): every sample is kept, for percentiles."""
        samples = self._samples.setdefault(event_type, {})
        samples.setdefault(name, (unit, []))[1].append(value)

    def flush(self, environment: str) -> None:
        """Print the EMF documents (stdout, which Lambda sends to CloudWatch Logs) and start over."""
        for label in sorted(self._counts.keys() | self._samples.keys()):
            emf = AmazonCloudWatchEMFProvider(
                service=SERVICE, default_dimensions={"environment": environment}
            )
            emf.add_dimensions(service=SERVICE, event_type=label)
            for name, total in self._counts.get(label, {}).items():
                emf.add_metric(name=name, unit=MetricUnit.Count, value=total)
            for name, (unit, values) in self._samples.get(label, {}).items():
                for value in values:
                    emf.add_metric(name=name, unit=unit, value=value)
            emf.flush_metrics()
        self._counts.clear()
        self._samples.clear()


def count_invalid_secrets(source: str, count: int) -> None:
    """Count ``count`` unusable stored secrets of ``source`` (one EMF document, printed now: a load happens
    inside a request, whose own metrics are flushed with its reply).

    Two dimension sets on the one value: ``{service, environment}`` for the alarm, and ``{service,
    environment, source}`` to say which source's secret to fix.
    """
    emf = AmazonCloudWatchEMFProvider(service=SERVICE, default_dimensions=dict(metrics.default_dimensions))
    emf.add_dimension(name="source", value=source)
    emf.add_metric(name=WEBHOOK_SECRET_INVALID, unit=MetricUnit.Count, value=count)
    document = emf.serialize_metric_set()
    directive = document["_aws"]["CloudWatchMetrics"][0]
    directive["Dimensions"].append([name for name in directive["Dimensions"][0] if name != "source"])
    print(json.dumps(document, separators=(",", ":")))  # noqa: T201 - EMF goes to stdout, as Powertools'
