"""Gaming read endpoints under /api/v1/gaming."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel

from plutus.core.errors import ResourceNotFoundError
from plutus.domains.deps import State
from plutus.domains.gaming.handlers import (
    BUCKET_PREFIX,
    FLAG_PREFIX,
    PROFILE,
    SCORE_PREFIX,
    SOCIAL,
    SPEND_PREFIX,
    TOP,
    board_pk,
    feed_pk,
    histogram_pk,
    player_pk,
)
from plutus.domains.kit import PATH_ID, as_int, plain

api = APIRouter(prefix="/api/v1/gaming", tags=["gaming"])

Id = Annotated[str, Path(pattern=PATH_ID)]
Limit = Annotated[int, Query(ge=1, le=100)]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No state for this id"}}
MAX_BUCKETS = 1_000


class LeaderboardEntry(BaseModel):
    """One line of a leaderboard."""

    rank: int
    player_id: str
    score: int


class Leaderboard(BaseModel):
    """The top of one board."""

    board: str
    entries: list[LeaderboardEntry]


class Rank(BaseModel):
    """A player's rank on a board: exact on the top-N list, else estimated within a range."""

    board: str
    player_id: str
    score: int
    rank: int
    exact: bool
    rank_range: tuple[int, int]
    players: int
    top_percent: float


class PlayerView(BaseModel):
    """A player's record, social counts, spend and scores per board."""

    player_id: str
    matches: int
    wins: int
    win_streak: int
    best_win_streak: int
    logins: int
    login_streak_days: int
    followers: int
    following: int
    spend: dict[str, Decimal]
    scores: dict[str, int]


class FeedEntry(BaseModel):
    """One activity of someone the player follows (or a friend request to the player)."""

    actor: str
    type: str
    at: str
    details: dict[str, Any]


class Flag(BaseModel):
    """An anti-cheat flag."""

    kind: str
    player_id: str
    at: str
    details: dict[str, Any]


def competition_rank(score: int, scores: list[int]) -> int:
    """1 + the number of strictly higher scores (ties share a rank)."""
    return 1 + sum(1 for s in scores if s > score)


def estimate_rank(score: int, buckets: list[dict[str, Any]], floor: int) -> tuple[int, int, int, int]:
    """(estimate, lowest, highest, players) from the score histogram.

    Everyone in a higher bucket ranks above; the player's own bucket spans the range, and the estimate
    assumes its scores are spread evenly. ``floor`` is a lower bound on the rank known from the top-N list.
    """
    above = own = players = 0
    own_bounds: tuple[int, int | None] = (0, None)
    for bucket in buckets:
        count = max(as_int(bucket.get("players")), 0)
        players += count
        lo, hi = as_int(bucket.get("lo")), bucket.get("hi")
        if lo > score:
            above += count
        elif hi is None or score < as_int(hi):
            own, own_bounds = count, (lo, None if hi is None else as_int(hi))
    lowest = max(above + 1, floor)
    highest = max(above + max(own, 1), lowest)
    lo, hi = own_bounds
    share = 0.5 if hi is None else (hi - 1 - score) / max(hi - 1 - lo, 1)
    estimate = min(max(round(lowest + share * (highest - lowest)), lowest), highest)
    return estimate, lowest, highest, max(players, highest)


@api.get("/leaderboards/{board}", response_model=Leaderboard, responses=_NOT_FOUND)
def get_leaderboard(board: Id, state: State, limit: Limit = 10) -> Leaderboard:
    """The top ``limit`` players of a board, highest score first (one item read)."""
    top = state.get(board_pk(board), TOP)
    if top is None:
        raise ResourceNotFoundError("no such leaderboard")
    entries = [(str(e["player_id"]), as_int(e["score"])) for e in top.get("entries", [])][:limit]
    scores = [s for _, s in entries]
    return Leaderboard(
        board=board,
        entries=[
            LeaderboardEntry(rank=competition_rank(s, scores), player_id=p, score=s) for p, s in entries
        ],
    )


@api.get("/leaderboards/{board}/players/{player_id}/rank", response_model=Rank, responses=_NOT_FOUND)
def get_rank(board: Id, player_id: Id, state: State) -> Rank:
    """A player's rank: exact when on the top-N list, else an estimate and range from the histogram."""
    item = state.get(player_pk(player_id), SCORE_PREFIX + board)
    if item is None:
        raise ResourceNotFoundError("this player has no score on this board")
    score = as_int(item["score"])
    top = [
        (str(e["player_id"]), as_int(e["score"]))
        for e in (state.get(board_pk(board), TOP) or {}).get("entries", [])
    ]
    buckets = state.query(histogram_pk(board), BUCKET_PREFIX, limit=MAX_BUCKETS)
    top_scores = [s for _, s in top]
    if player_id in {p for p, _ in top}:
        rank = competition_rank(score, top_scores)
        players = max(sum(max(as_int(b.get("players")), 0) for b in buckets), len(top))
        low = high = rank
        exact = True
    else:
        rank, low, high, players = estimate_rank(score, buckets, competition_rank(score, top_scores))
        exact = False
    return Rank(
        board=board,
        player_id=player_id,
        score=score,
        rank=rank,
        exact=exact,
        rank_range=(low, high),
        players=players,
        top_percent=round(100 * rank / players, 2),
    )


@api.get("/players/{player_id}", response_model=PlayerView, responses=_NOT_FOUND)
def get_player(player_id: Id, state: State) -> PlayerView:
    """Record, streaks, followers, spend per currency and score per board."""
    pk = player_pk(player_id)
    profile = state.get(pk, PROFILE)
    social = state.get(pk, SOCIAL) or {}
    scores = state.query(pk, SCORE_PREFIX, limit=50)
    spend = state.query(pk, SPEND_PREFIX, limit=20)
    if profile is None and not social and not spend:
        raise ResourceNotFoundError("no state for this player")
    profile = profile or {}
    return PlayerView(
        player_id=player_id,
        matches=as_int(profile.get("matches")),
        wins=as_int(profile.get("wins")),
        win_streak=as_int(profile.get("win_streak")),
        best_win_streak=as_int(profile.get("best_win_streak")),
        logins=as_int(profile.get("logins")),
        login_streak_days=as_int(profile.get("login_streak_days")),
        followers=as_int(social.get("followers")),
        following=as_int(social.get("following")),
        spend={s["currency"]: s["total"] for s in spend},
        scores={s["board"]: as_int(s["score"]) for s in scores},
    )


_FEED_FIELDS = {"actor", "type", "at", "event_id", "expires_at", "pk", "sk"}


def wall_clock() -> float:
    """FastAPI dependency: seconds since the epoch (tests override it)."""
    return time.time()


@api.get("/players/{player_id}/feed", response_model=list[FeedEntry])
def get_feed(
    player_id: Id, state: State, now: Annotated[float, Depends(wall_clock)], limit: Limit = 20
) -> list[FeedEntry]:
    """Newest first, at most ``limit`` (100) entries; expired entries are hidden before DynamoDB's TTL
    deletes them."""
    entries = state.query(feed_pk(player_id), limit=limit, newest_first=True)
    return [
        FeedEntry(
            actor=e["actor"],
            type=e["type"],
            at=e["at"],
            details=plain({k: v for k, v in e.items() if k not in _FEED_FIELDS}),
        )
        for e in entries
        if as_int(e.get("expires_at")) > now
    ]


@api.get("/players/{player_id}/flags", response_model=list[Flag])
def get_flags(player_id: Id, state: State, limit: Limit = 20) -> list[dict[str, Any]]:
    """Anti-cheat flags, newest first (empty when none)."""
    return plain(state.query(player_pk(player_id), FLAG_PREFIX, limit=limit, newest_first=True))  # type: ignore[no-any-return]
