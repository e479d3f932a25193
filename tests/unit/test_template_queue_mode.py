"""The template in both queue modes (parameter QueueMode): FIFO switches the queue and its DLQ, the event
source mapping and the functions' setting, and leaves every other feature as it is."""

from __future__ import annotations

from typing import Any

import pytest

from plutus_dev.emulator.template import Stack
from tests.templates import RESOURCES, TEMPLATE, props, stack

FIFO_ONLY = {"FifoQueue", "ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit"}


def mapping(s: Stack) -> dict[str, Any]:
    return props(s, "ConsumerFunction")["Events"]["Queue"]["Properties"]  # type: ignore[no-any-return]


def rules_hold(s: Stack) -> bool:
    verdicts = [
        bool(s._evaluate(a["Assert"]))
        for rule in TEMPLATE["Rules"].values()
        if s._evaluate(rule["RuleCondition"])
        for a in rule["Assertions"]
    ]
    return all(verdicts)


def test_the_default_is_a_standard_queue_with_a_batching_window() -> None:
    s = stack()

    assert s.parameters["QueueMode"] == "standard"
    assert not FIFO_ONLY & set(props(s, "EventsQueue")) and not FIFO_ONLY & set(
        props(s, "EventsDeadLetterQueue")
    )
    assert mapping(s)["MaximumBatchingWindowInSeconds"] == "1"
    assert s.function_environment("ConsumerFunction")["PLUTUS_QUEUE_MODE"] == "standard"


def test_fifo_makes_the_queue_fifo_in_high_throughput_mode_deduplicated_by_id_not_content() -> None:
    queue = props(stack(QueueMode="fifo"), "EventsQueue")

    assert queue["FifoQueue"] is True
    assert queue["ContentBasedDeduplication"] is False
    assert queue["DeduplicationScope"] == "messageGroup"
    assert queue["FifoThroughputLimit"] == "perMessageGroupId"
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == "arn:test:EventsDeadLetterQueue"


def test_fifo_makes_the_dlq_fifo_too_as_sqs_requires() -> None:
    dlq = props(stack(QueueMode="fifo"), "EventsDeadLetterQueue")

    assert dlq["FifoQueue"] is True and dlq["MessageRetentionPeriod"] == 1209600


def test_fifo_drops_the_batching_window_lambda_does_not_support_and_tells_every_function() -> None:
    s = stack(QueueMode="fifo")

    assert "MaximumBatchingWindowInSeconds" not in mapping(s)
    assert mapping(s)["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    for function in ("IngestFunction", "ConsumerFunction", "ReadsFunction"):
        assert s.function_environment(function)["PLUTUS_QUEUE_MODE"] == "fifo"


@pytest.mark.parametrize(
    ("mode", "batch_size", "allowed"),
    [
        ("fifo", "10", True),
        ("fifo", "1", True),
        ("fifo", "11", False),
        ("fifo", "100", False),
        ("standard", "100", True),
    ],
)
def test_a_fifo_batch_is_at_most_ten_records(mode: str, batch_size: str, allowed: bool) -> None:
    assert rules_hold(stack(QueueMode=mode, ConsumerBatchSize=batch_size)) is allowed


@pytest.mark.parametrize("mode", ["standard", "fifo"])
def test_every_other_resource_is_the_same_in_both_modes(mode: str) -> None:
    # Alarms, dashboard, policies and tables resolve identically: only the queues and the mapping differ.
    standard, other = stack(QueueMode="standard"), stack(QueueMode=mode)
    differing = {name for name in RESOURCES if props(standard, name) != props(other, name)}

    assert differing <= {"EventsQueue", "EventsDeadLetterQueue", "ConsumerFunction"}
    assert {"EventsQueue", "EventsDeadLetterQueue", "ConsumerFunction"} & differing == (
        set() if mode == "standard" else {"EventsQueue", "EventsDeadLetterQueue", "ConsumerFunction"}
    )


def test_make_dev_takes_the_queue_mode_from_the_shell_as_the_template_parameter() -> None:
    from plutus_dev.emulator.stack import config_from_environment

    config = config_from_environment({"PLUTUS_PORT": "3999", "PLUTUS_QUEUE_MODE": "fifo"})

    assert config.effective_parameters()["QueueMode"] == "fifo"
    # The functions' own PLUTUS_QUEUE_MODE comes from the template (it must match the queue it names).
    assert "PLUTUS_QUEUE_MODE" not in config.environment
