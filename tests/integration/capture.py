"""Capture everything the in-process handlers write: stdout, stderr and every log record, at every level."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from typing import Any

from plutus.observability import logger as plutus_logger


@dataclass
class Output:
    """What was written while capturing, one line per entry (live: read it during or after capture)."""

    buffer: io.StringIO = field(default_factory=io.StringIO)

    @property
    def lines(self) -> list[str]:
        """Every non-blank line written so far."""
        return [line for line in self.buffer.getvalue().splitlines() if line.strip()]

    @property
    def emf(self) -> list[dict[str, Any]]:
        """The CloudWatch EMF documents."""
        docs = []
        for line in self.lines:
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            if isinstance(doc, dict) and "_aws" in doc:
                docs.append(doc)
        return docs

    @property
    def logs(self) -> list[dict[str, Any]]:
        """The Powertools JSON log lines (not EMF)."""
        out = []
        for line in self.lines:
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            if isinstance(doc, dict) and "_aws" not in doc and "level" in doc:
                out.append(doc)
        return out

    def documents_with(self, name: str) -> list[dict[str, Any]]:
        """The EMF documents that declare the metric ``name``."""
        return [d for d in self.emf if name in metric_names(d)]

    def total(self, name: str, **dimensions: str) -> float:
        """The sum of ``name`` over every document whose dimension values include ``dimensions``."""
        return sum(
            sum(values(d, name))
            for d in self.documents_with(name)
            if all(d.get(k) == v for k, v in dimensions.items())
        )


def metric_names(doc: dict[str, Any]) -> set[str]:
    """The metric names an EMF document declares."""
    return {m["Name"] for d in doc["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}


def values(doc: dict[str, Any], name: str) -> list[float]:
    """The values of ``name`` in an EMF document (a number or a list of numbers)."""
    value = doc[name]
    return list(value) if isinstance(value, list) else [value]


def dimension_sets(doc: dict[str, Any]) -> list[set[str]]:
    """The dimension sets an EMF document declares."""
    return [set(s) for d in doc["_aws"]["CloudWatchMetrics"] for s in d["Dimensions"]]


class _EverythingFormatter(logging.Formatter):
    # Every attribute of the record, extras included, so nothing a handler attached can hide from the test.
    def format(self, record: logging.LogRecord) -> str:
        data = dict(record.__dict__)
        data["message"] = record.getMessage()
        if record.exc_info:
            data["exc_text"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


@contextmanager
def capture_output() -> Iterator[Output]:
    """Capture stdout, stderr, the Powertools logger and every other logger, with the log level at DEBUG.

    The root logger goes to DEBUG as Lambda's log level setting would take it; library loggers keep the levels
    plutus.observability gives them.
    """
    output = Output()
    buffer = output.buffer
    root = logging.getLogger()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(_EverythingFormatter())
    saved_root_level = root.level
    saved_plutus_level = plutus_logger.log_level
    # Powertools bound its handler to the real stdout at import.
    streams = [
        (h, h.setStream(buffer)) for h in plutus_logger.handlers if isinstance(h, logging.StreamHandler)
    ]
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    plutus_logger.setLevel(logging.DEBUG)
    try:
        with redirect_stdout(buffer), redirect_stderr(buffer):
            yield output
    finally:
        root.removeHandler(handler)
        root.setLevel(saved_root_level)
        plutus_logger.setLevel(saved_plutus_level)
        for h, stream in streams:
            h.setStream(stream)
