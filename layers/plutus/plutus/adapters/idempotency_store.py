"""Idempotency records as ingest uses them: read, claim, complete and release many keys at once (batch), or
one (single), on the events' own items (:mod:`plutus.adapters.idempotency_records`).

Every batch API can fail in part, and each partial failure is handled here, through the one retry helper
(:func:`plutus.adapters.retry.until_done`):

- ``UnprocessedKeys``: retried; keys still unread are left to the claim, whose condition decides.
- a cancelled claim: the reasons say which keys conflicted. Keys whose stored record came back are answered
  from it; the rest of the chunk is retried without them; only the conflicting keys are claimed one by one.
- a failed completion: retried, then per event, so one event cannot hold back the other 99.
- a failed release: left to the claim's deadline, as Powertools leaves it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from botocore.exceptions import BotoCoreError, ClientError

from plutus.adapters import idempotency_records as records
from plutus.adapters.events_store import Retention, accepted_update
from plutus.adapters.idempotency_records import Clock, Seen
from plutus.adapters.retry import until_done
from plutus.core.envelope import IngestResult
from plutus.core.errors import EventNotQueuedError
from plutus.observability import logger

# Service limits per call.
MAX_GET_KEYS = 100
MAX_TRANSACT_ITEMS = 100
# The single path's claim, retried while the record it meets looks free (Powertools: 1 + 2 retries).
MAX_CLAIM_ATTEMPTS = 3
# What a screening read needs of an event's item: never its kept message (up to 300 KB on a FAILED event).
_SCREEN_PROJECTION = ", ".join(
    ["#k", "#state", "#digest", "#deadline"] + [f"#a{i}" for i in range(len(records.ANSWER_ATTRS))]
)
_SCREEN_NAMES = {
    "#k": records.KEY_ATTR,
    "#state": records.STATE_ATTR,
    "#digest": records.DIGEST_ATTR,
    "#deadline": records.DEADLINE_ATTR,
} | {f"#a{i}": name for i, name in enumerate(records.ANSWER_ATTRS)}


@dataclass(frozen=True, slots=True)
class Claim:
    """A key to claim on its event's item, with the content digest of the request and the claim's own token
    (one per request: it tells this claim from any other, see :func:`records.is_own_claim`)."""

    event_id: str
    digest: str
    token: str = field(default_factory=records.new_token)


@dataclass
class Claimed:
    """The outcome of claiming many keys: each key is claimed, answered from a stored record, or unknown."""

    claimed: list[str] = field(default_factory=list)
    answered: dict[str, Seen] = field(default_factory=dict)
    unavailable: list[str] = field(default_factory=list)


def _chunks[T](items: Sequence[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _cancelled(exc: Exception | None) -> TypeGuard[ClientError]:
    return isinstance(exc, ClientError) and _code(exc) == "TransactionCanceledException"


def _name(exc: Exception) -> str:
    return _code(exc) if isinstance(exc, ClientError) else type(exc).__name__


class _Unavailable(EventNotQueuedError):
    """A call failed with an unknown outcome: what it carried is answered 503."""


class IdempotencyStore:
    """The idempotency records of many events at once, with a handful of calls."""

    def __init__(self, client: Any, events_table: str, retention: Retention) -> None:
        self.client = client
        self.table = events_table
        self.retention = retention

    def _claim_update(self, claim: Claim, deadline_ms: int, clock: Clock) -> dict[str, Any]:
        # A bare claim leaves with the TTL a stuck RECEIVED event has (the failed-retention period).
        expires_at = clock.now + self.retention.failed_seconds
        return records.claim_update(
            self.table, claim.event_id, claim.digest, deadline_ms, expires_at, clock, claim.token
        )

    def seen(self, claims: Sequence[Claim], clock: Clock) -> dict[str, Seen]:
        """The verdict of every key that has a live record (consistent ``BatchGetItem`` per 100 keys).

        A key that could not be read is left out: it is claimed like a new one, and its condition decides.
        """
        found: dict[str, dict[str, Any]] = {}

        def read(request: dict[str, Any]) -> dict[str, Any] | None:
            response = self.client.batch_get_item(RequestItems=request)
            for item in response.get("Responses", {}).get(self.table, []):
                found[item[records.KEY_ATTR]["S"]] = item
            left: dict[str, Any] | None = response.get("UnprocessedKeys")
            return left

        for chunk in _chunks([c.event_id for c in claims], MAX_GET_KEYS):
            request = {
                "Keys": [{records.KEY_ATTR: {"S": event_id}} for event_id in chunk],
                "ConsistentRead": True,
                "ProjectionExpression": _SCREEN_PROJECTION,
                "ExpressionAttributeNames": _SCREEN_NAMES,
            }
            try:
                until_done(read, {self.table: request})
            except (ClientError, BotoCoreError) as exc:
                logger.warning("batch read failed", extra={"error": type(exc).__name__})
        verdicts: dict[str, Seen] = {}
        for claim in claims:
            verdict = records.classify(found.get(claim.event_id), claim.digest, clock)
            if verdict is not Seen.FREE:
                verdicts[claim.event_id] = verdict
        return verdicts

    def claim(self, claims: Sequence[Claim], clock: Clock, deadline_ms: int) -> Claimed:
        """Claim keys in transactions of 100; only keys that conflicted are claimed alone."""
        updates = {c.event_id: self._claim_update(c, deadline_ms, clock) for c in claims}
        by_key = {c.event_id: c for c in claims}
        out = Claimed()
        alone: list[str] = []
        current: list[str] = []  # the keys of the attempt under way

        def transact(pending: list[str]) -> list[str] | None:
            current[:] = pending
            error = self._write([{"Update": updates[key]} for key in pending], str(uuid.uuid4()))
            if error is None:
                out.claimed.extend(pending)
                return None
            if not _cancelled(error):
                logger.warning("claim failed", extra={"error": _name(error)})
                raise _Unavailable
            return self._sort_cancelled(error, pending, by_key, clock, out, alone)

        for chunk in _chunks(list(updates), MAX_TRANSACT_ITEMS):
            try:
                left: list[str] | None = until_done(transact, chunk)
            except _Unavailable:
                # The outcome is unknown: answered 503. A claim that did land expires at its deadline.
                out.unavailable += current
                continue
            alone += left or []  # cancelled again and again: the rest are claimed one by one
        for key in alone:
            self._claim_alone(by_key[key], deadline_ms, out)
        return out

    @staticmethod
    def _sort_cancelled(
        exc: ClientError,
        pending: list[str],
        by_key: dict[str, Claim],
        clock: Clock,
        out: Claimed,
        alone: list[str],
    ) -> list[str]:
        """Split a cancelled claim: answer keys whose record came back, set conflicts aside, retry others."""
        reasons = exc.response.get("CancellationReasons") or []
        if len(reasons) != len(pending):
            alone += pending  # reasons missing: nothing says which keys conflicted
            return []
        retry: list[str] = []
        for key, reason in zip(pending, reasons, strict=True):
            code = reason.get("Code") or "None"
            if code == "None":
                retry.append(key)  # cancelled only because another key failed
                continue
            item = reason.get("Item")
            if code == "ConditionalCheckFailed" and records.is_own_claim(item, by_key[key].token):
                out.claimed.append(key)  # an earlier attempt of this very claim landed
                continue
            if code == "ConditionalCheckFailed" and item:
                verdict = records.classify(item, by_key[key].digest, clock)
                if verdict is not Seen.FREE:
                    out.answered[key] = verdict
                    continue
            alone.append(key)  # TransactionConflict, throttling, or a record that changed meanwhile
        return retry

    def _claim_alone(self, claim: Claim, deadline_ms: int, out: Claimed) -> None:
        """One conflicting key, with the single path's conditional update."""
        try:
            held = self.claim_one(claim, deadline_ms)
        except (ClientError, BotoCoreError, _Unavailable):
            out.unavailable.append(claim.event_id)
            return
        if held is None:
            out.claimed.append(claim.event_id)
        else:
            out.answered[claim.event_id] = held[0]

    def claim_one(self, claim: Claim, deadline_ms: int) -> tuple[Seen, dict[str, Any]] | None:
        """Claim one key with a conditional ``UpdateItem`` (the single path): ``None`` once claimed, else the
        verdict of the live record that holds it, and the item.

        A refusal whose record looks free (its claim passed its deadline between the condition and the
        answer) is retried with a fresh clock, as Powertools retries an inconsistent state; the table's own
        errors propagate (a 503 for the client).
        """
        for _ in range(MAX_CLAIM_ATTEMPTS):
            clock = Clock.read()
            try:
                self.client.update_item(**self._claim_update(claim, deadline_ms, clock))
                return None
            except ClientError as exc:
                if _code(exc) != "ConditionalCheckFailedException":
                    raise
                # ReturnValuesOnConditionCheckFailure; an emulator that omits it costs a consistent read.
                returned: Any = exc.response.get("Item")
                old = returned or self._read(claim.event_id)
            if records.is_own_claim(old, claim.token):
                return None  # this very claim landed on an attempt whose answer was lost
            seen = records.classify(old, claim.digest, clock)
            if old is not None and seen is not Seen.FREE:
                return seen, old
        raise _Unavailable(f"the key stayed contended for {MAX_CLAIM_ATTEMPTS} attempts")

    def _read(self, event_id: str) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self.client.get_item(
            TableName=self.table,
            Key={records.KEY_ATTR: {"S": event_id}},
            ConsistentRead=True,
            ProjectionExpression=_SCREEN_PROJECTION,
            ExpressionAttributeNames=_SCREEN_NAMES,
        ).get("Item")
        return item

    def _completion(self, result: IngestResult, digest: str) -> dict[str, Any]:
        return records.completed(accepted_update(self.table, result, self.retention), digest)

    def complete_one(self, result: IngestResult, digest: str) -> None:
        """Complete one record (of content ``digest``) and write its event RECEIVED: one ``UpdateItem`` (the
        single path)."""
        self.client.update_item(**self._completion(result, digest))

    def complete(self, results: Sequence[IngestResult], digests: Mapping[str, str]) -> set[str]:
        """Complete records and write their events RECEIVED, 100 events per transaction; ``digests``: each
        event id's content digest.

        Returns the event ids completed.
        """
        done: set[str] = set()
        for chunk in _chunks(results, MAX_TRANSACT_ITEMS):
            error = self._transact([{"Update": self._completion(r, digests[r.event_id])} for r in chunk])
            if error is None:
                done.update(r.event_id for r in chunk)
            elif _cancelled(error):
                # e.g. a TransactionConflict with a consumer already writing one of the events: each event on
                # its own, so one event cannot hold back the other 99.
                done.update(r.event_id for r in chunk if self._complete_alone(r, digests[r.event_id]))
        return done

    def _complete_alone(self, result: IngestResult, digest: str) -> bool:
        try:
            self.complete_one(result, digest)
        except (ClientError, BotoCoreError) as exc:
            logger.warning("completion failed", extra={"error": _name(exc)})
            return False
        return True

    def release(self, claims: Sequence[Claim]) -> None:
        """Give up claims whose events were not queued, so the client's retry is not answered 409.

        Only these very claims go (their tokens). One conditional ``DeleteItem`` each (a failure path: a batch
        delete cannot carry the condition). A claim that cannot be released is left to its deadline, as
        Powertools leaves it.
        """
        for claim in claims:
            try:
                self.release_one(claim)
            except (ClientError, BotoCoreError) as exc:
                logger.warning("release failed", extra={"error": _name(exc)})

    def release_one(self, claim: Claim) -> None:
        """Give up this very claim (the single path); the table's errors propagate, a refused condition (the
        claim is not this request's any more, or the consumer wrote the item) does not."""
        try:
            self.client.delete_item(**records.release_delete(self.table, claim.event_id, claim.token))
        except ClientError as exc:
            if _code(exc) != "ConditionalCheckFailedException":
                raise

    def _write(self, items: list[dict[str, Any]], token: str) -> ClientError | BotoCoreError | None:
        try:
            self.client.transact_write_items(TransactItems=items, ClientRequestToken=token)
        except (ClientError, BotoCoreError) as exc:
            return exc
        return None

    def _transact(self, items: list[dict[str, Any]], retries: int = 2) -> ClientError | BotoCoreError | None:
        """Unconditional writes, retried; returns the last error, or None once committed."""
        last: list[ClientError | BotoCoreError | None] = [None]
        token = [str(uuid.uuid4())]

        def send(batch: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
            # After an unknown outcome the same token makes the retry a no-op if the write landed; a
            # cancelled transaction wrote nothing, so it is simply sent again under a new one.
            if _cancelled(last[0]):
                token[0] = str(uuid.uuid4())
            last[0] = self._write(batch, token[0])
            if last[0] is None:
                return None
            logger.warning("completion failed", extra={"error": _name(last[0])})
            return batch

        return None if until_done(send, items, retries=retries) is None else last[0]
