"""Local metrics: the EMF documents the functions print, aggregated and served as Prometheus text.

CloudWatch turns each EMF line into metrics; the embedded stack does the same for ``GET /metrics``, named
as Prometheus names them: ``Count`` metrics become counters ending in ``_total`` (values summed;
``dlq_messages`` is served as ``dlq_messages_total``), time metrics become histograms in seconds
(``ingest_latency_ms`` is served as ``ingest_latency_seconds``). CloudWatch keeps the EMF names, whose unit
travels with each value. Labels are the document's dimension values (the most specific dimension set), so
``sum by (environment)`` gives the totals CloudWatch alarms read.
"""

from __future__ import annotations

import bisect
import math
import re
import threading
from dataclasses import dataclass, field
from typing import Any

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Upper bounds in seconds (Prometheus' base unit), from a fast ingest call to a message that waited out
# several retries.
BUCKETS_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)
# EMF time units, in seconds.
TIME_UNITS = {"Milliseconds": 0.001, "Seconds": 1.0, "Microseconds": 0.000_001}


def prometheus_name(emf_name: str, histogram: bool) -> str:
    """The Prometheus name of an EMF metric: counters end in ``_total``, durations are in ``_seconds``."""
    if histogram:
        return emf_name.removesuffix("_ms").removesuffix("_seconds") + "_seconds"
    return emf_name if emf_name.endswith("_total") else emf_name + "_total"


HELP = {
    "ingest_requests_total": "POST /api/v1/ingest requests, whatever their answer.",
    "raw_events_created_total": "New events accepted (202): stored RECEIVED and queued.",
    "raw_events_duplicate_total": "Replays of an accepted event (200, Idempotent-Replayed).",
    "ingest_rejected_total": "Requests refused with a 4xx, by reason class.",
    "ingest_conflict_total": "Requests answered 409: the same key is still in flight.",
    "ingest_latency_seconds": "Time spent in the ingest route, rejections included.",
    "processing_success_total": "Events processed: handlers ran and their effects committed.",
    "processing_failure_total": "Failed processing attempts (each is retried by SQS until the last).",
    "processing_retry_total": "Deliveries after the first (ApproximateReceiveCount > 1).",
    "processing_duplicate_total": "Deliveries of an already processed event, acknowledged without effect.",
    "dlq_messages_total": "Messages that failed their last allowed receive and went to the dead-letter queue",
    "event_processing_lag_seconds": "processed_at - received_at of each processed event.",
    "queue_messages": "Messages in a queue now, visible and in flight (read from the queue, not EMF).",
}
# Shown at 0 until their first document, so a dashboard's series exist from the start.
PRESET_COUNTERS = (
    "ingest_requests_total",
    "raw_events_created_total",
    "raw_events_duplicate_total",
    "processing_success_total",
    "processing_failure_total",
    "processing_retry_total",
    "dlq_messages_total",
)

Labels = tuple[tuple[str, str], ...]


@dataclass
class Histogram:
    """Cumulative bucket counts, sum and count of one series."""

    counts: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS_SECONDS) + 1))
    total: float = 0.0
    count: int = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(BUCKETS_SECONDS, value)] += 1
        self.total += value
        self.count += 1


@dataclass(frozen=True)
class Sample:
    """One line of Prometheus text: a name, its labels and a value."""

    name: str
    labels: dict[str, str]
    value: float


class MetricsRegistry:
    """Every EMF document the stack's functions printed, aggregated by metric name and labels."""

    def __init__(self, default_labels: dict[str, str] | None = None) -> None:
        self.default_labels = dict(default_labels or {})
        self._lock = threading.Lock()
        self._counters: dict[str, dict[Labels, float]] = {}
        self._histograms: dict[str, dict[Labels, Histogram]] = {}

    def add(self, doc: dict[str, Any]) -> None:
        """Aggregate one EMF document."""
        with self._lock:
            for directive in doc["_aws"].get("CloudWatchMetrics", []):
                dimensions = sorted({d for dims in directive.get("Dimensions", []) for d in dims})
                labels = tuple((d, str(doc[d])) for d in dimensions if d in doc)
                for metric in directive.get("Metrics", []):
                    raw = doc.get(metric["Name"], [])
                    values = [float(v) for v in (raw if isinstance(raw, list) else [raw])]
                    scale = TIME_UNITS.get(metric.get("Unit", ""))
                    name = prometheus_name(metric["Name"], histogram=scale is not None)
                    if scale is None:
                        series = self._counters.setdefault(name, {})
                        series[labels] = series.get(labels, 0.0) + sum(values)
                    else:
                        histogram = self._histograms.setdefault(name, {}).setdefault(labels, Histogram())
                        for value in values:
                            histogram.observe(value * scale)

    def render(self, gauges: list[Sample] | None = None) -> str:
        """The Prometheus text exposition (format 0.0.4) of every series, plus ``gauges``."""
        lines: list[str] = []
        with self._lock:
            counters = {name: dict(series) for name, series in self._counters.items()}
            histograms = {name: dict(series) for name, series in self._histograms.items()}
        default = tuple(sorted(self.default_labels.items()))
        for name in PRESET_COUNTERS:
            counters.setdefault(name, {default: 0.0})
        for name in sorted(counters):
            lines += _header(name, "counter")
            lines += [
                f"{name}{_labels(labels)} {_number(value)}"
                for labels, value in sorted(counters[name].items())
            ]
        for name in sorted(histograms):
            lines += _header(name, "histogram")
            for labels, histogram in sorted(histograms[name].items()):
                cumulative = 0
                for bound, count in zip((*BUCKETS_SECONDS, math.inf), histogram.counts, strict=True):
                    cumulative += count
                    le = "+Inf" if bound == math.inf else _number(bound)
                    lines.append(f"{name}_bucket{_labels((*labels, ('le', le)))} {cumulative}")
                lines.append(f"{name}_sum{_labels(labels)} {_number(histogram.total)}")
                lines.append(f"{name}_count{_labels(labels)} {histogram.count}")
        for name in sorted({g.name for g in gauges or []}):
            lines += _header(name, "gauge")
            for g in gauges or []:
                if g.name == name:
                    lines.append(f"{name}{_labels(tuple(sorted(g.labels.items())))} {_number(g.value)}")
        return "\n".join(lines) + "\n"


def _header(name: str, kind: str) -> list[str]:
    return [f"# HELP {name} {HELP.get(name, 'From the functions EMF output.')}", f"# TYPE {name} {kind}"]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: Labels) -> str:
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels) + "}" if labels else ""


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 2**53 else repr(float(value))


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\S+)?$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), value)


def parse_prometheus(text: str) -> list[Sample]:
    """The samples of a Prometheus text exposition (comments skipped)."""
    samples = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        match = _SAMPLE.match(line.strip())
        if not match:
            raise ValueError(f"not a Prometheus sample line: {line[:200]!r}")
        name, labels, value = match.groups()
        parsed = {k: _unescape(v) for k, v in _LABEL.findall(labels or "")}
        samples.append(Sample(name, parsed, float(value)))
    return samples
