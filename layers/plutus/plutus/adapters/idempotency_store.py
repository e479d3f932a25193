"""The idempotency table as ingest uses it: read, claim, complete and release many keys at once (batch), or
one (single).

Records are Powertools' own (:mod:`plutus.adapters.idempotency_records`), so one (source, idempotency_key) is
deduplicated across the single and batch paths. Every batch API can fail in part, and each partial failure is
handled here, through the one retry helper (:func:`plutus.adapters.retry.until_done`):

- ``UnprocessedKeys``: retried; keys still unread are left to the claim, whose condition decides.
- a cancelled claim: the reasons say which keys conflicted. Keys whose stored record came back are answered
  from it; the rest of the chunk is retried without them; only the conflicting keys are claimed one by one.
- a failed completion: retried, then per event, so one event cannot hold back the other 49.
- ``UnprocessedItems`` of a release: retried; what is left expires at ``in_progress_expiration``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
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
MAX_DELETE_REQUESTS = 25
# The single path's claim, retried while the record it meets looks free (Powertools: 1 + 2 retries).
MAX_CLAIM_ATTEMPTS = 3

# What a stored record says to a request with the same key (never FREE), and the stored event id.
Verdict = tuple[Seen, str | None]


@dataclass(frozen=True, slots=True)
class Claim:
    """A key to claim with an INPROGRESS record, and the validation hash of the request's content."""

    rid: str
    validation: str


@dataclass(frozen=True, slots=True)
class Completion:
    """A claimed key whose event was queued: its record completes and the event is written RECEIVED."""

    rid: str
    validation: str
    result: IngestResult


@dataclass
class Claimed:
    """The outcome of claiming many keys: each key is claimed, answered from a stored record, or unknown."""

    claimed: list[str] = field(default_factory=list)
    answered: dict[str, Verdict] = field(default_factory=dict)
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
    """Many Powertools records at once, with a handful of calls."""

    def __init__(self, client: Any, table: str, events_table: str, retention: Retention) -> None:
        self.client = client
        self.table = table
        self.events_table = events_table
        self.retention = retention

    def seen(self, claims: Sequence[Claim], clock: Clock) -> dict[str, Verdict]:
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

        for chunk in _chunks([c.rid for c in claims], MAX_GET_KEYS):
            keys = [{records.KEY_ATTR: {"S": rid}} for rid in chunk]
            try:
                until_done(read, {self.table: {"Keys": keys, "ConsistentRead": True}})
            except (ClientError, BotoCoreError) as exc:
                logger.warning("batch read failed", extra={"error": type(exc).__name__})
        verdicts = {}
        for claim in claims:
            verdict = records.classify(found.get(claim.rid), claim.validation, clock)
            if verdict[0] is not Seen.FREE:
                verdicts[claim.rid] = verdict
        return verdicts

    def claim(self, claims: Sequence[Claim], clock: Clock, expiry: int, deadline_ms: int) -> Claimed:
        """Write INPROGRESS records in transactions of 100; only keys that conflicted are claimed alone."""
        puts = {
            c.rid: records.in_progress_put(self.table, c.rid, c.validation, expiry, deadline_ms, clock)
            for c in claims
        }
        validations = {c.rid: c.validation for c in claims}
        out = Claimed()
        alone: list[str] = []
        current: list[str] = []  # the keys of the attempt under way

        def transact(pending: list[str]) -> list[str] | None:
            current[:] = pending
            error = self._write([{"Put": puts[rid]} for rid in pending], str(uuid.uuid4()))
            if error is None:
                out.claimed.extend(pending)
                return None
            if not _cancelled(error):
                logger.warning("claim failed", extra={"error": _name(error)})
                raise _Unavailable
            return self._sort_cancelled(error, pending, puts, validations, clock, out, alone)

        for chunk in _chunks(list(puts), MAX_TRANSACT_ITEMS):
            try:
                left: list[str] | None = until_done(transact, chunk)
            except _Unavailable:
                # The outcome is unknown: answered 503. A claim that did land expires at
                # in_progress_expiration.
                out.unavailable += current
                continue
            alone += left or []  # cancelled again and again: the rest are claimed one by one
        for rid in alone:
            self._claim_alone(rid, puts[rid], validations[rid], out)
        return out

    @staticmethod
    def _sort_cancelled(
        exc: ClientError,
        pending: list[str],
        puts: dict[str, dict[str, Any]],
        validations: dict[str, str],
        clock: Clock,
        out: Claimed,
        alone: list[str],
    ) -> list[str]:
        """Split a cancelled claim: answer keys whose record came back, set conflicts aside, retry others.

        A record identical to the one this claim writes is this claim's own: an earlier attempt landed and its
        answer was lost (DynamoDB would have honoured the ClientRequestToken; not every emulator does).
        """
        reasons = exc.response.get("CancellationReasons") or []
        if len(reasons) != len(pending):
            alone += pending  # reasons missing: nothing says which keys conflicted
            return []
        retry: list[str] = []
        for rid, reason in zip(pending, reasons, strict=True):
            code = reason.get("Code") or "None"
            if code == "None":
                retry.append(rid)  # cancelled only because another key failed
                continue
            if code == "ConditionalCheckFailed" and reason.get("Item") == puts[rid]["Item"]:
                out.claimed.append(rid)
                continue
            if code == "ConditionalCheckFailed" and reason.get("Item"):
                verdict = records.classify(reason["Item"], validations[rid], clock)
                if verdict[0] is not Seen.FREE:
                    out.answered[rid] = verdict
                    continue
            alone.append(rid)  # TransactionConflict, throttling, or a record that changed meanwhile
        return retry

    def _claim_alone(self, rid: str, put: dict[str, Any], validation: str, out: Claimed) -> None:
        """Powertools' own conditional put for one conflicting key."""
        try:
            self.client.put_item(**put)
            out.claimed.append(rid)
        except ClientError as exc:
            if _code(exc) != "ConditionalCheckFailedException":
                out.unavailable.append(rid)
                return
            old: Any = exc.response.get("Item")  # ReturnValuesOnConditionCheckFailure
            if old == put["Item"]:
                out.claimed.append(rid)  # this very put landed on an attempt whose answer was lost
                return
            seen, event_id = records.classify(old, validation, Clock.read())
            # A record that exists but looks free was rewritten while we looked: someone holds the key now.
            out.answered[rid] = (Seen.IN_PROGRESS if seen is Seen.FREE else seen, event_id)
        except BotoCoreError:
            out.unavailable.append(rid)

    def claim_one(self, claim: Claim, expiry: int, deadline_ms: int) -> tuple[Seen, dict[str, Any]] | None:
        """Claim one key with Powertools' conditional put (the single path): ``None`` once claimed, else the
        verdict of the live record that holds it, and that record.

        A refusal whose record looks free (it expired or was released between the condition and the answer)
        is retried with a fresh clock, as Powertools retries an inconsistent state; the table's own errors
        propagate (a 503 for the client).
        """
        for _ in range(MAX_CLAIM_ATTEMPTS):
            clock = Clock.read()
            put = records.in_progress_put(self.table, claim.rid, claim.validation, expiry, deadline_ms, clock)
            try:
                self.client.put_item(**put)
                return None
            except ClientError as exc:
                if _code(exc) != "ConditionalCheckFailedException":
                    raise
                # ReturnValuesOnConditionCheckFailure; an emulator that omits it costs a consistent read.
                returned: Any = exc.response.get("Item")
                old = returned or self._read(claim.rid)
            if old == put["Item"]:
                return None  # this very put landed on an attempt whose answer was lost
            seen, _ = records.classify(old, claim.validation, clock)
            if old is not None and seen is not Seen.FREE:
                return seen, old
        raise _Unavailable(f"the key stayed contended for {MAX_CLAIM_ATTEMPTS} attempts")

    def _read(self, rid: str) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self.client.get_item(
            TableName=self.table, Key={records.KEY_ATTR: {"S": rid}}, ConsistentRead=True
        ).get("Item")
        return item

    def complete_one(self, completion: Completion, expiry: int) -> None:
        """Complete one record and write its event RECEIVED, in one transaction (the single path)."""
        self.client.transact_write_items(TransactItems=self._completion(completion, expiry))

    def release_one(self, rid: str) -> None:
        """Delete one claim whose event was not accepted, as Powertools does when the function raises."""
        self.client.delete_item(TableName=self.table, Key={records.KEY_ATTR: {"S": rid}})

    def complete(self, completions: Sequence[Completion], expiry: int) -> set[str]:
        """Complete records and write their events RECEIVED (two items per event, 50 events per call).

        Returns the keys completed.
        """
        done: set[str] = set()
        for chunk in _chunks(completions, MAX_TRANSACT_ITEMS // 2):
            error = self._transact([item for c in chunk for item in self._completion(c, expiry)])
            if error is None:
                done.update(c.rid for c in chunk)
            elif _cancelled(error):
                # e.g. a TransactionConflict with a consumer already writing one of the events: each event on
                # its own, so one event cannot hold back the other 49.
                done.update(
                    c.rid for c in chunk if self._transact(self._completion(c, expiry), retries=0) is None
                )
        return done

    def _completion(self, completion: Completion, expiry: int) -> list[dict[str, Any]]:
        data = records.response_data(completion.result)
        return [
            {
                "Update": records.completed_update(
                    self.table, completion.rid, expiry, data, completion.validation
                )
            },
            {"Update": accepted_update(self.events_table, completion.result, self.retention)},
        ]

    def release(self, rids: Sequence[str]) -> None:
        """Delete claims whose events were not accepted, so the client's retry is not answered 409."""

        def delete(request: dict[str, Any]) -> dict[str, Any] | None:
            left: dict[str, Any] | None = self.client.batch_write_item(RequestItems=request).get(
                "UnprocessedItems"
            )
            return left

        for chunk in _chunks(rids, MAX_DELETE_REQUESTS):
            request = {
                self.table: [{"DeleteRequest": {"Key": {records.KEY_ATTR: {"S": rid}}}} for rid in chunk]
            }
            try:
                left = until_done(delete, request)
            except (ClientError, BotoCoreError) as exc:
                logger.warning("release failed", extra={"error": type(exc).__name__})
                continue
            if left:
                # Left to expire at in_progress_expiration (the invocation's deadline), as Powertools' are.
                logger.warning("claims left to expire", extra={"events": sum(len(v) for v in left.values())})

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
