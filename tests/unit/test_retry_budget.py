"""The AWS clients' retry policy is bounded and fits inside the functions' Lambda timeouts."""

from __future__ import annotations

import pytest
from botocore.retries.standard import ExponentialBackoff

from plutus.settings import Settings
from plutus_dev.emulator.template import load_template

REQUIRED = {
    "events_table": "e",
    "state_table": "s",
    "queue_url": "http://localhost/q",
}


def worst_case_call_seconds(settings: Settings) -> float:
    """One call that times out on every attempt, with the longest (throttling) backoff between attempts."""
    scale = ExponentialBackoff._DEFAULT_BACKOFF_CONFIG["throttling_base_scale"]
    backoff = sum(
        min(scale * 2**i, ExponentialBackoff._MAX_BACKOFF) for i in range(settings.aws_max_attempts - 1)
    )
    per_attempt = settings.aws_connect_timeout + settings.aws_read_timeout
    return settings.aws_max_attempts * per_attempt + backoff


def test_clients_use_bounded_standard_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    from plutus.bootstrap import Root

    for key, value in REQUIRED.items():
        monkeypatch.setenv(f"PLUTUS_{key.upper()}", value)
    for key in ("PLUTUS_AWS_MAX_ATTEMPTS", "PLUTUS_AWS_CONNECT_TIMEOUT", "PLUTUS_AWS_READ_TIMEOUT"):
        monkeypatch.delenv(key, raising=False)
    config = Root().clients.config  # type: ignore[attr-defined]

    assert config.retries == {"mode": "standard", "max_attempts": 3}
    assert (config.connect_timeout, config.read_timeout) == (1.0, 2.0)


def test_one_failing_call_is_answered_before_either_function_times_out() -> None:
    settings = Settings(**REQUIRED)  # type: ignore[arg-type]
    resources = load_template()["Resources"]

    worst = worst_case_call_seconds(settings)

    assert worst == 12.0
    # Ingest answers 503 (with Retry-After) after one dependency exhausted its retries, not a 504.
    assert worst < resources["IngestFunction"]["Properties"]["Timeout"]
    # The consumer records the failure after a failed commit: two such calls fit.
    assert 2 * worst < resources["ConsumerFunction"]["Properties"]["Timeout"]
