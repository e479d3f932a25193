"""Business ids are bound to their first event: the same id with the same content is a duplicate (no effect),
with other content a conflict (nothing applied, the event fails), never a silent no-op. One helper
(``kit.bind_business_id``) for every pack that has business ids."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from plutus.core.effects import Update
from plutus.core.errors import BusinessIdConflictError, EffectRejectedError
from plutus.core.registry import EventContext
from plutus.domains import adtech, ecommerce, fintech, gaming, healthcare, saas
from plutus.domains.adtech.handlers import campaign_pk
from plutus.domains.ecommerce.handlers import product_pk
from plutus.domains.fintech.handlers import account_pk, handle_post_transaction
from plutus.domains.fintech.models import TransactionInitiatedV1
from plutus.domains.gaming.handlers import player_pk
from plutus.domains.healthcare.handlers import patient_pk
from plutus.domains.kit import bind_business_id, content_digest
from plutus.domains.saas.handlers import account_pk as saas_account_pk
from tests.fakes import DomainRunner, FakeState, settings

AT = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)


def ctx(state: FakeState, event_id: str) -> EventContext:
    return EventContext(event_id, "src", "t", "1.0", "2026-11-26T08:00:00.000000Z", state, settings())


# --- the helper --------------------------------------------------------------------------------------------


def test_a_new_id_gets_a_versioned_create_only_marker_bound_to_the_event_and_its_content() -> None:
    marker = bind_business_id(
        ctx(FakeState(), "evt-1"), "P", "S", kind="transaction_id", content={"amount": 5}, at=AT, extra="x"
    )
    assert isinstance(marker, Update) and marker.expect_version == 0
    assert marker.set["first_event_id"] == "evt-1"
    assert marker.set["digest"] == content_digest({"amount": 5})
    assert marker.set["extra"] == "x" and "expires_at" not in marker.set


def test_the_same_content_is_a_duplicate_whatever_the_number_spelling() -> None:
    state = FakeState()
    first = bind_business_id(
        ctx(state, "evt-1"), "P", "S", kind="k", content={"amount": 5000, "c": "KES"}, at=AT
    )
    assert first is not None
    state.commit([first])
    again = {"c": "KES", "amount": Decimal("5000.00")}
    assert bind_business_id(ctx(state, "evt-2"), "P", "S", kind="k", content=again, at=AT) is None
    assert content_digest({"amount": 5000.0}) == content_digest({"amount": Decimal("5E+3")})


def test_other_content_is_a_conflict_naming_the_kind_and_first_event_but_no_content() -> None:
    state = FakeState()
    first = bind_business_id(ctx(state, "evt-1"), "P", "S", kind="k", content={"amount": "0.01"}, at=AT)
    assert first is not None
    state.commit([first])
    with pytest.raises(BusinessIdConflictError) as raised:
        bind_business_id(
            ctx(state, "evt-2"), "P", "S", kind="transaction_id", content={"amount": "5000"}, at=AT
        )
    assert (raised.value.kind, raised.value.first_event_id) == ("transaction_id", "evt-1")
    assert "5000" not in str(raised.value) and "0.01" not in str(raised.value)
    # A conflict is a refused effect: deterministic, so failing fast and replaying give the same answer
    assert isinstance(raised.value, EffectRejectedError)


def test_a_marker_written_before_digests_counts_as_the_same_content() -> None:
    state = FakeState()
    state.items[("P", "S")] = {"pk": "P", "sk": "S", "event_id": "evt-old"}
    assert bind_business_id(ctx(state, "evt-2"), "P", "S", kind="k", content={"amount": 1}, at=AT) is None


def test_two_copies_racing_with_different_content_end_in_one_effect_and_one_conflict() -> None:
    # Given two transactions under one id, computed on the same (empty) state, as two consumers would
    r = DomainRunner(routers=[fintech.router])

    def effects_of(event_id: str, amount: str) -> list[Any]:
        event = TransactionInitiatedV1.model_validate(
            {
                "transaction_id": "X",
                "account_id": "acc",
                "direction": "credit",
                "amount": amount,
                "currency": "KES",
            }
        )
        return list(
            handle_post_transaction(
                event,
                EventContext(
                    event_id, "s", "t", "1.0", "2026-11-26T08:00:00.000000Z", r.state, r.settings, r.packs
                ),
            )
        )

    small, real = effects_of("evt-a", "0.01"), effects_of("evt-b", "5000")
    r.state.commit(small)
    # When the second commits, its marker's versioned create is refused (the consumer then re-runs it)
    with pytest.raises(EffectRejectedError, match="version conflict"):
        r.state.commit(real)
    # Then the re-run sees the binding: a conflict, and only the first amount is on the account
    with pytest.raises(BusinessIdConflictError):
        effects_of("evt-b", "5000")
    assert r.state.get(account_pk("acc"), "BALANCE#KES")["balance"] == Decimal("0.01")  # type: ignore[index]


# --- every pack with business ids ---------------------------------------------------------------------------


def _credit(r: DomainRunner, txn: str, amount: str, account: str = "acc_v") -> str:
    payload = {
        "transaction_id": txn,
        "account_id": account,
        "direction": "credit",
        "amount": amount,
        "currency": "KES",
    }
    return r.send("transaction_initiated", payload)


def test_fintech_a_tiny_first_credit_cannot_swallow_the_real_one_under_its_id() -> None:
    # Given a source that took transaction id X first with a 0.01 credit
    r = DomainRunner(routers=[fintech.router])
    first = _credit(r, "X", "0.01")
    # When the real 5,000 credit under X arrives: a conflict naming the first event, nothing posted
    with pytest.raises(BusinessIdConflictError, match=f"transaction_id is bound to event {first}"):
        _credit(r, "X", "5000.00")
    balance = r.state.get(account_pk("acc_v"), "BALANCE#KES")
    assert balance is not None and balance["balance"] == Decimal("0.01")
    assert len(r.state.query(account_pk("acc_v"), "TXN#")) == 1
    # And the same 0.01 resent under another key is a duplicate: no effect, no error
    _credit(r, "X", "0.010")
    assert r.state.get(account_pk("acc_v"), "BALANCE#KES")["balance"] == Decimal("0.01")  # type: ignore[index]


def test_fintech_transfers_and_swipes_are_bound_to_amount_currency_and_accounts() -> None:
    r = DomainRunner(routers=[fintech.router])
    _credit(r, "seed", "1000", account="acc_a")
    transfer = {
        "transfer_id": "T",
        "from_account_id": "acc_a",
        "to_account_id": "acc_b",
        "amount": 100,
        "currency": "KES",
    }
    r.send("transfer_requested", transfer)
    r.send("transfer_requested", transfer)
    with pytest.raises(BusinessIdConflictError, match="transfer_id"):
        r.send("transfer_requested", transfer | {"to_account_id": "acc_evil"})
    swipe = {
        "swipe_id": "S",
        "account_id": "acc_a",
        "card_token": "tok",
        "card_last4": "4242",
        "amount": 10,
        "currency": "KES",
        "merchant_name": "Shop",
    }
    r.send("card_swipe", swipe)
    with pytest.raises(BusinessIdConflictError, match="swipe_id"):
        r.send("card_swipe", swipe | {"amount": 900})
    assert r.state.get(account_pk("acc_a"), "BALANCE#KES")["balance"] == Decimal(890)  # type: ignore[index]
    assert r.state.get(account_pk("acc_b"), "BALANCE#KES")["balance"] == Decimal(100)  # type: ignore[index]
    assert r.state.get(account_pk("acc_evil"), "BALANCE#KES") is None


def test_adtech_an_impression_click_or_conversion_id_with_other_content_is_a_conflict() -> None:
    r = DomainRunner(routers=[adtech.router])
    impression = {
        "impression_id": "imp_1",
        "campaign_id": "cmp_1",
        "advertiser_id": "adv_1",
        "creative_id": "cr_1",
        "placement_id": "pl_1",
        "user_id": "u_1",
        "cost_micros": 2_400,
        "occurred_at": "2026-11-26T10:00:00Z",
    }
    r.send("ad_impression", impression)
    with pytest.raises(BusinessIdConflictError, match="impression_id"):
        r.send("ad_impression", impression | {"cost_micros": 1_000_000})
    conversion = {
        "conversion_id": "cv_1",
        "advertiser_id": "adv_1",
        "user_id": "u_1",
        "value_micros": 59_990_000,
        "currency": "USD",
        "occurred_at": "2026-11-26T11:00:00Z",
    }
    r.send("conversion", conversion)
    with pytest.raises(BusinessIdConflictError, match="conversion_id"):
        r.send("conversion", conversion | {"value_micros": 1})
    spend = sum(int(s.get("spend_micros", 0)) for s in r.state.query(campaign_pk("cmp_1"), "DAY#"))
    assert spend == 2_400


def test_gaming_a_match_result_or_purchase_with_other_content_is_a_conflict() -> None:
    r = DomainRunner(routers=[gaming.router])
    result = {"match_id": "m1", "player_id": "ana", "score": 900, "result": "win", "duration_seconds": 600}
    r.send("match_completed", result)
    r.send("match_completed", result)  # a resend: a duplicate
    with pytest.raises(BusinessIdConflictError, match="match_id"):
        r.send("match_completed", result | {"score": 9_000})
    purchase = {
        "purchase_id": "p1",
        "player_id": "ana",
        "item_id": "sword",
        "item_name": "Sword",
        "price": 4.99,
        "currency": "USD",
    }
    r.send("in_game_purchase", purchase)
    with pytest.raises(BusinessIdConflictError, match="purchase_id"):
        r.send("in_game_purchase", purchase | {"price": 0})
    assert r.state.get(player_pk("ana"), "SCORE#global")["score"] == 900  # type: ignore[index]
    assert r.state.get(player_pk("ana"), "SPEND#USD")["total"] == Decimal("4.99")  # type: ignore[index]


def test_saas_an_export_with_other_rows_is_a_conflict_and_a_reinvite_is_not() -> None:
    r = DomainRunner(routers=[saas.router])
    export = {
        "account_id": "acc",
        "user_id": "u1",
        "export_id": "e1",
        "format": "csv",
        "rows": 100,
        "occurred_at": "2026-11-03T10:00:00Z",
    }
    r.send("export_triggered", export)
    with pytest.raises(BusinessIdConflictError, match="export_id"):
        r.send("export_triggered", export | {"rows": 10_000_000})
    invite = {
        "account_id": "acc",
        "inviter_user_id": "u1",
        "invitee_user_id": "u2",
        "role": "member",
        "occurred_at": "2026-11-03T11:00:00Z",
    }
    r.send("user_invited", invite)
    r.send("user_invited", invite | {"role": "admin", "inviter_user_id": "u3"})
    profile = r.state.get(saas_account_pk("acc"), "PROFILE")
    assert profile is not None and (profile["seats_invited"], profile["reinvites"]) == (1, 1)
    meters = r.state.query(saas_account_pk("acc"), "METER#")
    assert [(m["exports"], m["export_rows"]) for m in meters] == [(1, 100)]


def test_ecommerce_an_order_counts_once_and_other_lines_under_its_id_are_a_conflict() -> None:
    r = DomainRunner(routers=[ecommerce.router])
    payment = {
        "user_id": "u1",
        "order_id": "o1",
        "items": [{"product_id": "bag", "quantity": 1, "unit_price": 59.5}],
        "amount": 59.5,
        "currency": "USD",
    }
    r.send("payment_completed", payment)
    r.send("payment_completed", payment)  # resent under a new key: counted once
    two_lines = payment | {
        "order_id": "o2",
        "items": [
            {"product_id": "bag", "quantity": 1, "unit_price": 59.5},
            {"product_id": "mat", "quantity": 2, "unit_price": 10},
        ],
        "amount": 79.5,
    }
    r.send("payment_completed", two_lines)
    r.send("payment_completed", two_lines | {"items": two_lines["items"][::-1]})  # same lines, other order
    with pytest.raises(BusinessIdConflictError, match="order_id"):
        r.send(
            "payment_completed",
            payment | {"items": [{"product_id": "bag", "quantity": 9, "unit_price": 59.5}]},
        )
    funnel = r.state.get(product_pk("bag"), "FUNNEL")
    assert funnel is not None and (funnel["orders"], funnel["purchased_units"]) == (2, 2)


def test_healthcare_a_note_version_is_audited_once_and_another_fingerprint_is_a_conflict() -> None:
    r = DomainRunner(routers=[healthcare.router])
    note = {
        "patient_id": "pat_1",
        "note_id": "note_1",
        "note_version": 2,
        "author_id": "dr_1",
        "author_role": "attending",
        "updated_at": "2026-11-26T09:40:00Z",
        "content_sha256": "a" * 64,
    }
    r.send("doctor_notes_updated", note)
    r.send("doctor_notes_updated", note)  # the EHR resending under a new key
    with pytest.raises(BusinessIdConflictError, match="note_version"):
        r.send("doctor_notes_updated", note | {"content_sha256": "b" * 64})
    assert [e["note_version"] for e in r.state.query(patient_pk("pat_1"), "AUDIT#")] == [2]


class _StaleOnce:
    """A state reader that misses one key once, as a consumer does whose read raced a concurrent commit."""

    def __init__(self, state: FakeState, key: tuple[str, str]) -> None:
        self.state, self.key, self.missed = state, key, False

    def get(self, pk: str, sk: str) -> dict[str, Any] | None:
        if (pk, sk) == self.key and not self.missed:
            self.missed = True
            return None
        return self.state.get(pk, sk)

    def query(self, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        return self.state.query(*args, **kwargs)


@pytest.mark.parametrize(("amount", "outcome"), [("0.01", "duplicate"), ("5000", "conflict")])
def test_the_consumer_reruns_a_handler_that_lost_the_race_and_gets_one_answer(
    amount: str, outcome: str
) -> None:
    # Given X bound to a 0.01 credit, and a consumer whose read of X's marker is stale once (a lost race)
    r = DomainRunner(routers=[fintech.router])
    _credit(r, "X", "0.01")
    stale = _StaleOnce(r.state, (account_pk("acc_v"), "POSTED#X"))
    r.consumer.state = stale
    # When X arrives again: the versioned create is contended, and the consumer re-runs the handler at once
    if outcome == "conflict":
        with pytest.raises(BusinessIdConflictError):
            _credit(r, "X", amount)
    else:
        _credit(r, "X", amount)
    # Then the re-run saw the marker: the same content posts nothing, other content is a conflict
    assert stale.missed
    assert r.state.get(account_pk("acc_v"), "BALANCE#KES")["balance"] == Decimal("0.01")  # type: ignore[index]
    assert len(r.state.query(account_pk("acc_v"), "TXN#")) == 1
