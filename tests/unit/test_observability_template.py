"""The template's alarms and dashboard read the metrics the code emits, under the names it emits them."""

from __future__ import annotations

import json
import re
from typing import Any

from plutus.observability import telemetry
from plutus_dev.emulator.template import load_template

TEMPLATE = load_template()
RESOURCES = TEMPLATE["Resources"]
EMITTED = {
    v
    for k, v in vars(telemetry).items()
    if k.isupper() and isinstance(v, str) and v.endswith(("_total", "_ms", "_messages"))
}
SEED = {
    "ingest_requests_total",
    "raw_events_created_total",
    "raw_events_duplicate_total",
    "processing_success_total",
    "processing_failure_total",
}


def _dashboard() -> dict[str, Any]:
    body = RESOURCES["FlowDashboard"]["Properties"]["DashboardBody"]
    assert body.tag == "Sub"
    # Substitute like CloudFormation would; numbers where the body expects a number.
    text = re.sub(r"\$\{ProcessingLagThresholdMs\}", "60000", body.value)
    text = re.sub(r"\$\{MetricsNamespace\}", "Plutus", text)
    text = re.sub(r"\$\{[A-Za-z0-9:.]+\}", "x", text)
    return json.loads(text)  # type: ignore[no-any-return]


def _metric_names(dashboard: dict[str, Any]) -> set[str]:
    names: set[str] = set()
    for widget in dashboard["widgets"]:
        previous: list[Any] = []
        for row in widget["properties"].get("metrics", []):
            if isinstance(row[0], dict):  # a metric math or SEARCH expression
                names.update(re.findall(r'MetricName="([a-z_]+)"', row[0]["expression"]))
                continue
            if row[0] == "...":
                row = previous
            spec = [
                p if p != "." else previous[i]
                for i, p in enumerate(r for r in row if not isinstance(r, dict))
            ]
            if spec[0] == "Plutus":
                names.add(spec[1])
            previous = spec
    return names


def test_the_dashboard_is_valid_json_and_shows_every_emitted_metric() -> None:
    names = _metric_names(_dashboard())
    assert SEED <= names
    assert names == EMITTED


def test_the_namespace_and_debug_sampling_are_parameters() -> None:
    env = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    assert (
        env["POWERTOOLS_METRICS_NAMESPACE"].tag == "Ref"
        and env["POWERTOOLS_METRICS_NAMESPACE"].value == "MetricsNamespace"
    )
    assert env["POWERTOOLS_LOGGER_SAMPLE_RATE"].value == "LogSampleRate"
    assert TEMPLATE["Parameters"]["LogSampleRate"]["Default"] == 0


def test_every_alarm_notifies_the_optional_topic() -> None:
    alarms = {k: r["Properties"] for k, r in RESOURCES.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    assert set(alarms) == {
        "DeadLetterQueueNotEmptyAlarm",
        "ConsumerErrorsAlarm",
        "IngestServerErrorsAlarm",
        "ThrottlesAlarm",
        "OldestMessageAgeAlarm",
        "ProcessingLagAlarm",
        "FanOutFailureAlarm",
        "WebhookSecretInvalidAlarm",
    }
    for props in alarms.values():
        for key in ("AlarmActions", "OKActions"):
            assert props[key].tag == "If" and props[key].value[0] == "NotifyAlarms"
    assert RESOURCES["AlarmTopic"]["Condition"] == "NotifyAlarms"


def test_the_lag_alarm_reads_the_emitted_metric_on_its_base_dimensions() -> None:
    lag = RESOURCES["ProcessingLagAlarm"]["Properties"]
    assert lag["MetricName"] == telemetry.PROCESSING_LAG
    assert lag["Namespace"].value == "MetricsNamespace"
    assert {d["Name"] for d in lag["Dimensions"]} == {"service", "environment"}
    assert lag["Threshold"].value == "ProcessingLagThresholdMs"


def test_the_fan_out_alarm_reads_the_emitted_failure_count_only_when_fan_out_is_on() -> None:
    alarm = RESOURCES["FanOutFailureAlarm"]
    props = alarm["Properties"]
    assert alarm["Condition"] == "FanOutOn"
    assert props["MetricName"] == telemetry.FANOUT_FAILURE
    assert props["Namespace"].value == "MetricsNamespace"
    assert {d["Name"] for d in props["Dimensions"]} == {"service", "environment"}
    assert (props["Statistic"], props["Threshold"], props["ComparisonOperator"]) == (
        "Sum",
        0,
        "GreaterThanThreshold",
    )


def test_the_webhook_secret_alarm_reads_the_emitted_count_only_where_secrets_are_read() -> None:
    alarm = RESOURCES["WebhookSecretInvalidAlarm"]
    props = alarm["Properties"]
    assert alarm["Condition"] == "ReadsWebhookSecrets"
    assert props["MetricName"] == telemetry.WEBHOOK_SECRET_INVALID
    assert props["Namespace"].value == "MetricsNamespace"
    # The {service, environment} set the metric is emitted with, next to the per-source one.
    assert {d["Name"] for d in props["Dimensions"]} == {"service", "environment"}
    assert (props["Statistic"], props["Threshold"], props["ComparisonOperator"]) == (
        "Sum",
        0,
        "GreaterThanThreshold",
    )
