"""The embedded stack's /metrics: EMF documents in, Prometheus text out, and back (plutus stats)."""

from __future__ import annotations

import json
from typing import Any

from plutus.observability.telemetry import TypedMetrics
from plutus_dev.cli.stats_commands import rows
from plutus_dev.emulator.metrics import MetricsRegistry, Sample, parse_prometheus


def _doc(dimensions: list[list[str]], metrics: dict[str, tuple[str, Any]], **labels: str) -> dict[str, Any]:
    return {
        "_aws": {
            "Timestamp": 0,
            "CloudWatchMetrics": [
                {
                    "Namespace": "Plutus",
                    "Dimensions": dimensions,
                    "Metrics": [{"Name": n, "Unit": u} for n, (u, _) in metrics.items()],
                }
            ],
        },
        **labels,
        **{n: v for n, (_, v) in metrics.items()},
    }


BASE = {"environment": "dev", "service": "plutus"}


def _values(samples: list[Sample]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for s in samples}


def test_counts_are_summed_per_name_and_labels() -> None:
    registry = MetricsRegistry(BASE)
    for _ in range(3):
        registry.add(_doc([["environment", "service"]], {"ingest_requests_total": ("Count", [1.0])}, **BASE))
    registry.add(
        _doc(
            [["environment", "reason", "service"]],
            {"ingest_rejected_total": ("Count", 1)},
            **BASE,
            reason="validation",
        )
    )

    values = _values(parse_prometheus(registry.render()))

    assert values[("ingest_requests_total", (("environment", "dev"), ("service", "plutus")))] == 3
    assert (
        values[
            (
                "ingest_rejected_total",
                (("environment", "dev"), ("reason", "validation"), ("service", "plutus")),
            )
        ]
        == 1
    )


def test_the_seed_counters_are_shown_at_zero_before_any_event() -> None:
    text = MetricsRegistry(BASE).render()

    names = {s.name for s in parse_prometheus(text) if s.value == 0}
    assert {
        "ingest_requests_total",
        "raw_events_created_total",
        "raw_events_duplicate_total",
        "processing_success_total",
        "processing_failure_total",
    } <= names
    assert "# TYPE processing_success_total counter" in text


def test_consumer_documents_are_labelled_by_their_most_specific_dimension_set(capsys: Any) -> None:
    # Given the documents TypedMetrics really prints
    typed = TypedMetrics()
    typed.count("default", "processing_success_total", 2)
    typed.count("payment_completed", "processing_failure_total")
    typed.observe("default", "event_processing_lag_ms", "Milliseconds", 40.0)  # type: ignore[arg-type]
    typed.observe("default", "event_processing_lag_ms", "Milliseconds", 4000.0)  # type: ignore[arg-type]
    typed.flush("dev")

    registry = MetricsRegistry(BASE)
    for line in capsys.readouterr().out.splitlines():
        registry.add(json.loads(line))

    samples = parse_prometheus(registry.render())
    values = _values(samples)
    by_type = (("environment", "dev"), ("event_type", "default"), ("service", "plutus"))
    assert values[("processing_success_total", by_type)] == 2
    assert (
        values[
            (
                "processing_failure_total",
                (("environment", "dev"), ("event_type", "payment_completed"), ("service", "plutus")),
            )
        ]
        == 1
    )
    # The zero series is dropped once a real one exists
    assert [s.labels.get("event_type") for s in samples if s.name == "processing_success_total"] == [
        "default"
    ]
    # Milliseconds become a histogram in seconds (Prometheus' base unit): cumulative buckets, sum and count
    assert values[("event_processing_lag_seconds_count", by_type)] == 2
    assert values[("event_processing_lag_seconds_sum", by_type)] == 4.04
    assert values[("event_processing_lag_seconds_bucket", (*by_type[:2], ("le", "0.05"), by_type[2]))] == 1
    assert values[("event_processing_lag_seconds_bucket", (*by_type[:2], ("le", "5"), by_type[2]))] == 2
    assert values[("event_processing_lag_seconds_bucket", (*by_type[:2], ("le", "+Inf"), by_type[2]))] == 2
    assert not any(name.endswith("_ms") for name, _ in values)


def test_label_values_are_escaped_and_parsed_back() -> None:
    registry = MetricsRegistry()
    registry.add(_doc([["odd"]], {"x_total": ("Count", 1)}, odd='a"b\\c\nd'))

    [sample] = [s for s in parse_prometheus(registry.render()) if s.name == "x_total"]

    assert sample.labels == {"odd": 'a"b\\c\nd'}


def test_stats_rows_total_each_metric_and_show_its_breakdown() -> None:
    samples = [
        Sample("processing_success_total", {**BASE, "event_type": "default"}, 3),
        Sample("processing_success_total", {**BASE, "event_type": "other"}, 1),
        Sample("ingest_requests_total", BASE, 5),
        Sample("queue_messages", {**BASE, "queue": "dead_letter"}, 2),
        Sample("ingest_latency_seconds_bucket", {**BASE, "le": "0.01"}, 1),
        Sample("ingest_latency_seconds_bucket", {**BASE, "le": "0.1"}, 4),
        Sample("ingest_latency_seconds_bucket", {**BASE, "le": "+Inf"}, 4),
        Sample("ingest_latency_seconds_sum", BASE, 0.13),
        Sample("ingest_latency_seconds_count", BASE, 4),
    ]

    by_name = {r.name: r for r in rows(samples)}

    assert [r.name for r in rows(samples)] == [
        "ingest_requests_total",
        "processing_success_total",
        "queue_messages",
        "ingest_latency_seconds",
    ]
    assert by_name["processing_success_total"].value == "4"
    assert by_name["processing_success_total"].breakdown == "event_type=default: 3  event_type=other: 1"
    assert by_name["queue_messages"].breakdown == "queue=dead_letter: 2"
    assert by_name["ingest_latency_seconds"].value == "mean 32.5"  # shown in ms
    assert by_name["ingest_latency_seconds"].breakdown == "n=4  p50 ≤100  p99 ≤100"
