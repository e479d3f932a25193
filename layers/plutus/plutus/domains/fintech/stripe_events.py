"""Stripe's own events, posted to the fintech balances: point Stripe at ``/api/v1/webhooks/stripe`` and a
succeeded payment credits the account, a refund debits it, each exactly once.

The webhook route (``plutus.ingest.webhooks``) delivers a Stripe event as it is: type
``stripe.<Stripe type>``, the Stripe event ``id`` as the idempotency key, the whole event as the payload.
These models read only what the ledger needs and let every other field through (Stripe adds fields without
a new API version). The account is the object's ``metadata.account_id``, else its Stripe ``customer``.

Exactly once, in three layers: the ingest dedupe on the Stripe event id (a redelivered webhook is a 200
replay, one message); the consumer's marker on the event id (an SQS redelivery commits nothing twice); and
the fintech marker per money movement (``POSTED#<payment intent>``, ``POSTED#<charge>:refunded:<total>``),
so the same payment arriving under another Stripe event id posts nothing either.

``charge.refunded`` carries the charge's cumulative ``amount_refunded``: what is debited is the increase over
the total already posted for that charge (kept on the account as ``STRIPE#REFUNDED#<charge>``), so partial
refunds add up and an older total arriving late debits nothing. Stripe does not order its deliveries, so a
refund that arrives before its payment intent has posted fails retryably and SQS brings it back later.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from plutus.core.effects import Effect, Update
from plutus.core.errors import PlutusError
from plutus.core.registry import EventContext, EventModel
from plutus.domains.default import handle_record_receipt
from plutus.domains.fintech.handlers import (
    POSTED_PREFIX,
    Movement,
    account_pk,
    apply_movement,
    bind_movement,
    decide,
    router,
)
from plutus.domains.kit import Ident, as_int, version_of

REFUNDED_PREFIX = "STRIPE#REFUNDED#"
# Stripe amounts are integers in the currency's minor unit; these currencies have none, or three decimals.
ZERO_DECIMAL = frozenset(
    {
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    }
)
THREE_DECIMAL = frozenset({"bhd", "jod", "kwd", "omr", "tnd"})

StripeCurrency = Field(pattern=r"^[a-z]{3}$")
MinorAmount = Field(ge=0, le=10**15)


class PaymentNotPostedError(PlutusError):
    """A refund arrived before the payment it refunds was posted: retried, not failed."""


def major_amount(minor: int, currency: str) -> Decimal:
    """A Stripe minor-unit amount in the currency's major unit (2000 usd -> 20.00, 2000 jpy -> 2000)."""
    places = 0 if currency in ZERO_DECIMAL else 3 if currency in THREE_DECIMAL else 2
    return Decimal(minor).scaleb(-places)


def account_of(metadata: dict[str, Any], customer: str | None) -> str | None:
    """The fintech account a Stripe object belongs to: ``metadata.account_id``, else its customer."""
    account = metadata.get("account_id")
    return account if isinstance(account, str) and account else customer


class _StripeObject(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class PaymentIntent(_StripeObject):
    """The fields of a Stripe PaymentIntent the ledger reads."""

    id: Ident
    amount_received: int = MinorAmount
    currency: str = StripeCurrency
    customer: Ident | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class Charge(_StripeObject):
    """The fields of a Stripe Charge the ledger reads."""

    id: Ident
    amount_refunded: int = MinorAmount
    currency: str = StripeCurrency
    customer: Ident | None = None
    payment_intent: Ident | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class _PaymentIntentData(_StripeObject):
    object: PaymentIntent


class _ChargeData(_StripeObject):
    object: Charge


def _stripe_event(event_type: str, data_object: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "evt_3QSample0001" if event_type == "payment_intent.succeeded" else "evt_3QSample0002",
        "object": "event",
        "api_version": "2024-06-20",
        "created": 1795730400,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
        "data": {"object": data_object},
    }


class _StripeMoneyEvent(EventModel):
    """What both Stripe types share: a version, the money restriction, the event id and its creation time."""

    schema_version = "1.0"
    restricted = "money"
    # Stripe does not order its deliveries, so there is no order of theirs to keep: on a FIFO queue each
    # Stripe event is its own message group (a refund ahead of its payment is retried, see the handler).
    ordering_key = "id"

    id: Ident
    created: int = Field(ge=0)


class StripePaymentIntentSucceededV1(_StripeMoneyEvent):
    """Stripe ``payment_intent.succeeded``: the amount received credits the account."""

    event_type = "stripe.payment_intent.succeeded"
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                _stripe_event(
                    "payment_intent.succeeded",
                    {
                        "id": "pi_3QSample0001",
                        "object": "payment_intent",
                        "amount": 2000,
                        "amount_received": 2000,
                        "currency": "usd",
                        "customer": "cus_Sample0001",
                        "metadata": {"account_id": "acc_10045"},
                        "status": "succeeded",
                    },
                )
            ]
        }
    )

    data: _PaymentIntentData


class StripeChargeRefundedV1(_StripeMoneyEvent):
    """Stripe ``charge.refunded``: the increase of the charge's refunded total debits the account."""

    event_type = "stripe.charge.refunded"
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                _stripe_event(
                    "charge.refunded",
                    {
                        "id": "ch_3QSample0001",
                        "object": "charge",
                        "amount": 2000,
                        "amount_refunded": 500,
                        "currency": "usd",
                        "customer": "cus_Sample0001",
                        "payment_intent": "pi_3QSample0001",
                        "metadata": {"account_id": "acc_10045"},
                        "refunded": False,
                    },
                )
            ]
        }
    )

    data: _ChargeData


def _at(created: int) -> datetime:
    return datetime.fromtimestamp(created, UTC)


@router.on(StripePaymentIntentSucceededV1)
def handle_post_stripe_payment(event: StripePaymentIntentSucceededV1, ctx: EventContext) -> Iterator[Effect]:
    """Credit the amount received to the payment's account, once per payment intent."""
    intent = event.data.object
    account = account_of(intent.metadata, intent.customer)
    if account is None or intent.amount_received == 0:
        # Nothing to post to (no account, nothing received): a receipt says the event was applied.
        yield from handle_record_receipt(event, ctx)
        return
    m = Movement(
        account,
        intent.id,
        "stripe_payment",
        "credit",
        major_amount(intent.amount_received, intent.currency),
        intent.currency.upper(),
        _at(event.created),
    )
    content = {"account_id": account, "direction": "credit", "amount": m.amount, "currency": m.currency}
    marker = bind_movement(m, "payment_intent", content, ctx)
    if marker is not None:
        yield from apply_movement(m, decide(m, ctx), marker, ctx)


@router.on(StripeChargeRefundedV1)
def handle_post_stripe_refund(event: StripeChargeRefundedV1, ctx: EventContext) -> Iterator[Effect]:
    """Debit what the charge's refunded total grew by since the last total posted."""
    charge = event.data.object
    account = account_of(charge.metadata, charge.customer)
    if account is None:
        yield from handle_record_receipt(event, ctx)
        return
    pk, sk = account_pk(account), REFUNDED_PREFIX + charge.id
    if charge.payment_intent and ctx.state.get(pk, POSTED_PREFIX + charge.payment_intent) is None:
        # Stripe does not order deliveries: a refund can arrive before its payment. Not permanent, so SQS
        # brings it back once the payment has posted (or, after MaxReceiveCount, it waits in the DLQ).
        raise PaymentNotPostedError("the refund's payment is not posted yet")
    item = ctx.state.get(pk, sk)
    posted = as_int((item or {}).get("amount_refunded"))
    if charge.amount_refunded <= posted:
        # An older (or the same) total: already debited.
        yield from handle_record_receipt(event, ctx)
        return
    m = Movement(
        account,
        f"{charge.id}:refunded:{charge.amount_refunded}",
        "stripe_refund",
        "debit",
        major_amount(charge.amount_refunded - posted, charge.currency),
        charge.currency.upper(),
        _at(event.created),
    )
    content = {"account_id": account, "direction": "debit", "amount": m.amount, "currency": m.currency}
    marker = bind_movement(m, "refund", content, ctx)
    if marker is None:
        return
    yield Update(pk, sk, set={"amount_refunded": charge.amount_refunded}, expect_version=version_of(item))
    yield from apply_movement(m, decide(m, ctx), marker, ctx)
