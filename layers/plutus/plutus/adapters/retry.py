"""One retry helper for the partial failures botocore's own retries do not cover.

botocore (standard mode, see :mod:`plutus.adapters.aws`) already retries throttling and 5xx on every call.
What it cannot retry is a call that succeeded in part: ``UnprocessedKeys``, ``UnprocessedItems``, failed
``SendMessageBatch`` entries, a cancelled transaction whose other items may pass on their own. Those loops all
have one shape: send the request, keep what is left, back off, send what is left again.
"""

from __future__ import annotations

import time
from collections.abc import Callable

# Extra attempts after a partial failure, with a short exponential backoff (50 ms, 100 ms).
RETRIES = 2
BACKOFF_SECONDS = 0.05


def backoff(attempt: int) -> None:
    """Sleep before retry number ``attempt`` (0-based)."""
    time.sleep(BACKOFF_SECONDS * 2**attempt)


def until_done[Request](
    send: Callable[[Request], Request | None], request: Request, retries: int = RETRIES
) -> Request | None:
    """Call ``send`` with what is left until nothing is: ``send`` returns the remainder, or ``None``/empty.

    Returns what is still left after ``1 + retries`` calls (``None`` once everything went through). An
    exception from ``send`` ends the loop: the caller decides what a failed call means for what was left.
    """
    for attempt in range(1 + retries):
        left = send(request)
        if not left:
            return None
        request = left
        if attempt < retries:
            backoff(attempt)
    return request
