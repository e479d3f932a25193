"""E-commerce read endpoints under /api/v1/ecommerce."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel

from plutus.core.errors import ResourceNotFoundError
from plutus.domains.deps import State
from plutus.domains.ecommerce.handlers import (
    ALSO_TOP,
    FLAG_PREFIX,
    FUNNEL,
    fraud_day_pk,
    product_pk,
    user_pk,
)
from plutus.domains.kit import PATH_ID, as_int

api = APIRouter(prefix="/api/v1/ecommerce", tags=["ecommerce"])

Id = Annotated[str, Path(pattern=PATH_ID)]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No state for this id"}}


class AlsoBought(BaseModel):
    """A product bought by customers who viewed the requested one."""

    product_id: str
    customers: int


class AlsoBoughtView(BaseModel):
    """Top co-purchases of one viewed product, most customers first."""

    product_id: str
    also_bought: list[AlsoBought]


class FunnelView(BaseModel):
    """One product's funnel, with abandonment derived for inventory planning."""

    product_id: str
    views: int
    clicks: int
    cart_adds: int
    carted_units: int
    checkout_units: int
    purchased_units: int
    orders: int
    abandoned_cart_units: int
    cart_abandonment_rate: float | None
    checkout_abandonment_rate: float | None
    revenue: dict[str, Decimal]


class FraudFlag(BaseModel):
    """A checkout-velocity flag."""

    kind: str
    user_id: str
    checkouts: int
    window_seconds: int
    threshold: int
    cart_ids: list[str]
    flagged_at: str
    event_id: str


def funnel_view(product_id: str, item: dict[str, Any]) -> FunnelView:
    """Derive abandonment from the funnel counters.

    Units carted but never paid for are abandoned (clamped at 0: a "buy now" skips the cart). Rates are
    ``None`` until there is something to divide by.
    """
    carted = as_int(item.get("carted_units"))
    checkout = as_int(item.get("checkout_units"))
    purchased = as_int(item.get("purchased_units"))
    abandoned = max(carted - purchased, 0)
    return FunnelView(
        product_id=product_id,
        views=as_int(item.get("views")),
        clicks=as_int(item.get("clicks")),
        cart_adds=as_int(item.get("cart_adds")),
        carted_units=carted,
        checkout_units=checkout,
        purchased_units=purchased,
        orders=as_int(item.get("orders")),
        abandoned_cart_units=abandoned,
        cart_abandonment_rate=round(abandoned / carted, 4) if carted else None,
        checkout_abandonment_rate=round(max(checkout - purchased, 0) / checkout, 4) if checkout else None,
        revenue={k.removeprefix("revenue_"): v for k, v in item.items() if k.startswith("revenue_")},
    )


@api.get("/products/{product_id}/also-bought", response_model=AlsoBoughtView, responses=_NOT_FOUND)
def get_also_bought(
    product_id: Id, state: State, limit: Annotated[int, Query(ge=1, le=50)] = 10
) -> AlsoBoughtView:
    """Customers who viewed this product also bought: top products by number of customers."""
    pk = product_pk(product_id)
    top = state.get(pk, ALSO_TOP)
    if top is None and state.get(pk, FUNNEL) is None:
        raise ResourceNotFoundError("no state for this product")
    items = (top or {}).get("items", [])[:limit]
    return AlsoBoughtView(
        product_id=product_id,
        also_bought=[AlsoBought(product_id=i["product_id"], customers=as_int(i["customers"])) for i in items],
    )


@api.get("/products/{product_id}/funnel", response_model=FunnelView, responses=_NOT_FOUND)
def get_funnel(product_id: Id, state: State) -> FunnelView:
    """Views, clicks, cart and checkout units vs units purchased, and the abandonment they imply."""
    item = state.get(product_pk(product_id), FUNNEL)
    if item is None:
        raise ResourceNotFoundError("no state for this product")
    return funnel_view(product_id, item)


@api.get("/users/{user_id}/flags", response_model=list[FraudFlag])
def get_user_flags(
    user_id: Id, state: State, limit: Annotated[int, Query(ge=1, le=100)] = 20
) -> list[dict[str, Any]]:
    """A user's fraud flags, newest first (empty when none)."""
    return state.query(user_pk(user_id), FLAG_PREFIX, limit=limit, newest_first=True)


@api.get("/fraud-flags", response_model=list[FraudFlag])
def get_fraud_flags(
    state: State,
    date: Annotated[str, Query(pattern=r"^\d{4}-\d{2}-\d{2}$")],
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[dict[str, Any]]:
    """Every fraud flag raised on one (UTC) day, newest first."""
    return state.query(fraud_day_pk(date), limit=limit, newest_first=True)
