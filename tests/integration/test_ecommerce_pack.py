"""E-commerce through the real ingest and consumer handlers against the emulator: typed validation at ingest,
read endpoints, and counters that a duplicate, a replay or a redelivery never move twice."""

from __future__ import annotations

from functools import partial

from tests import tables
from tests.builders import an_event
from tests.clock import DAY
from tests.integration.harness import Harness
from tests.integration.redelivery import drain_capturing, redeliver_after_commit, send_duplicate, send_replay

# Every event of this test comes from one producer.
storefront = partial(an_event, source="storefront")
SEQUENCE = [
    storefront(
        "v1",
        "page_view",
        {"user_id": "u1", "url": "/p/tent", "product_id": "tent", "occurred_at": f"{DAY}T09:00:00Z"},
    ),
    storefront(
        "a1",
        "add_to_cart",
        {
            "user_id": "u1",
            "cart_id": "c1",
            "product_id": "bag",
            "quantity": 2,
            "unit_price": 59.5,
            "currency": "USD",
            "occurred_at": f"{DAY}T09:02:00Z",
        },
    ),
    storefront(
        "p1",
        "payment_completed",
        {
            "user_id": "u1",
            "order_id": "o1",
            "cart_id": "c1",
            "currency": "USD",
            "amount": 59.5,
            "occurred_at": f"{DAY}T09:05:00Z",
            "items": [{"product_id": "bag", "quantity": 1, "unit_price": 59.5}],
        },
    ),
]


def test_a_known_type_with_an_invalid_payload_is_422_naming_the_field(stack: Harness) -> None:
    bad = storefront(
        "bad-1",
        "add_to_cart",
        {
            "user_id": "u1",
            "cart_id": "c1",
            "product_id": "bag",
            "quantity": 0,
            "unit_price": 5,
            "currency": "USD",
        },
    )
    response = stack.post_event(bad)

    assert response.status == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"].endswith("/invalid-event")
    assert [e["field"] for e in problem["errors"]] == ["payload.quantity"]
    assert stack.queue_depth() == 0 and stack.scan("EventsTable") == []


def test_an_unknown_type_is_422_listing_the_known_types(stack: Harness) -> None:
    response = stack.post_event(storefront("bad-2", "cart_abandoned", {"user_id": "u1"}))

    assert response.status == 422
    problem = response.json()
    assert problem["type"].endswith("/unknown-event-type")
    assert {"page_view", "product_click", "add_to_cart", "checkout_started", "payment_completed"} <= set(
        problem["known_event_types"]
    )
    assert stack.queue_depth() == 0


def test_reads_show_the_derived_state_and_redelivery_never_counts_twice(stack: Harness) -> None:
    # Given a view, a cart add and a payment, accepted and processed
    ids = [stack.post_event(e).json()["event_id"] for e in SEQUENCE]
    bodies = drain_capturing(stack)
    assert len(bodies) == 3

    also = stack.request("GET", "/api/v1/ecommerce/products/tent/also-bought").json()
    funnel = stack.request("GET", "/api/v1/ecommerce/products/bag/funnel").json()
    assert also["also_bought"] == [{"product_id": "bag", "customers": 1}]
    assert (funnel["carted_units"], funnel["purchased_units"], funnel["abandoned_cart_units"]) == (2, 1, 1)
    state_before = tables.by_key(stack.scan("StateTable"))

    # When every message arrives again: as a duplicate, as an operator replay, and after a lost delete
    for body in bodies:
        send_duplicate(stack, body)
        send_replay(stack, body)
    assert redeliver_after_commit(stack) == 6
    assert stack.drain() == 6
    for event in SEQUENCE:
        assert stack.post_event(event).status == 200

    # Then no counter, list or version moved, and each event was applied by its first attempt only
    assert tables.by_key(stack.scan("StateTable")) == state_before
    assert stack.request("GET", "/api/v1/ecommerce/products/tent/also-bought").json() == also
    assert stack.request("GET", "/api/v1/ecommerce/products/bag/funnel").json() == funnel
    for event_id in ids:
        view = stack.get_event(event_id).json()
        assert (view["status"], view["attempts"]) == ("PROCESSED", 1)
    assert stack.request("GET", "/api/v1/ecommerce/products/unknown/funnel").status == 404
