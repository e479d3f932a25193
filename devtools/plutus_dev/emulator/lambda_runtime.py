"""Run a function's real handler the way Lambda does: one invocation at a time per execution environment.

Each environment is a worker process with the function's template environment. Its stdout (Powertools' JSON
logs and EMF metric documents) is captured per invocation and handed back to the stack, which routes it.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import io
import os
import signal
import sys
import threading
import time
import uuid
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

_handler: Any = None
_stdout: _Capture | None = None
_function: dict[str, Any] = {}
_thread_loop = threading.local()


class _Capture(io.TextIOBase):
    """A stdout that collects whole lines; Powertools binds its log handler to it at import."""

    def __init__(self) -> None:
        self._buf: list[str] = []
        self._lock = threading.Lock()

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        with self._lock:
            self._buf.append(s)
        return len(s)

    def drain(self) -> list[str]:
        with self._lock:
            text = "".join(self._buf)
            self._buf.clear()
        return [line for line in text.splitlines() if line.strip()]


@dataclass
class FakeContext:
    """The parts of the Lambda context object Powertools reads."""

    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    aws_request_id: str
    deadline: float
    log_group_name: str = "/aws/lambda/local"
    log_stream_name: str = "local"
    function_version: str = "$LATEST"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


def _init(
    code_dir: str, env: dict[str, str], name: str, timeout: int, memory: int, setup: tuple[str, ...]
) -> None:
    global _handler, _stdout
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C drains the stack; in-flight invocations finish
    if "plutus.observability" in sys.modules:
        # A spawned worker first re-imports its parent's __main__ module. Had that built the Logger and
        # Metrics, they would lack this function's environment (every metric then raises "no namespace").
        raise RuntimeError("the parent's __main__ module imports plutus.observability; import it lazily")
    os.environ.update(env)
    _stdout = _Capture()
    sys.stdout = _stdout
    _function.update(name=name, timeout=timeout, memory=memory)
    for target in setup:  # "module:function", called before the handler's module is loaded
        module_name, _, function_name = target.partition(":")
        getattr(importlib.import_module(module_name), function_name)()
    spec = importlib.util.spec_from_file_location(f"lambda_{name}", Path(code_dir) / "app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    _handler = module.handler


def _invoke(event: dict[str, Any]) -> tuple[str, Any, list[str]]:
    assert _stdout is not None
    ctx = FakeContext(
        function_name=_function["name"],
        memory_limit_in_mb=_function["memory"],
        invoked_function_arn=f"arn:aws:lambda:us-east-1:123456789012:function:{_function['name']}",
        aws_request_id=str(uuid.uuid4()),
        deadline=time.monotonic() + _function["timeout"],
    )
    try:
        result = _handler(event, ctx)
        return "ok", result, _stdout.drain()
    except Exception as exc:  # a raising handler is a failed invocation, as in Lambda
        return "error", f"{type(exc).__name__}: {exc}", _stdout.drain()


class LambdaFunction:
    """A pool of ``concurrency`` execution environments for one function."""

    def __init__(
        self,
        name: str,
        code_dir: Path,
        env: dict[str, str],
        *,
        concurrency: int,
        timeout: int,
        memory: int,
        setup: tuple[str, ...] = (),
    ) -> None:
        """``setup``: ``"module:function"`` callables each environment runs before loading the handler."""
        self.name = name
        self._pool = ProcessPoolExecutor(
            max_workers=concurrency,
            mp_context=get_context("spawn"),
            initializer=_init,
            initargs=(str(code_dir), env, name, timeout, memory, setup),
        )
        # Warm every environment now, so the first requests do not all pay the cold start at once.
        for f in [self._pool.submit(time.sleep, 0) for _ in range(concurrency)]:
            f.result()

    def invoke_async(self, event: dict[str, Any]) -> Future[tuple[str, Any, list[str]]]:
        """Submit one invocation."""
        return self._pool.submit(_invoke, event)

    def shutdown(self) -> None:
        """Wait for in-flight invocations, then stop the environments."""
        self._pool.shutdown(wait=True, cancel_futures=True)


class InProcessFunction:
    """A handler called in this process, behind the same interface as :class:`LambdaFunction` (tests)."""

    def __init__(self, name: str, handler: Any, timeout: int = 30) -> None:
        self.name = name
        self.handler = handler
        self.timeout = timeout

    def invoke(self, event: dict[str, Any]) -> tuple[str, Any, list[str]]:
        """Invoke synchronously; a raising handler is reported as ``("error", message, [])``."""
        if getattr(_thread_loop, "loop", None) is None:
            # Lambda calls handlers on its main thread, which has an event loop; a test thread has none.
            _thread_loop.loop = asyncio.new_event_loop()
            asyncio.set_event_loop(_thread_loop.loop)
        ctx = FakeContext(
            self.name,
            512,
            f"arn:aws:lambda:us-east-1:123456789012:function:{self.name}",
            str(uuid.uuid4()),
            time.monotonic() + self.timeout,
        )
        try:
            return "ok", self.handler(event, ctx), []
        except Exception as exc:
            return "error", f"{type(exc).__name__}: {exc}", []

    def invoke_async(self, event: dict[str, Any]) -> Future[tuple[str, Any, list[str]]]:
        """Invoke now and return a completed future."""
        future: Future[tuple[str, Any, list[str]]] = Future()
        future.set_result(self.invoke(event))
        return future


def reset_caches() -> None:
    """Forget the composition root of plutus, as a new Lambda execution environment would."""
    from plutus import bootstrap

    bootstrap.reset()
