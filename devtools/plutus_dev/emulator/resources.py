"""An AWS-compatible endpoint on loopback: moto in server mode, in its own process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass

LOCAL_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


class PortInUseError(Exception):
    """A port this stack was told to use is taken by a process it did not start."""


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether ``host:port`` can be bound now (nobody else listens there)."""
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


@dataclass
class Emulator:
    """A running moto server."""

    url: str
    process: subprocess.Popen[bytes] | None

    def stop(self) -> None:
        """Terminate the server and wait for it."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def wait_ready(url: str, timeout: float = 30.0, process: subprocess.Popen[bytes] | None = None) -> None:
    """Block until ``url`` answers HTTP; fail at once if ``process`` (the server) exits meanwhile."""
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.poll() is not None:
            raise PortInUseError(f"the emulator exited (code {process.returncode}) before answering at {url}")
        try:
            with urllib.request.urlopen(url + "/moto-api/", timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"emulator at {url} did not start within {timeout:.0f}s") from None
            time.sleep(0.1)


def start_emulator(port: int | None = None) -> Emulator:
    """Start moto (with DynamoDB's atomicity, see ``moto_server``) on ``127.0.0.1:port`` in its own session.

    Its own session: Ctrl-C reaches the stack, not moto. Without ``port``, a free one. A given port that is
    taken raises :class:`PortInUseError`: answering "ready" on someone else's server would send this stack's
    messages to that server's pollers and its events to that server's tables.
    """
    if port and not port_is_free(port):
        raise PortInUseError(
            f"emulator port {port} is in use by a process this stack did not start. "
            "Leave PLUTUS_EMULATOR_PORT unset for a free port, "
            "or set AWS_ENDPOINT_URL to use that server on purpose."
        )
    port = port or free_port()
    env = {**os.environ, **LOCAL_CREDENTIALS}
    process = subprocess.Popen(
        [sys.executable, "-m", "plutus_dev.emulator.moto_server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process=process)
    except (TimeoutError, PortInUseError):
        process.kill()
        raise
    return Emulator(url, process)
