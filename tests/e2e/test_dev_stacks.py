"""Two `make dev` at once: each owns its emulator and tables, and the CLI talks to the one it is asked about.

And `make dev` refuses, loudly and with exit code 2, a port it did not start or a name already running.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from typer.testing import CliRunner

from plutus_dev.cli.app import app
from plutus_dev.emulator import statefile
from plutus_dev.emulator.resources import Emulator, free_port

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("PLUTUS_API_URL")), reason="starts embedded stacks of its own"
)


def make_dev_env(state_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a `make dev` started from a clean shell (nothing PLUTUS_* or endpoint left over)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLUTUS_") and k != "AWS_ENDPOINT_URL"}
    env.update(
        {
            statefile.STATE_DIR_ENV: str(state_dir),
            "PLUTUS_API_CONCURRENCY": "1",
            "PLUTUS_CONSUMER_POLLERS": "1",
            **extra,
        }
    )
    return env


def start(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "plutus_dev.emulator.stack"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_ready(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if "ready" in line:
            return "".join(seen)
    raise AssertionError("the stack exited before it was ready:\n" + "".join(seen))


@pytest.fixture
def two_stacks(tmp_path: Path) -> Iterator[tuple[Path, dict[str, subprocess.Popen[str]]]]:
    # Given two `make dev` started at once, with nothing but a name to tell them apart (API ports are given
    # only so that this test never takes :3000 from a developer's own `make dev`)
    procs = {
        name: start(make_dev_env(tmp_path, PLUTUS_STACK_NAME=name, PLUTUS_PORT=str(free_port())))
        for name in ("alpha", "beta")
    }
    try:
        for proc in procs.values():
            wait_ready(proc)
        yield tmp_path, procs
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.communicate(timeout=90)
            except subprocess.TimeoutExpired:
                proc.kill()


def test_two_stacks_each_own_their_emulator_and_the_cli_follows_the_one_asked(
    two_stacks: tuple[Path, dict[str, subprocess.Popen[str]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    state_dir, procs = two_stacks
    for var in ("PLUTUS_STACK_NAME", "PLUTUS_EVENTS_TABLE", "AWS_ENDPOINT_URL", "PLUTUS_API_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv(statefile.STATE_DIR_ENV, str(state_dir))
    alpha, beta = statefile.find("alpha"), statefile.find("beta")
    assert alpha is not None and beta is not None

    # Then each runs its own emulator, holding only its own tables
    assert alpha.endpoint_url != beta.endpoint_url and alpha.api_url != beta.api_url
    assert alpha.emulator_pid and beta.emulator_pid and alpha.emulator_pid != beta.emulator_pid
    for mine, other in ((alpha, beta), (beta, alpha)):
        tables = boto3.client("dynamodb", endpoint_url=mine.endpoint_url).list_tables()["TableNames"]
        assert mine.events_table in tables and other.events_table not in tables

    # When an event is sent to alpha through the CLI
    runner = CliRunner()
    sent = runner.invoke(app, ["send", "--stack", "alpha", "--new-key", "payment_completed"])
    assert sent.exit_code == 0, sent.output
    assert "HTTP 202  Idempotent-Replayed: false" in sent.output
    event_id = re.search(r"event_id: ([0-9a-f-]{36})", sent.output)
    assert event_id, sent.output

    # Then alpha has it and beta does not; asked without a name, the CLI asks which stack
    got = runner.invoke(app, ["events", "get", event_id[1], "--stack", "alpha"])
    assert got.exit_code == 0, got.output
    assert json.loads(got.output[got.output.index("{") :])["event_id"] == event_id[1]
    missing = runner.invoke(app, ["events", "get", event_id[1], "--stack", "beta"])
    assert missing.exit_code == 1 and "no event" in missing.output
    ambiguous = runner.invoke(app, ["events", "get", event_id[1]])
    assert ambiguous.exit_code == 2
    assert "2 embedded stacks are running" in ambiguous.output and "--stack NAME" in ambiguous.output

    # And PLUTUS_STACK_NAME picks one as --stack does
    monkeypatch.setenv("PLUTUS_STACK_NAME", "alpha")
    assert runner.invoke(app, ["events", "get", event_id[1]]).exit_code == 0

    # When both stop cleanly, their state files go with them
    for proc in procs.values():
        proc.send_signal(signal.SIGTERM)
    for proc in procs.values():
        out, _ = proc.communicate(timeout=90)
        assert proc.returncode == 0, out
    assert statefile.running(state_dir) == ([], [])


@pytest.mark.parametrize("taken", ["emulator", "api", "name"])
def test_make_dev_refuses_what_it_does_not_own(emulator: Emulator, tmp_path: Path, taken: str) -> None:
    # Given a port held by a server this stack did not start, or a running stack of the same name
    foreign_port = emulator.url.rsplit(":", 1)[1]
    extra = {"PLUTUS_STACK_NAME": "dup", "PLUTUS_PORT": str(free_port())}
    if taken == "emulator":
        extra["PLUTUS_EMULATOR_PORT"] = foreign_port
    elif taken == "api":
        extra["PLUTUS_PORT"] = foreign_port
    else:
        running = statefile.StackState(
            "dup",
            os.getpid(),
            "http://127.0.0.1:1",
            "http://127.0.0.1:2",
            "us-east-1",
            "t",
            "s",
            "q",
            "d",
            "l",
        )
        statefile.write(running, tmp_path)

    # When `make dev` starts
    done = subprocess.run(
        [sys.executable, "-m", "plutus_dev.emulator.stack"],
        env=make_dev_env(tmp_path, **extra),
        capture_output=True,
        text=True,
        timeout=120,
    )

    # Then it says why, exits 2, and never claims to be ready
    expected = {
        "emulator": f"emulator port {foreign_port} is in use",
        "api": f"API port {foreign_port} is in use",
        "name": "a stack named 'dup' is already running",
    }[taken]
    assert done.returncode == 2, done.stdout + done.stderr
    assert expected in done.stderr
    assert "ready" not in done.stdout
