"""Capture what Plutus logs (at every level, as the JSON lines Powertools would print), to assert on it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from plutus.observability import logger


@contextmanager
def captured_logs() -> Iterator[list[str]]:
    """Within the block, every record of the ``plutus`` logger, DEBUG included, is appended formatted."""
    lines: list[str] = []

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    collector = _Collect(level=logging.DEBUG)
    collector.setFormatter(logger.registered_formatter)
    std_logger = logging.getLogger(logger.name)
    previous = std_logger.level
    std_logger.addHandler(collector)
    std_logger.setLevel(logging.DEBUG)
    try:
        yield lines
    finally:
        std_logger.removeHandler(collector)
        std_logger.setLevel(previous)
