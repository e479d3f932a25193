"""Gaming leaderboards through the real ingest and consumer against the emulator: a match result adds its
score exactly once, whether redelivered after a lost delete, duplicated, replayed, or sent again under a new
idempotency key; reads (leaderboard, rank, feed) go through the real ingest handler."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from tests import tables
from tests.builders import an_event
from tests.integration.harness import Harness
from tests.integration.redelivery import drain_capturing, redeliver_after_commit, send_duplicate, send_replay

# Every event of this test comes from one producer.
game_server = partial(an_event, source="game_server")
# Business time near now, so the feed's TTL (7 days) keeps the entries visible to the real read endpoint.
NOW = datetime.now(UTC).replace(microsecond=0)


def _when(minutes: int) -> str:
    return (NOW - timedelta(minutes=60 - minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _match(key: str, player: str, score: int, minute: int, result: str = "win") -> dict[str, Any]:
    return game_server(
        key,
        "match_completed",
        {
            "match_id": f"m-{key}",
            "player_id": player,
            "board": "ranked-s7",
            "score": score,
            "result": result,
            "duration_seconds": 1200,
            "occurred_at": _when(minute),
        },
    )


EVENTS = [
    game_server(
        "fr-1",
        "friend_request_sent",
        {"from_player_id": "bo", "to_player_id": "ana", "occurred_at": _when(0)},
    ),
    game_server("login-1", "player_login", {"player_id": "ana", "platform": "pc", "occurred_at": _when(1)}),
    _match("a1", "ana", 1500, 2),
    _match("b1", "bo", 900, 3, "loss"),
    _match("a2", "ana", 700, 4),
    _match("c1", "cy", 2000, 5),
    game_server(
        "buy-1",
        "in_game_purchase",
        {
            "purchase_id": "pur_1",
            "player_id": "ana",
            "item_id": "skin_1",
            "item_name": "Dragon Skin",
            "price": 9.99,
            "currency": "USD",
            "occurred_at": _when(6),
        },
    ),
]


def reads(stack: Harness) -> dict[str, Any]:
    return {
        "board": stack.request("GET", "/api/v1/gaming/leaderboards/ranked-s7?limit=10").json(),
        "rank": stack.request("GET", "/api/v1/gaming/leaderboards/ranked-s7/players/bo/rank").json(),
        "ana": stack.request("GET", "/api/v1/gaming/players/ana").json(),
        "feed": stack.request("GET", "/api/v1/gaming/players/bo/feed").json(),
    }


def test_a_match_result_scores_exactly_once_under_redelivery_duplicates_and_replays(stack: Harness) -> None:
    # Given a friendship, a login, four match results and a purchase, committed but with deletes lost
    ids = [stack.post_event(e).json()["event_id"] for e in EVENTS]
    assert redeliver_after_commit(stack) == len(EVENTS)
    bodies = drain_capturing(stack)
    assert len(bodies) == len(EVENTS)

    first = reads(stack)
    assert [(e["rank"], e["player_id"], e["score"]) for e in first["board"]["entries"]] == [
        (1, "ana", 2200),
        (2, "cy", 2000),
        (3, "bo", 900),
    ]
    assert (first["rank"]["rank"], first["rank"]["exact"], first["rank"]["players"]) == (3, True, 3)
    assert (first["ana"]["matches"], first["ana"]["win_streak"], first["ana"]["followers"]) == (2, 2, 1)
    assert [e["type"] for e in first["feed"]] == ["purchase", "match", "match"]
    before = tables.by_key(stack.scan("StateTable"))

    # When every message comes again as a duplicate and as a replay, the producer retries every POST,
    # and the game server re-sends one result under a new idempotency key
    for body in bodies:
        send_duplicate(stack, body)
        send_replay(stack, body)
    assert stack.drain() == 2 * len(EVENTS)
    assert {stack.post_event(e).status for e in EVENTS} == {200}
    resent = stack.post_event({**_match("a1", "ana", 1500, 2), "idempotency_key": "a1-resent"})
    assert resent.status == 202
    assert stack.drain() == 1

    # Then no score, rank, streak, follower count, spend or feed entry moved
    assert reads(stack) == first
    assert tables.by_key(stack.scan("StateTable")) == before
    for event_id in [*ids, resent.json()["event_id"]]:
        view = stack.get_event(event_id).json()
        assert (view["status"], view["attempts"]) == ("PROCESSED", 1)


def test_an_unknown_board_or_player_is_404(stack: Harness) -> None:
    assert stack.request("GET", "/api/v1/gaming/leaderboards/nope").status == 404
    response = stack.request("GET", "/api/v1/gaming/leaderboards/nope/players/ana/rank")
    assert response.status == 404 and response.json()["type"].endswith("/resource-not-found")
