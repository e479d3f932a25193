"""Idempotency records on the event's own item: Powertools' protocol, without a second table.

The event id is a name-based UUID of (source, idempotency_key) (:func:`plutus.core.envelope.derive_event_id`),
so the item that holds an event's status can also hold its key's idempotency record. Ingest then writes one
item per event instead of two: a claim (1 write unit) and a completion (1 write unit), where a separate
Powertools table cost a claim (1) and a completion written in a transaction with the event's RECEIVED record
(2 x 2). The protocol is Powertools' (``aws_lambda_powertools/utilities/idempotency``), on these attributes:

- ``idem_state``: ``INPROGRESS`` from the claim until the event's message is accepted by SQS, then
  ``COMPLETED`` (Powertools' ``status``; the event's own lifecycle stays in ``status``);
- ``idem_digest``: the content digest of the request that claimed the key (Powertools' ``validation``): the
  same key with other content is answered 422, whatever the record's state;
- ``idem_deadline``: the claim's deadline in epoch milliseconds (Powertools' ``in_progress_expiration``): a
  claim whose invocation died without completing or releasing it can be taken over by the same content after
  it, never before;
- ``idem_token``: a random token per claim, which tells a request its own claim from any other (a retried
  write that landed, a release): two requests for one key can start in the same millisecond with the same
  timeout, so the deadline cannot.

What Powertools' ``expiration`` did is now the item's own retention (``expires_at``, the table's TTL): a key
is remembered for as long as its event is (``EventRetentionDays`` after processing, ``FailedRetentionDays``
otherwise), so a late duplicate is answered from the event instead of being processed again.

Every write here touches only these attributes and the event's immutable metadata (with ``if_not_exists``),
so it composes with the consumer's writes in any order: the consumer may write the item first (it can win
the race between SendMessage and the completion), and a claim never erases what the consumer wrote.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from plutus.core.envelope import IngestResult

KEY_ATTR = "event_id"
STATE_ATTR = "idem_state"
DIGEST_ATTR = "idem_digest"
DEADLINE_ATTR = "idem_deadline"
TOKEN_ATTR = "idem_token"
INPROGRESS = "INPROGRESS"
COMPLETED = "COMPLETED"
# The event's own attributes (besides its id) a completed record answers a replay from.
ANSWER_ATTRS = ("source", "event_type", "schema_version", "received_at")

# The claim's condition: nobody claimed the key, or a claim of the same content outlived its invocation (a
# crashed or timed-out Lambda must not lock the key for good). A claim of other content is never taken over:
# its message may be on the queue already, and the key would then name two contents.
CLAIM_CONDITION = (
    "attribute_not_exists(#state) OR (#state = :inprogress AND #deadline < :now_ms AND #digest = :digest)"
)
_CLAIM_NAMES = {"#state": STATE_ATTR, "#deadline": DEADLINE_ATTR, "#digest": DIGEST_ATTR}


@dataclass(frozen=True, slots=True)
class Clock:
    """One reading of the clock, in the units each attribute uses."""

    now: int
    now_ms: int

    @classmethod
    def read(cls) -> Clock:
        """Now."""
        now = time.time()
        return cls(int(now), int(now * 1000))


def new_token() -> str:
    """A claim's token: 128 random bits, never shared by two claims."""
    return uuid.uuid4().hex


def claim_update(
    table: str, event_id: str, digest: str, deadline_ms: int, expires_at: int, clock: Clock, token: str
) -> dict[str, Any]:
    """The conditional ``UpdateItem`` (or transact ``Update``) that claims a key on its event's item.

    An update, not a put: a claim that takes over a dead one must keep what the consumer wrote meanwhile.
    ``expires_at`` is set only on a new item: a claim that is never completed still leaves with the table's
    TTL. ``ReturnValuesOnConditionCheckFailure`` hands back the record that holds the key, so answering a
    duplicate costs no extra read (in a transaction it arrives in the cancellation reasons).
    """
    return {
        "TableName": table,
        "Key": {KEY_ATTR: {"S": event_id}},
        "UpdateExpression": (
            "SET #state = :inprogress, #digest = :digest, #deadline = :deadline, #token = :token, "
            "expires_at = if_not_exists(expires_at, :expires)"
        ),
        "ConditionExpression": CLAIM_CONDITION,
        "ExpressionAttributeNames": _CLAIM_NAMES | {"#token": TOKEN_ATTR},
        "ExpressionAttributeValues": {
            ":inprogress": {"S": INPROGRESS},
            ":token": {"S": token},
            ":digest": {"S": digest},
            ":deadline": {"N": str(deadline_ms)},
            ":now_ms": {"N": str(clock.now_ms)},
            ":expires": {"N": str(expires_at)},
        },
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }


def is_own_claim(item: Mapping[str, Any] | None, token: str) -> bool:
    """Whether ``item`` holds the claim written with ``token``: an earlier attempt of this very claim landed
    and its answer was lost (DynamoDB honours a transaction's ClientRequestToken; a retried ``UpdateItem``
    meets its own claim). No other claim writes the token."""
    return bool(
        item
        and item.get(STATE_ATTR, {}).get("S") == INPROGRESS
        and item.get(TOKEN_ATTR, {}).get("S") == token
    )


def completed(update: dict[str, Any], digest: str) -> dict[str, Any]:
    """``update`` (the event's RECEIVED write, :func:`plutus.adapters.events_store.accepted_update`) also
    completing the key's record: one write unit instead of a transaction's four.

    Unconditional, as Powertools' completion is: only the holder of the claim gets here. It writes the
    content digest if the item lacks one: a claim that vanished before its completion (the item's TTL, or any
    delete) must not leave a COMPLETED record without a digest, which every later request, the same one
    included, would meet as a reused key (422).
    """
    return {
        **update,
        "UpdateExpression": update["UpdateExpression"]
        + ", #state = :completed, #digest = if_not_exists(#digest, :digest)",
        "ExpressionAttributeNames": update["ExpressionAttributeNames"]
        | {"#state": STATE_ATTR, "#digest": DIGEST_ATTR},
        "ExpressionAttributeValues": update["ExpressionAttributeValues"]
        | {":completed": {"S": COMPLETED}, ":digest": {"S": digest}},
    }


def release_delete(table: str, event_id: str, token: str) -> dict[str, Any]:
    """The conditional ``DeleteItem`` that gives up a claim whose event was not queued, so the client's retry
    is not answered 409.

    Only a bare claim goes: an item the consumer wrote (``status``) holds an event that was queued by an
    earlier attempt, and deleting it would forget that the event was processed. Such a claim is left to its
    deadline. And only this request's own claim goes (its token, as :func:`is_own_claim` tells it): a
    claim that outlived its deadline may have been taken over by a retry that is sending its message now, and
    deleting that one would free the key for other content and leave the retry's completion without a digest.
    """
    return {
        "TableName": table,
        "Key": {KEY_ATTR: {"S": event_id}},
        "ConditionExpression": "attribute_not_exists(#status) AND #state = :inprogress AND #token = :token",
        "ExpressionAttributeNames": {"#status": "status", "#state": STATE_ATTR, "#token": TOKEN_ATTR},
        "ExpressionAttributeValues": {":inprogress": {"S": INPROGRESS}, ":token": {"S": token}},
    }


def answer(item: Mapping[str, Any]) -> IngestResult:
    """The 202 a completed record replays: the event's own metadata."""
    fields = {name: item[name]["S"] for name in (KEY_ATTR, *ANSWER_ATTRS) if name in item}
    return IngestResult.model_validate(fields | {"replayed": True})


class Seen(Enum):
    """What an existing record means for a request with the same key."""

    FREE = "free"  # no record, or a claim of the same content that outlived its invocation
    REPLAY = "replay"  # COMPLETED with the same content: answer its event id
    IN_PROGRESS = "in_progress"  # another request holds the key right now: 409
    REUSED = "reused"  # same key, different content: 422


def classify(item: Mapping[str, Any] | None, digest: str, clock: Clock) -> Seen:
    """Classify an event's item (DynamoDB JSON) for a request with its key, as Powertools would.

    An item without a record (the consumer wrote it first, after an ingest that crashed between SendMessage
    and completion) is free: the claim takes it, and the event's consumer-side marker absorbs the second
    message.
    """
    if not item or STATE_ATTR not in item:
        return Seen.FREE
    # Powertools validates the payload before it looks at the status.
    if item.get(DIGEST_ATTR, {}).get("S") != digest:
        return Seen.REUSED
    if item[STATE_ATTR]["S"] == COMPLETED:
        return Seen.REPLAY
    deadline = item.get(DEADLINE_ATTR, {}).get("N")
    if deadline is not None and int(deadline) < clock.now_ms:
        return Seen.FREE
    return Seen.IN_PROGRESS
