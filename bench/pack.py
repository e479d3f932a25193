"""A bench-only domain pack: one typed event whose handler has one exactly-once effect (a balance credit
that may never take the balance below zero)."""

from __future__ import annotations

from collections.abc import Iterable

from plutus.core.effects import Effect, Update
from plutus.core.registry import EventContext, EventModel, Router

router = Router("bench")


class AccountCreditedV1(EventModel):
    """Money credited to an account."""

    event_type = "bench.account_credited"
    schema_version = "1"

    account: str
    amount: int


@router.on(AccountCreditedV1)
def handle_account_credited(event: AccountCreditedV1, ctx: EventContext) -> Iterable[Effect]:
    """Add the amount to the account's balance, guarded by a floor of zero."""
    yield Update(f"ACCOUNT#{event.account}", "BALANCE", add={"balance": event.amount}, floor=("balance", 0))
