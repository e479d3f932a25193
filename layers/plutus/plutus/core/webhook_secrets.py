"""Webhook secrets as stored, checked per provider kind: what is a usable key, and why a line is not.

A source's secrets live in one Secrets Manager secret or SSM parameter (``<WebhookSecretPrefix><source>``),
one per line (several while a secret is rolled: each verifies). The kind of the source says how a line
becomes an HMAC key:

- ``standard_webhooks`` (and the Standard Webhooks producers of ``/api/v1/ingest``): ``whsec_`` followed by
  base64 (the prefix optional, padding optional); the key is the decoded bytes. Lines may also be split by
  spaces or commas, as producers' secrets always could.
- ``stripe``: the whole ``whsec_…`` text is the key (Stripe's libraries HMAC with the string as it is); a
  line without ``whsec_`` is not a Stripe signing secret (an ``sk_live_`` API key pasted by mistake is
  refused, not used).
- ``github``, ``shopify``, ``slack``, ``generic_hmac``: the line's UTF-8 text is the key.

Every key must carry at least :data:`MIN_KEY_BYTES` bytes of key material (after ``whsec_`` for Stripe):
128 bits, the floor below which an HMAC key can no longer be said to resist guessing, and one every secret
these providers issue clears (docs/providers.md lists them). A line that is not a usable key is
:class:`Rejected` with a reason (never its text): callers ignore it for verification and say so.

Pure: no AWS, no I/O, no logging. ``plutus.ingest.auth`` loads and reports; the ``plutus webhooks secret``
CLI validates with the same functions before it writes.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Final

from plutus.core.providers import ProviderKind

WHSEC_PREFIX: Final = "whsec_"
# 16 bytes = 128 bits: see the module docstring and docs/providers.md ("How long a secret must be").
MIN_KEY_BYTES: Final = 16

# Why a stored line is not a usable key (the log's and the CLI's words; a fixed set, never the secret).
NOT_UTF8: Final = "not_utf8"
NOT_BASE64: Final = "not_base64"
NOT_WHSEC: Final = "not_whsec"
TOO_SHORT: Final = "too_short"

# The kinds whose stored secrets are Standard Webhooks ``whsec_`` base64.
BASE64_KINDS: Final = frozenset({"standard_webhooks"})
_SEPARATORS = re.compile(r"[\s,]+")


class InvalidSecretError(ValueError):
    """A secret that cannot be used as its kind's key; ``reason`` is one of the fixed reasons above."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Rejected:
    """A stored secret that is not a usable key: its position (1-based, in stored order) and why."""

    position: int
    reason: str


@dataclass(frozen=True, slots=True)
class LoadedSecrets:
    """A source's stored value, checked: the usable keys (in stored order) and the rejected entries."""

    keys: tuple[bytes, ...]
    rejected: tuple[Rejected, ...] = ()
    # The usable entries as stored (what the CLI writes back on a rotation), in the order of ``keys``.
    texts: tuple[str, ...] = ()


def _decode_whsec(text: str) -> bytes:
    encoded = text.removeprefix(WHSEC_PREFIX)
    try:
        return base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidSecretError(NOT_BASE64, "a whsec_ secret is not valid base64") from None


def secret_key(kind: ProviderKind, text: str) -> bytes:
    """The HMAC key of one secret of a ``kind`` source, or :class:`InvalidSecretError` (never quoting it)."""
    text = text.strip()
    if kind in BASE64_KINDS:
        key = _decode_whsec(text)
        material = len(key)
    elif kind == "stripe":
        if not text.startswith(WHSEC_PREFIX):
            raise InvalidSecretError(NOT_WHSEC, "a Stripe signing secret starts with whsec_")
        key = text.encode()
        material = len(key) - len(WHSEC_PREFIX)
    else:
        key = text.encode()
        material = len(key)
    if material < MIN_KEY_BYTES:
        raise InvalidSecretError(
            TOO_SHORT, f"a {kind} secret needs at least {MIN_KEY_BYTES} bytes of key material, has {material}"
        )
    return key


def _entries(kind: ProviderKind, stored: str | bytes) -> list[str | None]:
    """The stored entries in order; ``None`` for a line that is not UTF-8 (its bytes are never kept)."""
    lines: list[str | None] = []
    raw_lines = stored.splitlines() if isinstance(stored, bytes) else stored.encode().splitlines()
    for raw in raw_lines:
        try:
            line = raw.decode("utf-8", errors="strict").strip()
        except UnicodeDecodeError:
            lines.append(None)
            continue
        if not line:
            continue
        if kind in BASE64_KINDS:
            lines.extend(part for part in _SEPARATORS.split(line) if part)
        else:
            lines.append(line)
    return lines


def load_secrets(kind: ProviderKind, stored: str | bytes | None) -> LoadedSecrets:
    """Every stored secret of a ``kind`` source, checked: usable keys, and rejected entries with reasons.

    ``stored`` is the store's value as fetched (bytes for a binary secret, whose lines are decoded one by
    one, so one bad line never costs the others). Blank lines are not entries.
    """
    keys: list[bytes] = []
    texts: list[str] = []
    rejected: list[Rejected] = []
    for position, entry in enumerate(_entries(kind, stored or ""), start=1):
        if entry is None:
            rejected.append(Rejected(position, NOT_UTF8))
            continue
        try:
            keys.append(secret_key(kind, entry))
        except InvalidSecretError as exc:
            rejected.append(Rejected(position, exc.reason))
            continue
        texts.append(entry)
    return LoadedSecrets(tuple(keys), tuple(rejected), tuple(texts))
