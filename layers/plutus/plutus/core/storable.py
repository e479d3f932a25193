"""What every stored value must be: encodable as UTF-8 and as a DynamoDB number.

An event is accepted only if every value it carries can reach a handler, be stored and be read back. JSON
allows more than that: ``1e999`` parses as infinity, a 39-digit integer exceeds DynamoDB's 38 digits, and a
lone surrogate (``"\\ud800"``) is a valid JSON escape that no UTF-8 encoder accepts (boto3 and SQS refuse it,
so the event would be accepted and never processed). ``unstorable`` finds each such value by its JSON pointer,
so ingest refuses the event with a 422 that names it. Pure functions: nothing here talks to AWS.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

# DynamoDB numbers: up to 38 significant digits, magnitude from 1E-130 to 9.99...E+125.
MAX_DIGITS = 38
MAX_MAGNITUDE = Decimal("9.9999999999999999999999999999999999999E+125")
MIN_MAGNITUDE = Decimal("1E-130")
# A refusal names at most this many values, each in at most this many characters: enough to fix a payload,
# and a response that cannot grow with the request.
MAX_REPORTED = 20
MAX_NAME_CHARS = 256
# One C-level scan instead of a Python loop over every character: ingest checks every key and string.
_SURROGATE = re.compile("[\ud800-\udfff]")


def _shown(text: str) -> str:
    # A name that holds a surrogate is shown with the surrogate escaped, so the answer itself is encodable.
    if has_surrogate(text):
        text = "".join(f"\\u{ord(ch):04x}" if "\ud800" <= ch <= "\udfff" else ch for ch in text)
    return text if len(text) <= MAX_NAME_CHARS else text[: MAX_NAME_CHARS - 1] + "\u2026"


def json_pointer(path: Sequence[str | int]) -> str:
    """RFC 6901: ``("payload", "a/b", 0)`` is ``/payload/a~1b/0``."""
    return _shown("".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path))


def dotted(path: Sequence[str | int]) -> str:
    """The ``field`` form of a path (``payload.items.0.price``), as validation errors name fields."""
    return _shown(".".join(str(p) for p in path)) or "<body>"


def has_surrogate(text: str) -> bool:
    """Whether ``text`` holds a UTF-16 surrogate code point, which UTF-8 cannot encode."""
    return not text.isascii() and _SURROGATE.search(text) is not None


def _number_problem(value: int | float) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        if not math.isfinite(value):
            return "numbers must be finite (no NaN, Infinity or overflowing exponents)"
        number = Decimal(repr(value))
    else:
        # int: compare digit counts before building anything large.
        if len(str(abs(value))) > MAX_DIGITS:
            return f"integers have at most {MAX_DIGITS} digits"
        number = Decimal(value)
    if number != 0 and not MIN_MAGNITUDE <= abs(number) <= MAX_MAGNITUDE:
        return "numbers must be 0 or between 1E-130 and 9.99E+125 in magnitude"
    return None


def scan(
    value: Any, prefix: Sequence[str | int] = (), depth_of: str = "payload"
) -> tuple[list[tuple[tuple[str | int, ...], str]], int]:
    """One walk of an event: ``(path, rule)`` for each value (or object key) that could not be stored, at
    most ``MAX_REPORTED``, and the nesting depth of its ``depth_of`` member (that member is 1, a scalar
    inside it 2; 0 if there is none).

    Iterative, so any nesting the JSON parser accepted is walked without recursion. Ingest walks each event
    once for both answers, instead of once per check.
    """
    found: list[tuple[tuple[str | int, ...], str]] = []
    depth = 0
    stack: list[tuple[tuple[str | int, ...], Any]] = [(tuple(prefix), value)]
    while stack and len(found) < MAX_REPORTED:
        path, item = stack.pop()
        if path and path[0] == depth_of and len(path) > depth:
            depth = len(path)
        if isinstance(item, dict):
            for key, child in reversed(list(item.items())):
                if isinstance(key, str) and has_surrogate(key):
                    found.append(((*path, key), "object keys must be valid Unicode (no lone surrogates)"))
                else:
                    stack.append(((*path, key), child))
        elif isinstance(item, list):
            stack.extend(((*path, i), child) for i, child in reversed(list(enumerate(item))))
        elif isinstance(item, str):
            if has_surrogate(item):
                found.append((path, "strings must be valid Unicode (no lone surrogates)"))
        elif isinstance(item, int | float):
            problem = _number_problem(item)
            if problem:
                found.append((path, problem))
    return found, depth


def unstorable(value: Any, prefix: Sequence[str | int] = ()) -> list[tuple[tuple[str | int, ...], str]]:
    """``(path, rule)`` for each value (or object key) that could not be stored, at most ``MAX_REPORTED``."""
    return scan(value, prefix)[0]
