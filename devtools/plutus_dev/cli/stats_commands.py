"""``plutus stats``: the figures of a running embedded stack's ``GET /metrics``, as a table."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import httpx
import typer
from rich.console import Console
from rich.table import Table

from plutus_dev.cli.common import TYPER_SETTINGS
from plutus_dev.cli.target import StackOption, TargetError, resolve_api_url
from plutus_dev.emulator.metrics import BUCKETS_SECONDS, Sample, parse_prometheus

app = typer.Typer(**TYPER_SETTINGS, help="Counters, latencies and queue depths of a running embedded stack.")

# (section, metric) in display order; anything else /metrics serves is listed after them.
LAYOUT = (
    ("ingest", "ingest_requests_total"),
    ("ingest", "raw_events_created_total"),
    ("ingest", "raw_events_duplicate_total"),
    ("ingest", "ingest_rejected_total"),
    ("ingest", "ingest_conflict_total"),
    ("processing", "processing_success_total"),
    ("processing", "processing_failure_total"),
    ("processing", "processing_retry_total"),
    ("processing", "processing_duplicate_total"),
    ("processing", "dlq_messages_total"),
    ("queues", "queue_messages"),
    ("latency", "ingest_latency_seconds"),
    ("latency", "event_processing_lag_seconds"),
)
# Labels every series has; the table shows only the ones that break a figure down.
COMMON_LABELS = {"service", "environment"}


@dataclass(frozen=True)
class Row:
    """One figure: its total and, when it has one, its breakdown by label."""

    section: str
    name: str
    value: str
    breakdown: str


def _breakdown(series: list[Sample]) -> str:
    parts = []
    for s in sorted(series, key=lambda s: sorted(s.labels.items())):
        labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()) if k not in COMMON_LABELS)
        if labels:
            parts.append(f"{labels}: {_fmt(s.value)}")
    return "  ".join(parts)


def _fmt(value: float) -> str:
    return str(int(value)) if value.is_integer() else f"{value:.1f}"


def _ms(seconds: float) -> str:
    # Histograms are served in seconds (Prometheus' base unit); people read request latencies in ms.
    return _fmt(round(seconds * 1000, 1))


def _quantile(buckets: dict[float, float], count: float, q: float) -> str:
    # The upper bound of the bucket holding the q-th observation, as Prometheus' histogram_quantile bounds it.
    for bound in sorted(buckets):
        if buckets[bound] >= q * count:
            return f"≤{_ms(bound)}" if bound != math.inf else f">{_ms(BUCKETS_SECONDS[-1])}"
    return "-"


def _histogram_row(section: str, name: str, samples: list[Sample]) -> Row:
    count = sum(s.value for s in samples if s.name == name + "_count")
    total = sum(s.value for s in samples if s.name == name + "_sum")
    buckets: dict[float, float] = defaultdict(float)
    for s in samples:
        if s.name == name + "_bucket":
            buckets[float(s.labels["le"])] += s.value
    if not count:
        return Row(section, name, "no data", "")
    figures = f"p50 {_quantile(buckets, count, 0.5)}  p99 {_quantile(buckets, count, 0.99)}"
    return Row(section, name, f"mean {total / count * 1000:.1f}", f"n={_fmt(count)}  {figures}")


def rows(samples: list[Sample]) -> list[Row]:
    """The table's rows: each metric's total over its series, in LAYOUT order, then any other metric."""
    by_name: dict[str, list[Sample]] = defaultdict(list)
    for s in samples:
        by_name[s.name].append(s)
    histograms = {n.removesuffix("_count") for n in by_name if n.endswith("_count")}
    out = []
    seen = set()
    extra = sorted(n for n in by_name if not n.endswith(("_bucket", "_sum", "_count"))) + sorted(histograms)
    for section, name in (*LAYOUT, *(("other", n) for n in extra)):
        if name in seen:
            continue
        seen.add(name)
        if name in histograms:
            out.append(_histogram_row(section, name, samples))
        elif name in by_name:
            series = by_name[name]
            out.append(Row(section, name, _fmt(sum(s.value for s in series)), _breakdown(series)))
    return out


@app.callback(invoke_without_command=True)
def stats(
    url: str | None = typer.Option(
        None, "--url", help="Base URL of the stack (default: PLUTUS_API_URL, else the running stack's)."
    ),
    stack: StackOption = None,
) -> None:
    """Print what the embedded stack's functions have counted so far (from its GET /metrics)."""
    console = Console()
    try:
        url, _ = resolve_api_url(stack, url)
    except TargetError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    try:
        response = httpx.get(url.rstrip("/") + "/metrics", timeout=10)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        console.print(
            f"[red]No metrics at {url}/metrics[/red] ({type(exc).__name__}). Is `make dev` running?"
        )
        raise typer.Exit(1) from None
    samples = parse_prometheus(response.text)
    environment = next((s.labels["environment"] for s in samples if "environment" in s.labels), "?")
    table = Table(title=f"Plutus at {url} (environment {environment})")
    table.add_column("section")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("breakdown / distribution (ms)")
    for row in rows(samples):
        table.add_row(row.section, row.name, row.value, row.breakdown)
    console.print(table)
