"""E-commerce processors.

- "Customers who viewed this also bought": a user's recent product views are remembered; when the user pays,
  each (viewed, bought) pair not yet credited for that user adds one customer to a counter, and the viewed
  product's bounded top-N list is rewritten from the counters under its version.
- The funnel per product (views, clicks, cart adds, checkouts, purchases) in atomic counters; abandonment is
  derived from them at read time.
- Fraud: N ``checkout_started`` by one user within T seconds raise one flag per burst.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from plutus.core.effects import Effect, Put, Update
from plutus.core.registry import EventContext, Router
from plutus.domains.ecommerce.models import (
    AddToCartV1,
    CheckoutStartedV1,
    PageViewV1,
    PaymentCompletedV1,
    ProductClickV1,
    units_by_product,
)
from plutus.domains.ecommerce.settings import EcommerceSettings
from plutus.domains.kit import as_float, as_int, bind_business_id, epoch, event_time, iso, num, version_of

router = Router("ecommerce", settings=EcommerceSettings)

AFFINITY = "AFFINITY"
CHECKOUTS = "CHECKOUTS"
FUNNEL = "FUNNEL"
ALSO_TOP = "ALSO_TOP"
ALSO_PREFIX = "ALSO#"
FLAG_PREFIX = "FLAG#"


def user_pk(user_id: str) -> str:
    """Partition of one shopper: recent views, credited pairs, checkout times, fraud flags."""
    return f"EC#USER#{user_id}"


def product_pk(product_id: str) -> str:
    """Partition of one product: funnel counters, also-bought counters and its top-N list."""
    return f"EC#PRODUCT#{product_id}"


def order_pk(order_id: str) -> str:
    """The marker binding an order id to its first payment."""
    return f"EC#ORDER#{order_id}"


def fraud_day_pk(day: str) -> str:
    """Partition of one day's fraud flags, for analysts who do not know the user yet."""
    return f"EC#FRAUD#{day}"


def pair_key(viewed: str, bought: str) -> str:
    """How a credited (viewed, bought) pair is remembered on the user."""
    return f"{viewed}>{bought}"


# --- customers who viewed this also bought -------------------------------------------------------------


@router.on(PageViewV1)
@router.on(ProductClickV1)
def handle_remember_product_view(event: PageViewV1 | ProductClickV1, ctx: EventContext) -> Iterator[Effect]:
    """Keep the user's most recent product views (bounded), newest first."""
    if event.product_id is None:
        return
    seen = iso(event_time(event.occurred_at, ctx))
    pk = user_pk(event.user_id)
    item = ctx.state.get(pk, AFFINITY)
    views = {str(v["product_id"]): str(v["at"]) for v in (item or {}).get("viewed", [])}
    # A late (out-of-order) view must not make a product look less recent than it is.
    views[event.product_id] = max(views.get(event.product_id, seen), seen)
    recent = sorted(views.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)
    kept = recent[: ctx.settings_of(EcommerceSettings).view_history]
    yield Update(
        pk,
        AFFINITY,
        set={"viewed": [{"product_id": p, "at": t} for p, t in kept]},
        expect_version=version_of(item),
    )


@router.on(PaymentCompletedV1)
def handle_credit_also_bought(event: PaymentCompletedV1, ctx: EventContext) -> Iterator[Effect]:
    """Credit each (recently viewed, bought) pair once per customer; refresh the viewed products' top-N."""
    settings = ctx.settings_of(EcommerceSettings)
    paid_at = iso(event_time(event.occurred_at, ctx))
    pk = user_pk(event.user_id)
    affinity = ctx.state.get(pk, AFFINITY)
    if affinity is None:
        return
    credited = [str(p) for p in affinity.get("credited", [])]
    done = set(credited)
    viewed = [str(v["product_id"]) for v in affinity.get("viewed", []) if str(v["at"]) <= paid_at]
    viewed = viewed[: settings.also_bought_view_window]
    bought = list(units_by_product(event.items))
    pairs = [(v, b) for v in viewed for b in bought if v != b and pair_key(v, b) not in done]
    # Bounded so the event's effects fit one transaction (see ecommerce_also_bought_max_pairs).
    pairs = pairs[: settings.also_bought_max_pairs]
    if not pairs:
        return
    by_viewed: dict[str, list[str]] = {}
    for v, b in pairs:
        by_viewed.setdefault(v, []).append(b)
    for viewed_id, also in by_viewed.items():
        yield from _credit_pairs(viewed_id, also, ctx)
    credited += [pair_key(v, b) for v, b in pairs]
    yield Update(
        pk,
        AFFINITY,
        set={"credited": credited[-settings.credited_pairs_cap :]},
        expect_version=version_of(affinity),
    )


def _credit_pairs(viewed_id: str, also: list[str], ctx: EventContext) -> Iterator[Effect]:
    pk = product_pk(viewed_id)
    top = ctx.state.get(pk, ALSO_TOP)
    counts = {str(e["product_id"]): as_int(e["customers"]) for e in (top or {}).get("items", [])}
    for bought in also:
        # The counters are the truth; every write to them also rewrites the top list under its version, so
        # concurrent purchases of one viewed product serialise and a listed count always equals its counter
        # (only an unlisted pair needs its counter read).
        if bought not in counts:
            counts[bought] = as_int((ctx.state.get(pk, ALSO_PREFIX + bought) or {}).get("customers"))
        counts[bought] += 1
        yield Update(pk, ALSO_PREFIX + bought, add={"customers": 1})
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    ranked = ranked[: ctx.settings_of(EcommerceSettings).also_bought_top_n]
    yield Update(
        pk,
        ALSO_TOP,
        set={"items": [{"product_id": p, "customers": c} for p, c in ranked]},
        expect_version=version_of(top),
    )


# --- funnel per product: abandonment vs purchases, for inventory ----------------------------------------


def _funnel(product_id: str, **counters: Any) -> Update:
    return Update(product_pk(product_id), FUNNEL, add=counters)


@router.on(PageViewV1)
def handle_count_product_view(event: PageViewV1, ctx: EventContext) -> Iterator[Effect]:
    """A product page view."""
    if event.product_id is not None:
        yield _funnel(event.product_id, views=1)


@router.on(ProductClickV1)
def handle_count_product_click(event: ProductClickV1, ctx: EventContext) -> Iterator[Effect]:
    """A click on a product in a list."""
    yield _funnel(event.product_id, clicks=1)


@router.on(AddToCartV1)
def handle_count_cart_add(event: AddToCartV1, ctx: EventContext) -> Iterator[Effect]:
    """Units put in a cart."""
    yield _funnel(event.product_id, cart_adds=1, carted_units=event.quantity)


@router.on(CheckoutStartedV1)
def handle_count_checkout_units(event: CheckoutStartedV1, ctx: EventContext) -> Iterator[Effect]:
    """Units that reached checkout."""
    for product_id, units in units_by_product(event.items).items():
        yield _funnel(product_id, checkouts=1, checkout_units=units)


@router.on(PaymentCompletedV1)
def handle_count_purchased_units(event: PaymentCompletedV1, ctx: EventContext) -> Iterator[Effect]:
    """Units sold and revenue, per product (revenue per currency), once per order id."""
    order = {
        "user_id": event.user_id,
        "amount": event.amount,
        "currency": event.currency,
        # In any order: the same lines listed differently are the same order.
        "items": sorted([line.product_id, line.quantity, line.unit_price] for line in event.items),
    }
    # The order id is bound to its first payment: resent under a new key it counts nothing, with other lines
    # or amount it is a conflict (the event fails for an operator). The also-bought credit needs no marker:
    # a pair is credited once per customer however often they pay.
    marker = bind_business_id(
        ctx,
        order_pk(event.order_id),
        "ORDER",
        kind="order_id",
        content=order,
        at=event_time(event.occurred_at, ctx),
    )
    if marker is None:
        return
    yield marker
    revenue: dict[str, Any] = {}
    for line in event.items:
        revenue[line.product_id] = revenue.get(line.product_id, 0) + line.unit_price * line.quantity
    for product_id, units in units_by_product(event.items).items():
        yield _funnel(
            product_id,
            orders=1,
            purchased_units=units,
            **{f"revenue_{event.currency}": revenue[product_id]},
        )


# --- fraud: checkout velocity ---------------------------------------------------------------------------


@router.on(CheckoutStartedV1)
def handle_flag_checkout_velocity(event: CheckoutStartedV1, ctx: EventContext) -> Iterator[Effect]:
    """Flag a user once per burst when N checkouts fall within T seconds."""
    settings = ctx.settings_of(EcommerceSettings)
    threshold: int = settings.fraud_checkouts
    window: int = settings.fraud_window_seconds
    at = event_time(event.occurred_at, ctx)
    now = epoch(at)
    pk = user_pk(event.user_id)
    item = ctx.state.get(pk, CHECKOUTS) or {}
    history = [(as_float(c["t"]), str(c["cart_id"])) for c in item.get("recent", [])]
    history = sorted([*history, (now, event.cart_id)])
    # The newest N checkouts are all the test needs for in-order events; a very late event may under-count.
    kept = history[-threshold:]
    in_window = [(t, cart) for t, cart in history if now - window <= t <= now]
    changes: dict[str, Any] = {"recent": [{"t": num(t, 3), "cart_id": cart} for t, cart in kept]}
    last_flag = item.get("last_flag_at")
    if len(in_window) >= threshold and (last_flag is None or now - as_float(last_flag) > window):
        changes["last_flag_at"] = num(now, 3)
        yield from _fraud_flag(event, ctx, at, [cart for _, cart in in_window])
    yield Update(pk, CHECKOUTS, set=changes, expect_version=version_of(item or None))


def _fraud_flag(
    event: CheckoutStartedV1, ctx: EventContext, at: datetime, carts: list[str]
) -> Iterator[Effect]:
    settings = ctx.settings_of(EcommerceSettings)
    flag = {
        "kind": "checkout_velocity",
        "user_id": event.user_id,
        "checkouts": len(carts),
        "window_seconds": settings.fraud_window_seconds,
        "threshold": settings.fraud_checkouts,
        "cart_ids": sorted(set(carts)),
        "flagged_at": iso(at),
        "event_id": ctx.event_id,
    }
    yield Put(user_pk(event.user_id), f"{FLAG_PREFIX}{iso(at)}#{ctx.event_id}", flag)
    yield Put(fraud_day_pk(at.date().isoformat()), f"{iso(at)}#{event.user_id}", flag)
