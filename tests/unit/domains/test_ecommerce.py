"""E-commerce pack: event sequences in, derived state (and read endpoints) out."""

from __future__ import annotations

from typing import Any

import pytest

from plutus.core.errors import InvalidEventError
from plutus.core.registry import Registry
from plutus.domains import default, ecommerce
from plutus.domains.ecommerce.handlers import AFFINITY, CHECKOUTS, FUNNEL, product_pk, user_pk
from plutus.ingest.parsing import parse_ingest_body
from tests.builders import an_event, encoded
from tests.fakes import DomainRunner, packs, settings
from tests.unit.domains.readclient import read_client


def runner(**overrides: Any) -> DomainRunner:
    return DomainRunner(routers=[ecommerce.router], packs=packs(**overrides))


def view(r: DomainRunner, user: str, product: str, at: str) -> None:
    r.send(
        "page_view",
        {
            "user_id": user,
            "url": f"https://shop.example.com/p/{product}",
            "product_id": product,
            "occurred_at": at,
        },
    )


def pay(r: DomainRunner, user: str, order: str, products: dict[str, int], at: str, **extra: Any) -> str:
    items = [{"product_id": p, "quantity": q, "unit_price": 10.0} for p, q in products.items()]
    amount = sum(10.0 * q for q in products.values())
    return r.send(
        "payment_completed",
        {
            "user_id": user,
            "order_id": order,
            "items": items,
            "amount": amount,
            "currency": "USD",
            "occurred_at": at,
        }
        | extra,
    )


def also_bought(r: DomainRunner, product: str) -> list[tuple[str, int]]:
    top = r.state.get(product_pk(product), "ALSO_TOP") or {}
    return [(i["product_id"], int(i["customers"])) for i in top.get("items", [])]


def test_customers_who_viewed_a_product_and_bought_others_make_its_also_bought_list() -> None:
    r = runner()
    # Given three shoppers browsing and buying
    view(r, "u1", "tent", "2026-11-26T09:00:00Z")
    view(r, "u1", "stove", "2026-11-26T09:01:00Z")
    pay(r, "u1", "o1", {"sleeping-bag": 1, "lantern": 2}, "2026-11-26T09:10:00Z")
    view(r, "u2", "tent", "2026-11-26T10:00:00Z")
    pay(r, "u2", "o2", {"sleeping-bag": 1}, "2026-11-26T10:05:00Z")
    view(r, "u3", "tent", "2026-11-26T11:00:00Z")
    r.send(
        "product_click",
        {
            "user_id": "u3",
            "product_id": "stove",
            "list_name": "related",
            "position": 2,
            "occurred_at": "2026-11-26T11:00:30Z",
        },
    )
    pay(r, "u3", "o3", {"stove": 1}, "2026-11-26T11:02:00Z")

    # Then the tent's viewers bought the sleeping bag (2 customers), the stove and the lantern (1 each)
    assert also_bought(r, "tent") == [("sleeping-bag", 2), ("lantern", 1), ("stove", 1)]
    # and the stove's viewers bought the bag and the lantern; u3 buying the stove itself is no co-purchase
    assert also_bought(r, "stove") == [("lantern", 1), ("sleeping-bag", 1)]
    assert also_bought(r, "sleeping-bag") == []

    # And the read endpoint serves the list, most customers first, cut at `limit`
    client = read_client(ecommerce.api_router(), r.state)
    body = client.get("/api/v1/ecommerce/products/tent/also-bought").json()
    assert body == {
        "product_id": "tent",
        "also_bought": [
            {"product_id": "sleeping-bag", "customers": 2},
            {"product_id": "lantern", "customers": 1},
            {"product_id": "stove", "customers": 1},
        ],
    }
    limited = client.get("/api/v1/ecommerce/products/tent/also-bought", params={"limit": 1}).json()
    assert limited["also_bought"] == [{"product_id": "sleeping-bag", "customers": 2}]


def test_a_customer_counts_once_per_pair_however_often_they_buy() -> None:
    r = runner()
    view(r, "u1", "tent", "2026-11-26T09:00:00Z")
    pay(r, "u1", "o1", {"sleeping-bag": 1}, "2026-11-26T09:10:00Z")
    view(r, "u1", "tent", "2026-11-27T09:00:00Z")
    pay(r, "u1", "o2", {"sleeping-bag": 3}, "2026-11-27T09:10:00Z")

    assert also_bought(r, "tent") == [("sleeping-bag", 1)]
    assert r.state.get(user_pk("u1"), AFFINITY)["credited"] == ["tent>sleeping-bag"]  # type: ignore[index]


def test_a_view_after_the_payment_is_not_credited_even_when_processed_first() -> None:
    r = runner()
    # Given a view that happened after the payment but arrives before it
    view(r, "u1", "tent", "2026-11-26T12:00:00Z")
    pay(r, "u1", "o1", {"sleeping-bag": 1}, "2026-11-26T11:00:00Z")

    assert also_bought(r, "tent") == []


def test_the_top_list_is_bounded_and_a_climbing_product_displaces_the_weakest() -> None:
    r = runner(ecommerce_also_bought_top_n=2)
    purchases = [("u1", "bag"), ("u2", "bag"), ("u3", "lantern"), ("u4", "lantern"), ("u5", "mat")]
    for i, (user, product) in enumerate(purchases):
        view(r, user, "tent", f"2026-11-26T09:0{i}:00Z")
        pay(r, user, f"o{i}", {product: 1}, f"2026-11-26T09:0{i}:30Z")
    assert also_bought(r, "tent") == [("bag", 2), ("lantern", 2)]

    # When the mat is bought by three more viewers
    for i, user in enumerate(["u6", "u7", "u8"]):
        view(r, user, "tent", f"2026-11-26T10:0{i}:00Z")
        pay(r, user, f"p{i}", {"mat": 1}, f"2026-11-26T10:0{i}:30Z")

    # Then it leads with its true count (4, including the buyer from before it was listed)
    assert also_bought(r, "tent") == [("mat", 4), ("bag", 2)]


def test_view_history_is_bounded_newest_first() -> None:
    r = runner(ecommerce_view_history=3)
    for i, product in enumerate(["a", "b", "c", "d", "e"]):
        view(r, "u1", product, f"2026-11-26T09:0{i}:00Z")
    view(r, "u1", "b", "2026-11-26T09:09:00Z")
    viewed = r.state.get(user_pk("u1"), AFFINITY)["viewed"]  # type: ignore[index]
    assert [v["product_id"] for v in viewed] == ["b", "e", "d"]


def test_one_payment_credits_at_most_the_configured_pairs() -> None:
    r = runner(ecommerce_also_bought_max_pairs=4, ecommerce_also_bought_view_window=2)
    for i, product in enumerate(["a", "b", "c"]):
        view(r, "u1", product, f"2026-11-26T09:0{i}:00Z")
    pay(r, "u1", "o1", {"x": 1, "y": 1, "z": 1}, "2026-11-26T09:30:00Z")

    # Only the two most recent views (c, b) count, and only 4 pairs: c>x c>y c>z b>x
    assert also_bought(r, "c") == [("x", 1), ("y", 1), ("z", 1)]
    assert also_bought(r, "b") == [("x", 1)]
    assert also_bought(r, "a") == []


def test_the_funnel_shows_abandoned_units_against_purchases() -> None:
    r = runner()
    # Given a product viewed, clicked, carted by two shoppers, checked out and partly bought
    view(r, "u1", "boots", "2026-11-26T09:00:00Z")
    view(r, "u2", "boots", "2026-11-26T09:00:10Z")
    r.send("product_click", {"user_id": "u2", "product_id": "boots", "occurred_at": "2026-11-26T09:00:05Z"})
    r.send(
        "add_to_cart",
        {
            "user_id": "u1",
            "cart_id": "c1",
            "product_id": "boots",
            "quantity": 2,
            "unit_price": 120.0,
            "currency": "EUR",
            "occurred_at": "2026-11-26T09:01:00Z",
        },
    )
    r.send(
        "add_to_cart",
        {
            "user_id": "u2",
            "cart_id": "c2",
            "product_id": "boots",
            "quantity": 1,
            "unit_price": 120.0,
            "currency": "EUR",
            "occurred_at": "2026-11-26T09:02:00Z",
        },
    )
    # a checkout with the same product on two lines counts as one product with 2 units
    r.send(
        "checkout_started",
        {
            "user_id": "u1",
            "cart_id": "c1",
            "currency": "EUR",
            "items": [
                {"product_id": "boots", "quantity": 1, "unit_price": 120.0},
                {"product_id": "boots", "quantity": 1, "unit_price": 120.0},
                {"product_id": "socks", "quantity": 3, "unit_price": 4.5},
            ],
        },
    )
    r.send(
        "payment_completed",
        {
            "user_id": "u1",
            "order_id": "o1",
            "cart_id": "c1",
            "currency": "EUR",
            "amount": 253.5,
            "items": [
                {"product_id": "boots", "quantity": 2, "unit_price": 120.0},
                {"product_id": "socks", "quantity": 3, "unit_price": 4.5},
            ],
        },
    )

    client = read_client(ecommerce.api_router(), r.state)
    boots = client.get("/api/v1/ecommerce/products/boots/funnel").json()
    assert boots == {
        "product_id": "boots",
        "views": 2,
        "clicks": 1,
        "cart_adds": 2,
        "carted_units": 3,
        "checkout_units": 2,
        "purchased_units": 2,
        "orders": 1,
        "abandoned_cart_units": 1,
        "cart_abandonment_rate": 0.3333,
        "checkout_abandonment_rate": 0.0,
        "revenue": {"EUR": "240.0"},
    }
    socks = client.get("/api/v1/ecommerce/products/socks/funnel").json()
    # bought without ever being carted: nothing abandoned, no cart rate
    assert socks["abandoned_cart_units"] == 0 and socks["cart_abandonment_rate"] is None
    assert socks["revenue"] == {"EUR": "13.5"}
    assert r.state.get(product_pk("socks"), FUNNEL)["checkouts"] == 1  # type: ignore[index]


def checkout(r: DomainRunner, user: str, cart: str, at: str) -> None:
    r.send(
        "checkout_started",
        {
            "user_id": user,
            "cart_id": cart,
            "currency": "USD",
            "occurred_at": at,
            "items": [{"product_id": "gift-card-100", "quantity": 1, "unit_price": 100}],
        },
    )


def test_n_checkouts_within_t_seconds_raise_one_flag_per_burst() -> None:
    r = runner(ecommerce_fraud_checkouts=3, ecommerce_fraud_window_seconds=600)
    # Given two checkouts 20 minutes apart: no flag
    checkout(r, "u9", "c1", "2026-11-26T10:00:00Z")
    checkout(r, "u9", "c2", "2026-11-26T10:20:00Z")
    client = read_client(ecommerce.api_router(), r.state)
    assert client.get("/api/v1/ecommerce/users/u9/flags").json() == []

    # When two more follow within ten minutes (3 in 600 s), then a fourth in the same burst
    checkout(r, "u9", "c3", "2026-11-26T10:25:00Z")
    checkout(r, "u9", "c4", "2026-11-26T10:29:59Z")
    checkout(r, "u9", "c5", "2026-11-26T10:31:00Z")

    # Then exactly one flag names the three carts of the burst
    flags = client.get("/api/v1/ecommerce/users/u9/flags").json()
    assert len(flags) == 1
    assert flags[0] | {"event_id": "-"} == {
        "kind": "checkout_velocity",
        "user_id": "u9",
        "checkouts": 3,
        "window_seconds": 600,
        "threshold": 3,
        "cart_ids": ["c2", "c3", "c4"],
        "flagged_at": "2026-11-26T10:29:59.000000Z",
        "event_id": "-",
    }
    # And the state kept is bounded to the last N checkouts
    assert len(r.state.get(user_pk("u9"), CHECKOUTS)["recent"]) == 3  # type: ignore[index]

    # When a new burst starts well after the window, it is flagged again; other users are untouched
    for i in range(3):
        checkout(r, "u9", f"d{i}", f"2026-11-26T12:00:0{i}Z")
    checkout(r, "u1", "e1", "2026-11-26T12:00:00Z")
    assert len(client.get("/api/v1/ecommerce/users/u9/flags").json()) == 2
    day = client.get("/api/v1/ecommerce/fraud-flags", params={"date": "2026-11-26"}).json()
    assert [(f["user_id"], f["flagged_at"]) for f in day] == [
        ("u9", "2026-11-26T12:00:02.000000Z"),
        ("u9", "2026-11-26T10:29:59.000000Z"),
    ]
    assert client.get("/api/v1/ecommerce/users/u1/flags").json() == []


def test_unknown_products_are_404_and_malformed_ids_422() -> None:
    client = read_client(ecommerce.api_router(), runner().state)
    missing = client.get("/api/v1/ecommerce/products/nope/also-bought")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert missing.json()["type"].endswith("/resource-not-found")
    assert client.get("/api/v1/ecommerce/products/nope/funnel").status_code == 404
    assert client.get("/api/v1/ecommerce/products/a%23b/funnel").status_code == 422
    assert client.get("/api/v1/ecommerce/fraud-flags", params={"date": "yesterday"}).status_code == 422


REGISTRY = Registry(default.handle_record_receipt)
REGISTRY.include_router(ecommerce.router)


@pytest.mark.parametrize(
    ("event_type", "payload", "field"),
    [
        (
            "add_to_cart",
            {
                "user_id": "u1",
                "cart_id": "c1",
                "product_id": "p1",
                "quantity": 0,
                "unit_price": 5,
                "currency": "USD",
            },
            "payload.quantity",
        ),
        (
            "add_to_cart",
            {
                "user_id": "u1",
                "cart_id": "c1",
                "product_id": "p1",
                "quantity": 1,
                "unit_price": 5,
                "currency": "usd",
            },
            "payload.currency",
        ),
        ("page_view", {"user_id": "u#1", "url": "/"}, "payload.user_id"),
        (
            "checkout_started",
            {"user_id": "u1", "cart_id": "c1", "currency": "USD", "items": []},
            "payload.items",
        ),
        (
            "payment_completed",
            {
                "user_id": "u1",
                "order_id": "o1",
                "currency": "USD",
                "amount": 1,
                "items": [{"product_id": "p", "quantity": 1, "unit_price": -1}],
            },
            "payload.items.0.unit_price",
        ),
    ],
)
def test_ingest_names_the_invalid_payload_field(event_type: str, payload: dict[str, Any], field: str) -> None:
    body = encoded(an_event("k1", event_type, payload, source="shop"))
    with pytest.raises(InvalidEventError) as exc:
        parse_ingest_body(body, "application/json", None, settings(), REGISTRY)
    assert [e["field"] for e in exc.value.errors] == [field]
