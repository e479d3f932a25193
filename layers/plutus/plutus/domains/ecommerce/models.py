"""E-commerce event payloads (schema 1.0)."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from plutus.core.registry import EventModel
from plutus.domains.kit import Currency, EventTime, Ident


class LineItem(BaseModel):
    """One product line of a checkout or an order."""

    model_config = ConfigDict(frozen=True)

    product_id: Ident
    quantity: int = Field(ge=1, le=10_000)
    unit_price: Decimal = Field(ge=0, max_digits=12, decimal_places=2)


# Distinct products per order are bounded so one event's effects fit one DynamoDB transaction.
MAX_LINE_ITEMS = 25


def units_by_product(items: list[LineItem]) -> dict[str, int]:
    """Units per product, merging repeated lines of the same product (first-seen order)."""
    units: Counter[str] = Counter()
    for line in items:
        units[line.product_id] += line.quantity
    return dict(units)


class PageViewV1(EventModel):
    """A page was viewed; product pages carry the product id."""

    event_type = "page_view"
    schema_version = "1.0"
    ordering_key = "user_id"
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "user_id": "u_1842",
                    "session_id": "s_7f3a9c",
                    "url": "https://shop.example.com/products/sku-4411-trail-runner",
                    "product_id": "sku-4411",
                    "referrer": "https://www.google.com/",
                    "occurred_at": "2026-11-26T09:58:12Z",
                }
            ]
        }
    )

    user_id: Ident
    session_id: Ident | None = None
    url: str = Field(min_length=1, max_length=2048)
    product_id: Ident | None = None
    occurred_at: EventTime | None = None


class ProductClickV1(EventModel):
    """A product was clicked in a list (search results, a carousel...)."""

    event_type = "product_click"
    schema_version = "1.0"
    ordering_key = "user_id"
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "user_id": "u_1842",
                    "session_id": "s_7f3a9c",
                    "product_id": "sku-4411",
                    "list_name": "search_results",
                    "position": 3,
                    "occurred_at": "2026-11-26T09:58:05Z",
                }
            ]
        }
    )

    user_id: Ident
    session_id: Ident | None = None
    product_id: Ident
    list_name: str | None = Field(default=None, max_length=128)
    position: int | None = Field(default=None, ge=1, le=100_000)
    occurred_at: EventTime | None = None


class AddToCartV1(EventModel):
    """Units of a product were put in a cart."""

    event_type = "add_to_cart"
    schema_version = "1.0"
    ordering_key = "user_id"
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "user_id": "u_1842",
                    "cart_id": "cart_5521",
                    "product_id": "sku-4411",
                    "quantity": 1,
                    "unit_price": 89.99,
                    "currency": "USD",
                    "occurred_at": "2026-11-26T10:01:40Z",
                }
            ]
        }
    )

    user_id: Ident
    cart_id: Ident
    product_id: Ident
    quantity: int = Field(ge=1, le=10_000)
    unit_price: Decimal = Field(ge=0, max_digits=12, decimal_places=2)
    currency: Currency
    occurred_at: EventTime | None = None


class CheckoutStartedV1(EventModel):
    """A user started checking out a cart."""

    event_type = "checkout_started"
    schema_version = "1.0"
    ordering_key = "user_id"
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "user_id": "u_1842",
                    "cart_id": "cart_5521",
                    "items": [
                        {"product_id": "sku-4411", "quantity": 1, "unit_price": 89.99},
                        {"product_id": "sku-2093", "quantity": 2, "unit_price": 12.5},
                    ],
                    "currency": "USD",
                    "occurred_at": "2026-11-26T10:03:02Z",
                }
            ]
        }
    )

    user_id: Ident
    cart_id: Ident
    items: list[LineItem] = Field(min_length=1, max_length=MAX_LINE_ITEMS)
    currency: Currency
    occurred_at: EventTime | None = None


class PaymentCompletedV1(EventModel):
    """An order was paid."""

    event_type = "payment_completed"
    schema_version = "1.0"
    ordering_key = "user_id"
    restricted = "money"
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "user_id": "u_1842",
                    "order_id": "ord_77120",
                    "cart_id": "cart_5521",
                    "items": [
                        {"product_id": "sku-4411", "quantity": 1, "unit_price": 89.99},
                        {"product_id": "sku-2093", "quantity": 2, "unit_price": 12.5},
                    ],
                    "amount": 114.99,
                    "currency": "USD",
                    "payment_method": "card",
                    "occurred_at": "2026-11-26T10:04:31Z",
                }
            ]
        }
    )

    user_id: Ident
    order_id: Ident
    cart_id: Ident | None = None
    items: list[LineItem] = Field(min_length=1, max_length=MAX_LINE_ITEMS)
    amount: Decimal = Field(ge=0, max_digits=14, decimal_places=2)
    currency: Currency
    payment_method: str | None = Field(default=None, max_length=64)
    occurred_at: EventTime | None = None
