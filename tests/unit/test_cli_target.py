"""Which stack the plutus CLI talks to: flags > environment > state files; errors say what was tried."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from plutus_dev.cli import target
from plutus_dev.cli.target import TargetError, resolve, resolve_api_url
from plutus_dev.emulator import statefile
from plutus_dev.emulator.statefile import StackState

ENV = (
    "PLUTUS_STACK_NAME",
    "PLUTUS_EVENTS_TABLE",
    "PLUTUS_QUEUE_URL",
    "PLUTUS_DLQ_URL",
    "PLUTUS_STATE_TABLE",
    "AWS_ENDPOINT_URL",
    "PLUTUS_API_URL",
)


def dead_pid() -> int:
    """The pid of a process that has exited."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def state(name: str, pid: int, port: int) -> StackState:
    endpoint = f"http://127.0.0.1:{port + 1}"
    return StackState(
        name=name,
        pid=pid,
        api_url=f"http://127.0.0.1:{port}",
        endpoint_url=endpoint,
        region="us-east-1",
        events_table=f"{name}-EventsTable",
        state_table=f"{name}-StateTable",
        queue_url=f"{endpoint}/123456789012/{name}-EventsQueue",
        dlq_url=f"{endpoint}/123456789012/{name}-EventsDeadLetterQueue",
        log_dir="/tmp/logs",
    )


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for var in ENV:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv(statefile.STATE_DIR_ENV, str(tmp_path))
    return tmp_path


def test_the_only_running_stack_is_found_from_its_state_file(state_dir: Path) -> None:
    statefile.write(state("alpha", statefile.os.getpid(), 5000))

    found = resolve()

    assert found.events_table == "alpha-EventsTable"
    assert found.endpoint_url == "http://127.0.0.1:5001"
    assert found.api_url == "http://127.0.0.1:5000"
    assert "alpha" in found.source and "the only running stack" in found.source
    assert resolve_api_url() == ("http://127.0.0.1:5000", "embedded stack alpha (the only running stack)")


def test_two_running_stacks_make_the_cli_ask_which(state_dir: Path) -> None:
    statefile.write(state("alpha", statefile.os.getpid(), 5000))
    statefile.write(state("beta", statefile.os.getpid(), 6000))

    with pytest.raises(TargetError) as caught:
        resolve()

    message = str(caught.value)
    assert "alpha (http://127.0.0.1:5000)" in message and "beta (http://127.0.0.1:6000)" in message
    assert "--stack NAME" in message and "PLUTUS_STACK_NAME" in message
    assert resolve("beta").queue_url.endswith("/beta-EventsQueue")
    assert resolve_api_url("beta")[0] == "http://127.0.0.1:6000"


def test_plutus_stack_name_picks_a_running_stack(state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    statefile.write(state("alpha", statefile.os.getpid(), 5000))
    statefile.write(state("beta", statefile.os.getpid(), 6000))
    monkeypatch.setenv("PLUTUS_STACK_NAME", "alpha")

    assert resolve().events_table == "alpha-EventsTable"
    assert "PLUTUS_STACK_NAME" in resolve().source


def test_a_stale_state_file_is_ignored_and_named(state_dir: Path) -> None:
    statefile.write(state("ghost", dead_pid(), 5000))

    with pytest.raises(TargetError) as caught:
        resolve()

    message = str(caught.value)
    assert "ghost is stale" in message
    assert str(state_dir) in message
    assert "make dev" in message and "--endpoint-url" in message  # how to point elsewhere


def test_nothing_running_says_what_was_tried(state_dir: Path) -> None:
    with pytest.raises(TargetError) as caught:
        resolve()

    message = str(caught.value)
    for tried in ("flags", "PLUTUS_EVENTS_TABLE", "AWS_ENDPOINT_URL", str(state_dir)):
        assert tried in message


def test_an_unknown_stack_name_lists_the_running_ones(state_dir: Path) -> None:
    statefile.write(state("alpha", statefile.os.getpid(), 5000))

    with pytest.raises(TargetError) as caught:
        resolve_api_url("gamma")

    assert "no running embedded stack 'gamma'" in str(caught.value)
    assert "running: alpha" in str(caught.value)


def test_environment_beats_state_files(state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    statefile.write(state("alpha", statefile.os.getpid(), 5000))
    monkeypatch.setenv("PLUTUS_EVENTS_TABLE", "named-EventsTable")
    monkeypatch.setenv("PLUTUS_QUEUE_URL", "https://sqs.example/1/named-EventsQueue")
    monkeypatch.setenv("PLUTUS_DLQ_URL", "https://sqs.example/1/named-DLQ")
    monkeypatch.setenv("PLUTUS_API_URL", "https://api.example/v1/")

    found = resolve()

    assert (found.source, found.events_table) == ("environment", "named-EventsTable")
    assert resolve_api_url() == ("https://api.example/v1", "PLUTUS_API_URL")


def test_flags_beat_the_environment(state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    statefile.write(state("alpha", statefile.os.getpid(), 5000))
    monkeypatch.setenv("PLUTUS_EVENTS_TABLE", "named-EventsTable")
    monkeypatch.setenv("PLUTUS_QUEUE_URL", "https://sqs.example/1/named-EventsQueue")
    monkeypatch.setenv("PLUTUS_API_URL", "https://api.example/v1")

    assert resolve("alpha").events_table == "alpha-EventsTable"
    assert resolve_api_url(None, "http://127.0.0.1:9/") == ("http://127.0.0.1:9", "--url")


def test_a_clean_stop_removes_only_its_own_state_file(state_dir: Path) -> None:
    mine = state("alpha", statefile.os.getpid(), 5000)
    statefile.write(mine)

    statefile.remove("alpha", pid=mine.pid + 1)  # another process's stop: not its file
    assert statefile.find("alpha") == mine
    statefile.remove("alpha", pid=mine.pid)
    assert statefile.find("alpha") is None
    assert target.statefile.running() == ([], [])
