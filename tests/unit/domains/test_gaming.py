"""Gaming pack: leaderboards and ranks, anti-cheat flags, the social feed, from event sequences."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from plutus.core.errors import EffectRejectedError
from plutus.core.registry import EventContext
from plutus.domains import gaming
from plutus.domains.gaming.api import estimate_rank, wall_clock
from plutus.domains.gaming.handlers import BUCKET_PREFIX, handle_record_match, histogram_pk, player_pk
from plutus.domains.gaming.models import MatchCompletedV1
from tests.fakes import DomainRunner, packs
from tests.unit.domains.readclient import read_client

T0 = datetime(2026, 11, 26, 19, 0, tzinfo=UTC)


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def runner(**overrides: Any) -> DomainRunner:
    return DomainRunner(routers=[gaming.router], packs=packs(**overrides))


def client_for(r: DomainRunner, now: datetime = T0) -> TestClient:
    client = read_client(gaming.api_router(), r.state)
    client.app.dependency_overrides[wall_clock] = lambda: now.timestamp()  # type: ignore[attr-defined]
    return client


_match_ids = iter(range(1_000_000))


def match(
    r: DomainRunner,
    player: str,
    score: int,
    *,
    result: str = "loss",
    board: str = "ranked-s7",
    match_id: str | None = None,
    duration: int = 1200,
    minute: float = 0,
) -> str:
    return r.send(
        "match_completed",
        {
            "match_id": match_id or f"m{next(_match_ids)}",
            "player_id": player,
            "board": board,
            "score": score,
            "result": result,
            "duration_seconds": duration,
            "occurred_at": at(minute),
        },
    )


def board(client: TestClient, name: str = "ranked-s7", limit: int = 10) -> list[tuple[int, str, int]]:
    body = client.get(f"/api/v1/gaming/leaderboards/{name}", params={"limit": limit}).json()
    return [(e["rank"], e["player_id"], e["score"]) for e in body["entries"]]


def rank(client: TestClient, player: str, name: str = "ranked-s7") -> dict[str, Any]:
    response = client.get(f"/api/v1/gaming/leaderboards/{name}/players/{player}/rank")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_the_leaderboard_sums_match_scores_and_keeps_the_top_n() -> None:
    r = runner(gaming_leaderboard_size=3)
    for player, score in [
        ("ana", 900),
        ("ben", 1200),
        ("cy", 400),
        ("dee", 700),
        ("ana", 500),
        ("eve", 1400),
    ]:
        match(r, player, score)
    client = client_for(r)
    assert board(client) == [(1, "ana", 1400), (1, "eve", 1400), (3, "ben", 1200)]
    assert board(client, limit=1) == [(1, "ana", 1400)]
    assert rank(client, "ben") | {"players": 0} == {
        "board": "ranked-s7",
        "player_id": "ben",
        "score": 1200,
        "rank": 3,
        "exact": True,
        "rank_range": [3, 3],
        "players": 0,
        "top_percent": 60.0,
    }
    assert rank(client, "ben")["players"] == 5
    # a climber displaces the last entry with its full total
    match(r, "dee", 600)
    assert board(client) == [(1, "ana", 1400), (1, "eve", 1400), (3, "dee", 1300)]
    assert client.get("/api/v1/gaming/leaderboards/other").status_code == 404


def test_the_same_match_result_under_another_event_never_scores_twice() -> None:
    r = runner()
    first = match(r, "ana", 900, match_id="m-final", result="win")
    before = {k: dict(v) for k, v in r.state.items.items()}
    second = match(r, "ana", 900, match_id="m-final", result="win")
    assert first != second
    assert r.state.items == before
    client = client_for(r)
    assert board(client) == [(1, "ana", 900)]
    assert client.get("/api/v1/gaming/players/ana").json()["matches"] == 1


def histogram(r: DomainRunner, name: str = "ranked-s7") -> dict[str, int]:
    items = r.state.query(histogram_pk(name), BUCKET_PREFIX)
    return {i["sk"]: int(i["players"]) for i in items if int(i["players"])}


def test_ranks_beyond_the_top_n_are_estimated_within_a_histogram_range() -> None:
    r = runner(gaming_leaderboard_size=2, gaming_rank_bucket_width=100, gaming_rank_buckets=10)
    for player, score in [
        ("p50", 50),
        ("p120", 120),
        ("p150", 150),
        ("p180", 180),
        ("p250", 250),
        ("p900", 900),
    ]:
        match(r, player, score)
    assert histogram(r) == {"B#000000": 1, "B#000001": 3, "B#000002": 1, "B#000009": 1}
    client = client_for(r)
    # true ranks: p900 1, p250 2, p180 3, p150 4, p120 5, p50 6
    p150, p120, p50 = rank(client, "p150"), rank(client, "p120"), rank(client, "p50")
    assert (p150["rank"], p150["exact"], p150["rank_range"]) == (4, False, [3, 5])
    assert (p120["rank"], p120["rank_range"]) == (5, [3, 5])
    assert (p50["rank"], p50["rank_range"], p50["players"], p50["top_percent"]) == (6, [6, 6], 6, 100.0)
    assert rank(client, "p900")["exact"] is True

    # When p150 scores 80 more, it moves from bucket 1 to bucket 2 and every count stays right
    match(r, "p150", 80)
    assert histogram(r) == {"B#000000": 1, "B#000001": 2, "B#000002": 2, "B#000009": 1}
    # 230 shares bucket 2 with 250, but the top-2 list (900, 250) pins it to exactly 3rd
    assert (rank(client, "p150")["rank"], rank(client, "p150")["rank_range"]) == (3, [3, 3])
    # scores past the last bucket share it
    match(r, "whale", 50_000)
    assert histogram(r)["B#000009"] == 2
    assert rank(client, "whale")["rank"] == 1 and rank(client, "whale")["exact"] is True


def test_estimate_rank_bounds() -> None:
    buckets = [{"lo": 0, "hi": 100, "players": 10}, {"lo": 100, "hi": None, "players": 2}]
    assert estimate_rank(99, buckets, floor=1) == (3, 3, 12, 12)
    assert estimate_rank(0, buckets, floor=1) == (12, 3, 12, 12)
    assert estimate_rank(5000, buckets, floor=1) == (2, 1, 2, 12)
    assert estimate_rank(50, buckets, floor=8) == (10, 8, 12, 12)


def test_an_impossible_score_rate_is_flagged_and_withheld_from_the_board() -> None:
    r = runner(gaming_max_score_per_second=50.0)
    match(r, "legit", 3000, duration=1200)
    match(r, "hax", 250_000, duration=60, minute=5)
    client = client_for(r)
    assert board(client) == [(1, "legit", 3000)]
    assert client.get("/api/v1/gaming/leaderboards/ranked-s7/players/hax/rank").status_code == 404
    flags = client.get("/api/v1/gaming/players/hax/flags").json()
    assert [(f["kind"], f["details"]["score"], f["details"]["duration_seconds"]) for f in flags] == [
        ("impossible_score_rate", 250_000, 60)
    ]
    assert client.get("/api/v1/gaming/players/hax").json()["matches"] == 1

    # With withholding off, the score counts but is still flagged
    r2 = runner(gaming_max_score_per_second=50.0, gaming_withhold_flagged_scores=False)
    match(r2, "hax", 250_000, duration=60)
    assert board(client_for(r2)) == [(1, "hax", 250_000)]
    assert len(client_for(r2).get("/api/v1/gaming/players/hax/flags").json()) == 1


def test_a_win_streak_at_the_limit_is_flagged_once_per_streak() -> None:
    r = runner(gaming_max_win_streak=3)
    results = ["win", "win", "win", "win", "loss", "win", "win", "win"]
    for i, result in enumerate(results):
        match(r, "ace", 100, result=result, minute=i)
    client = client_for(r)
    flags = client.get("/api/v1/gaming/players/ace/flags").json()
    assert [(f["kind"], f["details"]["streak"]) for f in flags] == [("win_streak", 3), ("win_streak", 3)]
    player = client.get("/api/v1/gaming/players/ace").json()
    assert (player["wins"], player["win_streak"], player["best_win_streak"]) == (7, 3, 4)
    assert player["scores"] == {"ranked-s7": 800}


def friend(r: DomainRunner, sender: str, recipient: str, minute: float) -> None:
    r.send(
        "friend_request_sent",
        {"from_player_id": sender, "to_player_id": recipient, "occurred_at": at(minute)},
    )


def feed(client: TestClient, player: str) -> list[tuple[str, str, dict[str, Any]]]:
    body = client.get(f"/api/v1/gaming/players/{player}/feed").json()
    return [(e["actor"], e["type"], e["details"]) for e in body]


def test_activities_fan_out_to_followers_feeds_newest_first() -> None:
    r = runner()
    # Given bo and cy follow ana (friend requests), and ana then befriends bo back
    friend(r, "bo", "ana", 0)
    friend(r, "cy", "ana", 1)
    friend(r, "bo", "ana", 2)  # a repeated request changes nothing
    friend(r, "ana", "bo", 3)
    # When ana plays and buys, and dee (followed by nobody) plays
    match(r, "ana", 1500, result="win", minute=10)
    r.send(
        "in_game_purchase",
        {
            "purchase_id": "pur_1",
            "player_id": "ana",
            "item_id": "skin_1",
            "item_name": "Dragon Skin",
            "price": 9.99,
            "currency": "USD",
            "occurred_at": at(11),
        },
    )
    match(r, "dee", 900, minute=12)

    client = client_for(r)
    assert feed(client, "bo") == [
        ("ana", "purchase", {"item_id": "skin_1", "item_name": "Dragon Skin"}),
        ("ana", "match", {"board": "ranked-s7", "score": 1500, "result": "win"}),
        ("ana", "friend_request", {"mutual": True}),
    ]
    assert [t for _, t, _ in feed(client, "cy")] == ["purchase", "match"]
    assert feed(client, "ana") == [
        ("cy", "friend_request", {"mutual": False}),
        ("bo", "friend_request", {"mutual": False}),
    ]
    ana = client.get("/api/v1/gaming/players/ana").json()
    assert (ana["followers"], ana["following"]) == (2, 1)
    assert {k: Decimal(v) for k, v in ana["spend"].items()} == {"USD": Decimal("9.99")}
    # entries past their TTL are not served
    assert feed(client_for(r, now=T0 + timedelta(days=8)), "bo") == []


def test_fan_out_is_capped_per_event_and_purchases_can_stay_private() -> None:
    r = runner(gaming_feed_fanout_cap=2, gaming_feed_share_purchases=False)
    for i, follower in enumerate(["f1", "f2", "f3"]):
        friend(r, follower, "star", i)
    match(r, "star", 100, minute=10)
    r.send(
        "in_game_purchase",
        {
            "purchase_id": "pur_9",
            "player_id": "star",
            "item_id": "gem_pack",
            "item_name": "500 Gems",
            "price": 4.99,
            "currency": "USD",
        },
    )
    client = client_for(r, now=datetime.now(UTC))
    reached = [f for f in ["f1", "f2", "f3"] if any(t == "match" for _, t, _ in feed(client, f))]
    assert len(reached) == 2
    assert all(t != "purchase" for f in ["f1", "f2", "f3"] for _, t, _ in feed(client, f))


def test_a_purchase_counts_once_per_purchase_id() -> None:
    r = runner()
    for _ in range(2):
        r.send(
            "in_game_purchase",
            {
                "purchase_id": "pur_1",
                "player_id": "ana",
                "item_id": "gems",
                "item_name": "Gems",
                "price": 4.99,
                "currency": "GEMS",
            },
        )
    spend = r.state.get(player_pk("ana"), "SPEND#GEMS")
    assert spend is not None and (spend["total"], spend["purchases"]) == (Decimal("4.99"), 1)


def test_logins_count_and_build_a_daily_streak() -> None:
    r = runner()
    for day, hour in [(0, 9), (1, 20), (1, 22), (0, 12), (3, 8), (4, 8)]:
        r.send(
            "player_login",
            {
                "player_id": "ana",
                "platform": "pc",
                "region": "eu-west",
                "occurred_at": at(day * 1440 + hour * 60),
            },
        )
    player = client_for(r).get("/api/v1/gaming/players/ana").json()
    assert (player["logins"], player["login_streak_days"]) == (6, 2)


def test_unknown_players_are_404_and_self_friendship_is_refused() -> None:
    client = client_for(runner())
    assert client.get("/api/v1/gaming/players/nobody").status_code == 404
    assert client.get("/api/v1/gaming/players/nobody/feed").json() == []
    with pytest.raises(ValueError, match="themselves"):
        friend(runner(), "ana", "ana", 0)


def test_two_results_computed_on_one_snapshot_cannot_both_rewrite_the_top_list() -> None:
    # Given two consumers computing results for different players against the same board state
    r = runner(gaming_leaderboard_size=2)
    match(r, "ana", 1000)
    match(r, "bo", 800)

    def effects_of(player: str, score: int, match_id: str) -> list[Any]:
        event = MatchCompletedV1.model_validate(
            {
                "match_id": match_id,
                "player_id": player,
                "board": "ranked-s7",
                "score": score,
                "result": "win",
                "duration_seconds": 600,
            }
        )
        received = "2026-11-26T19:05:00.000000Z"
        ctx = EventContext(
            f"evt-{match_id}", "game", "match_completed", "1.0", received, r.state, r.settings, r.packs
        )
        return list(handle_record_match(event, ctx))

    cy, dee = effects_of("cy", 900, "x1"), effects_of("dee", 950, "x2")
    r.state.commit(cy)
    # Then the second commit is refused on the top list's version (the consumer re-runs the handler)...
    with pytest.raises(EffectRejectedError, match="version conflict on GAME#BOARD#ranked-s7/TOP"):
        r.state.commit(dee)
    # ...and the re-run on fresh state produces the true top 2
    r.state.commit(effects_of("dee", 950, "x2"))
    assert board(client_for(r)) == [(1, "ana", 1000), (2, "dee", 950)]
